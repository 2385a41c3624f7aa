"""Exclusive use of a board or a console across processes, with who holds it in the error."""
from __future__ import annotations

import fcntl
import os
import re
import sys
from pathlib import Path

from sisctl.board.errors import BoardBusy


class BoardLock:
    def __init__(self, path: Path, board: str, what: str = ""):
        """`what`: the thing locked, when not the board itself (a console, say)."""
        self.path, self.board, self.what = path, board, what
        self._fd: int | None = None
        self._depth = 0

    def __enter__(self) -> "BoardLock":
        if self._depth == 0:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise BoardBusy(self.board, f"{self.what + ' ' if self.what else ''}in use by {holder}") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} ({' '.join(sys.argv)[:200]})\n".encode(), 0)
            self._fd = fd
        self._depth += 1
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def console_lock(state_root: Path, url: str, board: str) -> BoardLock:
    """One user at a time per console URL (a tty, a ser2net port), whichever board names it."""
    folder = state_root / "consoles"
    folder.mkdir(parents=True, exist_ok=True)
    return BoardLock(folder / (re.sub(r"[^A-Za-z0-9_.-]+", "_", url) + ".lock"), board, f"console {url}")
