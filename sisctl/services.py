"""Local services this tool starts (the embedded database, the embedded coordinator): finding
and stopping them by their pid file."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def stop_service(pid_file: Path, program: str, timeout_s: float = 10.0) -> None:
    """Stop the `program` named by `pid_file`, if it runs: SIGTERM, reap while waiting up to
    `timeout_s` for it to end, then SIGKILL. The pid file goes either way."""
    pid = running_pid(pid_file, program)
    try:
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and running_pid(pid_file, program) is not None:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
                time.sleep(0.05)
            if running_pid(pid_file, program) is not None:
                os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:   # it ended by itself meanwhile
        pass
    pid_file.unlink(missing_ok=True)


def running_pid(pid_file: Path, program: str) -> int | None:
    """The pid in `pid_file`, if that process is alive and is `program` (a reused pid is not ours)."""
    try:
        pid = int(pid_file.read_text())
        if program.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    except (OSError, ValueError):
        pass
    return None
