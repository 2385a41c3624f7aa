"""The user's terminal in raw mode, and the key that detaches from a console joined to it."""
from __future__ import annotations

import os
import termios
import tty
from contextlib import contextmanager

DETACH = b"\x1d"   # Ctrl-]


@contextmanager
def raw_terminal(fd: int):
    """The terminal on `fd` in raw mode (every key, Ctrl-C too, passed on as typed) until the block
    ends; nothing is changed if it is not a terminal. Keys typed before are kept, not flushed."""
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    try:
        if saved:
            tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        if saved:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
