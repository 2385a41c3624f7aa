"""Interactive console: the user's terminal joined to a board's console."""
from __future__ import annotations

import os
import select
import sys
import termios
import tty

DETACH = b"\x1d"   # Ctrl-]


def attach(session) -> None:
    """Start a guest shell through the agent and pass bytes both ways until Ctrl-]."""
    console = session.console
    console.tap = lambda data: (sys.stdout.buffer.write(data), sys.stdout.buffer.flush())
    print(f"[{session.name}: attached ({session.boot_mode} boot); Ctrl-] detaches and stops the board]\r")
    session.agent.shell()
    stdin = sys.stdin.fileno()
    saved = termios.tcgetattr(stdin) if os.isatty(stdin) else None
    try:
        if saved:
            tty.setraw(stdin)
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
        if saved:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        print(f"\n[{session.name}: detached]")
