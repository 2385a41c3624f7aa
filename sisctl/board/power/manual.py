"""An operator switches the board (one-off boards on a desk).

    power:
      model: manual
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from sisctl.board.power import PowerSwitchError, SwitchSettings


@dataclass(kw_only=True)
class ManualPower(SwitchSettings):
    """model manual: sisctl asks the operator at the terminal to switch the board."""


def power_set(spec: ManualPower, on: bool) -> None:
    if not sys.stdin.isatty():
        raise PowerSwitchError("power model 'manual' needs an operator at a terminal")
    input(f"Switch the board {'ON' if on else 'OFF'}, then press Enter: ")


def power_get(spec: ManualPower) -> None:
    return None
