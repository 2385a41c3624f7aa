"""Power switches for real boards: one module per `model:`, which is the whole model.

A model's module holds the dataclass of its settings (derived from SwitchSettings, the fields every
switch has), a docstring showing its YAML, and power_set(settings, on) / power_get(settings).
MODELS below is the only list of models: config's ChosenBy reads a board's `power:` section with the
dataclass its `model:` names, so a missing, unknown or mistyped key is named at load time.

QEMU boards are powered by their QEMU process (model qmp, the default) and do not come here.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, is_dataclass
from importlib import import_module
from typing import Annotated

from sisctl.config import ChosenBy, Seconds, SecondsOrZero
from sisctl.errors import InfrastructureError

MODELS: dict[str, str | None] = {   # model: -> its module in this folder (None: no switch driver)
    "qmp": None,
    "tasmota": "tasmota",
    "http": "http",
    "shelly_gen2": "shelly_gen2",
    "uhubctl": "uhubctl",
    "gpio": "gpio",
    "manual": "manual",
}


@dataclass(kw_only=True)
class PowerSettings:
    """How the board is switched: `model` is qmp (QEMU) or a switch driver in sisctl/board/power/, whose
    settings follow."""

    @property
    def model(self) -> str:
        return CHOICE.name_of(type(self))


@dataclass(kw_only=True)
class QmpPower(PowerSettings):
    """model qmp: a QEMU board, switched through its QEMU process (QMP); no settings."""


@dataclass(kw_only=True)
class SwitchSettings(PowerSettings):
    """What every power switch has."""
    off_time_s: SecondsOrZero = 3.0     # how long a power cycle keeps the board off
    timeout_s: Seconds = 5.0            # for one request to the switch


@functools.cache
def _choices() -> dict[str, type]:
    return {model: QmpPower if module is None else _settings_of(_module(model)) for model, module in MODELS.items()}


def _module(model: str):
    return import_module(f"{__name__}.{MODELS[model]}")


def _settings_of(module) -> type:
    """The one settings dataclass a model's module defines."""
    found = [v for v in vars(module).values() if isinstance(v, type) and is_dataclass(v)
             and issubclass(v, SwitchSettings) and v.__module__ == module.__name__]
    if len(found) != 1:
        raise TypeError(f"{module.__name__} must define one dataclass derived from SwitchSettings, "
                        f"not {len(found)}")
    return found[0]


CHOICE = ChosenBy("model", _choices, default="qmp")
PowerSpec = Annotated[PowerSettings, CHOICE]


class PowerSwitchError(InfrastructureError):
    pass


def _driver(spec: PowerSettings):
    if MODELS.get(spec.model) is None:
        known = ", ".join(model for model, module in MODELS.items() if module)
        raise PowerSwitchError(f"power model {spec.model!r} has no switch driver; known: {known}")
    return _module(spec.model)


def power_set(spec: PowerSettings, on: bool) -> None:
    _driver(spec).power_set(spec, on)


def power_get(spec: PowerSettings) -> bool | None:
    """True on, False off, None when the switch cannot tell (manual, http without status_url)."""
    return _driver(spec).power_get(spec)


def power_cycle(spec: PowerSettings) -> None:
    power_set(spec, False)
    time.sleep(spec.off_time_s)
    power_set(spec, True)
