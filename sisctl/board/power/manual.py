"""An operator switches the board (one-off boards on a desk).

    power:
      model: manual
"""
from __future__ import annotations

import sys

from sisctl.board.spec import PowerSpec


def power_set(spec: PowerSpec, on: bool) -> None:
    from sisctl.board.power import PowerSwitchError
    if not sys.stdin.isatty():
        raise PowerSwitchError("power model 'manual' needs an operator at a terminal")
    input(f"Switch the board {'ON' if on else 'OFF'}, then press Enter: ")


def power_get(spec: PowerSpec) -> None:
    return None
