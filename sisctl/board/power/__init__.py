"""Power switches for real boards: one small module per `model:`, each with set and get.

QEMU boards are powered by their QEMU process (model qmp) and do not come here.
"""
from __future__ import annotations

import time
from importlib import import_module

from sisctl.board.spec import PowerSpec
from sisctl.errors import InfrastructureError

MODELS = ("tasmota", "http", "uhubctl", "gpio", "manual")


class PowerSwitchError(InfrastructureError):
    pass


def _driver(spec: PowerSpec):
    if spec.model not in MODELS:
        raise PowerSwitchError(f"power model {spec.model!r} has no switch driver; known: {', '.join(MODELS)}")
    return import_module(f"sisctl.board.power.{spec.model}")


def power_set(spec: PowerSpec, on: bool) -> None:
    _driver(spec).power_set(spec, on)


def power_get(spec: PowerSpec) -> bool | None:
    """True on, False off, None when the switch cannot tell (manual)."""
    return _driver(spec).power_get(spec)


def power_cycle(spec: PowerSpec) -> None:
    power_set(spec, False)
    time.sleep(spec.off_time_s)
    power_set(spec, True)
