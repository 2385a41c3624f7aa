"""An on-disk spool of line-protocol points: appended first, sent in order, forgotten once durable.

Nothing is lost while the database is down or after it crashed: `spool.lp` holds the lines,
`spool.sent` the byte offset up to which the database surely has them (sisctl/telemetry/sink.py
says when that is).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from sisctl.errors import InfrastructureError


class SpoolError(InfrastructureError):
    """The spool could not take points (full or read-only disk)."""


class Spool:
    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.lines_path, self.sent_path = folder / "spool.lp", folder / "spool.sent"
        self._lock = threading.Lock()
        self._repair()

    def _repair(self) -> None:
        """A line cut short by a killed writer is dropped so appends stay line-aligned."""
        if self.lines_path.exists():
            data = self.lines_path.read_bytes()
            if data and not data.endswith(b"\n"):
                with open(self.lines_path, "r+b") as f:
                    f.truncate(data.rfind(b"\n") + 1)

    def append(self, lines: list[str]) -> None:
        """Add lines durably, all or none: on a full or read-only disk the spool is left as it was."""
        if not lines:
            return
        data = "".join(line.rstrip("\n") + "\n" for line in lines).encode()
        with self._lock:
            try:
                fd = os.open(self.lines_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                try:
                    size = os.fstat(fd).st_size
                    try:
                        view = memoryview(data)
                        while view:
                            view = view[os.write(fd, view):]
                        os.fsync(fd)
                    except OSError:
                        os.ftruncate(fd, size)   # no torn line for the sender to trip over
                        raise
                finally:
                    os.close(fd)
            except OSError as err:
                raise SpoolError(f"{self.lines_path}: cannot keep {len(lines)} telemetry points "
                                 f"({err.strerror or err}); the points before them are intact") from None

    def sent(self) -> int:
        try:
            return int(self.sent_path.read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def pending(self, max_lines: int, start: int | None = None, stop: int | None = None) -> tuple[list[str], int]:
        """Lines from offset `start` (default: what the database surely has) up to `stop`, at most
        max_lines, and the offset just after them."""
        with self._lock:
            if not self.lines_path.exists():
                return [], 0
            with open(self.lines_path, "rb") as f:
                f.seek(self.sent() if start is None else start)
                lines, end = [], f.tell()
                for raw in f:
                    if not raw.endswith(b"\n") or len(lines) == max_lines or (stop is not None and end >= stop):
                        break
                    lines.append(raw.decode().rstrip("\n"))
                    end += len(raw)
            return lines, end

    def mark_sent(self, offset: int) -> bool:
        """Record that the database surely has everything before `offset`; when that is all, empty
        the spool (offsets start again at 0) and return True."""
        with self._lock:
            size = self.lines_path.stat().st_size if self.lines_path.exists() else 0
            if offset >= size:
                self.lines_path.unlink(missing_ok=True)
                self.sent_path.unlink(missing_ok=True)
                return True
            tmp = self.sent_path.with_suffix(".tmp")
            tmp.write_text(str(offset))
            os.replace(tmp, self.sent_path)
            return False

    def depth(self) -> int:
        """Lines waiting to be sent."""
        lines, _ = self.pending(max_lines=-1)
        return len(lines)
