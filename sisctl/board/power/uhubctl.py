"""A USB hub port switched with uhubctl on a lab host (boards powered from USB).

    power:
      model: uhubctl
      hub: 1-1                          # uhubctl -l
      port: 2                           # uhubctl -p
      tool: uhubctl                     # path of the tool on the lab host
      ssh: {host: labhost.lab, user: lab, key_file: ~/.ssh/lab_ed25519}
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from sisctl.board.power import SwitchSettings
from sisctl.board.power._ssh import LabHostTool, run
from sisctl.config import between


@dataclass(kw_only=True)
class UhubctlPower(SwitchSettings, LabHostTool):
    """model uhubctl: a port of a USB hub on the lab host, switched with uhubctl over SSH."""
    hub: str
    port: Annotated[int, between(1, 255)] = 1


def power_set(spec: UhubctlPower, on: bool) -> None:
    run(spec, spec.tool or "uhubctl", "-l", spec.hub, "-p", str(spec.port), "-a", "on" if on else "off")


def power_get(spec: UhubctlPower) -> bool:
    out = run(spec, spec.tool or "uhubctl", "-l", spec.hub, "-p", str(spec.port))
    line = next((l for l in out.splitlines() if re.match(rf"\s*Port {spec.port}:", l)), "")
    return " power" in line
