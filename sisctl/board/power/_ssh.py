"""Run a switching tool on the lab host the board's USB hub or relay hangs off."""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from sisctl.board.ssh import SshRunner, SshSpec


@dataclass(kw_only=True)
class LabHostTool:
    """A switching tool run over SSH on the lab host (uhubctl, gpio)."""
    ssh: SshSpec                        # the lab host
    tool: str = ""                      # the tool's path there; '': the model's tool on PATH


def run(spec, *argv: str) -> str:
    from sisctl.board.power import PowerSwitchError
    with SshRunner(spec.ssh, f"power:{spec.ssh.host}") as ssh:
        result = ssh.run(shlex.join(argv), timeout_s=spec.timeout_s + 10)
    if result.code != 0:
        raise PowerSwitchError(f"{shlex.join(argv)} on {spec.ssh.host} failed ({result.code}): "
                               f"{result.stderr.strip()[:200]}")
    return result.stdout
