"""The embedded coordinator 'invoke lab.up' runs on loopback, and which coordinator a command uses.

A lab's own coordinator is named in lab/lab.yaml (`coordinator.address`); without one, the
embedded coordinator is used while it runs; with neither, boards are held by a local file lock.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sisctl import paths
from sisctl.labfile import CoordinatorSpec
from sisctl.fleet.session import CoordinatorLost, CoordinatorSession
from sisctl.portholder import port_holder
from sisctl.services import running_pid, stop_service

PROGRAM = "labgrid-coordinator"


def labgrid_tool(name: str) -> str:
    """labgrid's command next to this Python (the venv's bin), else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


class EmbeddedCoordinator:
    def __init__(self, listen: str, folder: Path | None = None):
        self.listen = listen
        self.folder = folder or paths.state_dir() / "coordinator"      # its places.yaml lives here
        self.pid_file = self.folder / "coordinator.pid"

    def pid(self) -> int | None:
        return running_pid(self.pid_file, PROGRAM)

    def start(self, timeout_s: float = 20.0) -> int:
        if (pid := self.pid()) is not None:
            return pid
        host, _, port = self.listen.rpartition(":")
        if holder := port_holder(host, int(port)):   # its answers would not be ours
            raise CoordinatorLost(f"{self.listen} is already in use by {holder}; stop it, or give the embedded "
                                  "coordinator another address (coordinator.listen in lab/lab.yaml)")
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "coordinator.log", "ab") as log:
            process = subprocess.Popen([labgrid_tool(PROGRAM), "--listen", self.listen],
                                       cwd=self.folder, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True)
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise CoordinatorLost(f"{PROGRAM} exited with {process.returncode}; "
                                      f"see {self.folder / 'coordinator.log'}")
            try:
                CoordinatorSession(self.listen, "sisctl/lab-up", connect_timeout_s=1).close()
                return process.pid
            except CoordinatorLost:
                time.sleep(0.1)
        self.stop()
        raise CoordinatorLost(f"{PROGRAM} did not answer on {self.listen} within {timeout_s:.0f} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        stop_service(self.pid_file, PROGRAM, timeout_s)


def coordinator_address(spec: CoordinatorSpec) -> str | None:
    """The coordinator this command holds boards through, or None for local file locks only.
    SISCTL_COORDINATOR overrides lab/lab.yaml ('' : none)."""
    if "SISCTL_COORDINATOR" in os.environ:
        return os.environ["SISCTL_COORDINATOR"] or None
    if spec.address:
        return spec.address
    embedded = EmbeddedCoordinator(spec.listen)
    return spec.listen if embedded.pid() is not None else None
