"""Run external tools with an explicit argument list, a timeout and a clear error."""
from __future__ import annotations

import ctypes
import signal
import subprocess
from pathlib import Path
from typing import Sequence

from sisctl.errors import InfrastructureError

PR_SET_PDEATHSIG = 1


class ToolError(InfrastructureError):
    """An external tool failed or is missing."""


def run(argv: Sequence[str | Path], *, timeout: float, cwd: Path | None = None,
        env: dict | None = None, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    argv = [str(a) for a in argv]
    try:
        done = subprocess.run(argv, cwd=cwd, env=env, timeout=timeout, input=input,
                              capture_output=True, text=True, errors="replace")
    except FileNotFoundError:
        raise ToolError(f"{argv[0]} not found: run 'invoke setup' to install the tool chain") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"{' '.join(argv)} did not finish within {timeout:.0f} s") from None
    if check and done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise ToolError(f"{' '.join(argv)} failed with exit code {done.returncode}:\n{tail}")
    return done


def die_with_parent() -> None:
    """A preexec_fn: the kernel kills the child if its parent dies, even by SIGKILL. "Parent" is
    the thread that started it: start children from a thread that lives as long as they should."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def interrupted(signum, frame):
    """A signal handler for SIGTERM (a cancelled CI job) or SIGHUP (a lost terminal): stop as Ctrl-C would."""
    raise KeyboardInterrupt
