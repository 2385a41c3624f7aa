"""The `coordinator:` section of lab/lab.yaml, and who this process is to the coordinator."""
from __future__ import annotations

import getpass
import math
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Annotated

from sisctl import paths
from sisctl.config import Seconds, between

CI_JOB_VARIABLES = ("CI_JOB_ID", "GITHUB_RUN_ID", "BUILD_TAG", "SISCTL_JOB_ID")


@dataclass
class CoordinatorSpec:
    address: str = ""                  # a lab's coordinator (host:port); '' : the embedded one while it runs
    listen: str = "127.0.0.1:20408"    # where 'invoke lab.up' runs the embedded coordinator
    lease_s: float = 60.0              # a holder silent this long loses its board to the reaper
    wait_s: float = 1800.0             # default wait for a busy board (--wait / SISCTL_WAIT)
    poll_s: float = 0.25               # how often a waiter polls its reservation
    health_every_jobs: int = 50        # a health check after this many jobs...
    health_every_hours: float = 24.0   # ...or this long since the last one
    connect_timeout_s: float = 5.0


@dataclass
class LabHostSpec:
    """A lab host of lab/lab.yaml `hosts:`: boards whose `lab.host` names it are driven by running
    sisctl there over SSH (sisctl/fleet/remote.py). No secrets here: the private key's path comes
    from the environment variable `key_env` or from `secret_file`, a password from `password_env`."""
    address: str                                  # host name or IP the controller reaches it at
    checkout: str                                 # absolute path of the sisctl checkout on that host
    user: str = "sisctl"
    port: Annotated[int, between(1, 65535)] = 22
    known_hosts: str = "~/.ssh/known_hosts"       # its host key must be there: unknown or changed keys are refused
    command: list[str] = field(default_factory=lambda: [".venv/bin/invoke"])   # sisctl, relative to checkout
    boards: str = ""                 # folder of board files on that host; '' : the checkout's boards/
    env: dict[str, str] = field(default_factory=dict)   # environment of sisctl there (SISCTL_STATE, ...)
    key_env: str = "SISCTL_LAB_SSH_KEY"           # variable holding the private key's path
    password_env: str = ""                        # variable holding a password or the key's passphrase
    secret_file: str | None = None                # YAML with key_file: and/or password:, outside the repo
    connect_timeout_s: Seconds = 10.0


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


def duration(text: str | float, option: str) -> float:
    """'90', '90s', '30m', '2h' -> seconds."""
    from sisctl.errors import UsageError
    value = str(text).strip()
    scale = {"s": 1, "m": 60, "h": 3600}.get(value[-1:], None)
    number = value[:-1] if scale else value
    try:
        seconds = float(number) * (scale or 1)
    except ValueError:
        raise UsageError(f"{option}: expected a duration like 90s, 30m or 2h, got {text!r}") from None
    if not math.isfinite(seconds):
        raise UsageError(f"{option}: expected a finite duration like 90s, 30m or 2h, got {text!r}")
    if seconds < 0:
        raise UsageError(f"{option}: a duration cannot be negative ({text!r})")
    return seconds


def priority_of(text: str | float, option: str) -> float:
    """A waiting job's priority: any finite number, higher served first."""
    from sisctl.errors import UsageError
    try:
        rank = float(text)
    except ValueError:
        rank = math.nan
    if not math.isfinite(rank):
        raise UsageError(f"{option}: expected a number, got {text!r}")
    return rank
