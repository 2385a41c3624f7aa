"""Interactive console: the user's terminal joined to a board's console."""
from __future__ import annotations

import os
import select
import sys

from sisctl.terminal import DETACH, raw_terminal


def attach(session) -> None:
    """Start a guest shell through the agent and pass bytes both ways until Ctrl-]."""
    console = session.console
    stdin = sys.stdin.fileno()
    try:
        with raw_terminal(stdin):
            console.tap = lambda data: (sys.stdout.buffer.write(data), sys.stdout.buffer.flush())
            print(f"[{session.name}: attached ({session.boot_mode} boot); Ctrl-] detaches and stops the board]\r",
                  flush=True)
            session.agent.shell()
            while True:
                console.check_crash()
                ready, _, _ = select.select([stdin], [], [], 0.2)
                if ready:
                    data = os.read(stdin, 1024)
                    if not data or DETACH in data:
                        break
                    console.write(data)
    finally:
        console.tap = None
        print(f"\n[{session.name}: detached]")
