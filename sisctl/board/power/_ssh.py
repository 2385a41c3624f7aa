"""Run a switching tool on the lab host the board's USB hub or relay hangs off."""
from __future__ import annotations

import shlex

from sisctl.board.spec import PowerSpec
from sisctl.board.ssh import SshRunner


def run(spec: PowerSpec, *argv: str) -> str:
    from sisctl.board.power import PowerSwitchError
    if spec.ssh is None:
        raise PowerSwitchError(f"power model {spec.model} needs an 'ssh' section naming the lab host")
    with SshRunner(spec.ssh, f"power:{spec.ssh.host}") as ssh:
        result = ssh.run(shlex.join(argv), timeout_s=spec.timeout_s + 10)
    if result.code != 0:
        raise PowerSwitchError(f"{shlex.join(argv)} on {spec.ssh.host} failed ({result.code}): "
                               f"{result.stderr.strip()[:200]}")
    return result.stdout
