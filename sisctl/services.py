"""Stopping a local service this tool started (the embedded database, the embedded coordinator)."""
from __future__ import annotations

import os
import signal
import time
from typing import Callable


def stop_service(pid: int, running: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """SIGTERM, reap while waiting up to `timeout_s` for `running()` to turn false, then SIGKILL."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and running():
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    if running():
        os.kill(pid, signal.SIGKILL)
