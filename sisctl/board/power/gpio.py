"""A relay on a lab host's GPIO line, switched with libgpiod's gpioset/gpioget.

    power:
      model: gpio
      chip: gpiochip0
      line: 17
      active_low: true                  # relay boards that switch on a low level
      tool: gpioset                     # gpioget is found beside it
      ssh: {host: labhost.lab, user: lab, key_file: ~/.ssh/lab_ed25519}
"""
from __future__ import annotations

from sisctl.board.power._ssh import run
from sisctl.board.spec import PowerSpec


def _tools(spec: PowerSpec) -> tuple[str, str]:
    setter = spec.tool or "gpioset"
    return setter, setter[: -len("gpioset")] + "gpioget" if setter.endswith("gpioset") else "gpioget"


def power_set(spec: PowerSpec, on: bool) -> None:
    level = int(on != spec.active_low)
    run(spec, _tools(spec)[0], spec.chip, f"{spec.line}={level}")


def power_get(spec: PowerSpec) -> bool:
    level = int(run(spec, _tools(spec)[1], spec.chip, str(spec.line)).strip())
    return bool(level) != spec.active_low
