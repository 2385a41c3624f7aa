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

from dataclasses import dataclass
from typing import Annotated

from sisctl.board.power import SwitchSettings
from sisctl.board.power._ssh import LabHostTool, run
from sisctl.config import between


@dataclass(kw_only=True)
class GpioPower(SwitchSettings, LabHostTool):
    """model gpio: a relay on a GPIO line of the lab host, switched with gpioset/gpioget over SSH."""
    chip: str = "gpiochip0"
    line: Annotated[int, between(0)] = 0
    active_low: bool = False


def _tools(spec: GpioPower) -> tuple[str, str]:
    setter = spec.tool or "gpioset"
    return setter, setter[: -len("gpioset")] + "gpioget" if setter.endswith("gpioset") else "gpioget"


def power_set(spec: GpioPower, on: bool) -> None:
    level = int(on != spec.active_low)
    run(spec, _tools(spec)[0], spec.chip, f"{spec.line}={level}")


def power_get(spec: GpioPower) -> bool:
    level = int(run(spec, _tools(spec)[1], spec.chip, str(spec.line)).strip())
    return bool(level) != spec.active_low
