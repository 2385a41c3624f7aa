"""Who this process is to the coordinator, and a waiting job's priority (the `coordinator:` section of
lab/lab.yaml is in sisctl/labfile.py)."""
from __future__ import annotations

import getpass
import math
import os
import socket
import time
from dataclasses import dataclass

from sisctl import paths
from sisctl.errors import UsageError

CI_JOB_VARIABLES = ("CI_JOB_ID", "GITHUB_RUN_ID", "BUILD_TAG", "SISCTL_JOB_ID")


@dataclass
class Holder:
    """Who holds (or waits for) a board: the CI job, the host and the process."""
    job: str
    host: str
    pid: int
    since: float

    @property
    def identity(self) -> str:
        """The 'host/user' name the coordinator records as the lock holder: unique per process."""
        return f"{self.host}/sisctl-{getpass.getuser()}-{self.pid}"


def this_process() -> Holder:
    job = next((os.environ[v] for v in CI_JOB_VARIABLES if os.environ.get(v)), "")
    return Holder(job, os.environ.get("SISCTL_HOST") or socket.gethostname(), os.getpid(), time.time())


def pid_of(identity: str) -> tuple[str, int] | None:
    """(host, pid) of a sisctl holder's identity; None for anyone else's (a person's labgrid-client)."""
    host, _, user = identity.partition("/")
    if not user.startswith("sisctl-"):
        return None
    try:
        return host, int(user.rsplit("-", 1)[1])
    except ValueError:
        return None


def embedded_address_file():
    return paths.state_dir() / "coordinator" / "address"


def priority_of(text: str | float, option: str) -> float:
    """A waiting job's priority: any finite number, higher served first."""
    try:
        rank = float(text)
    except ValueError:
        rank = math.nan
    if not math.isfinite(rank):
        raise UsageError(f"{option}: expected a number, got {text!r}")
    return rank
