"""Append-only JSONL results: one record per line, flushed to disk before the next is measured.
Shards of one campaign append to the same log from their own threads; a lock keeps lines whole."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Iterator

from sisctl.errors import UsageError
from sisctl.jsonfile import check_regular


class RecordLog:
    def __init__(self, path: Path):
        self.path = path
        _drop_torn_tail(path)
        self._file = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def append(self, record: dict) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._lock:
            try:
                self._file.write(line)
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as err:   # a full or read-only disk: say which file
                raise OSError(err.errno, err.strerror, str(self.path)) from None

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "RecordLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class BoardRecords:
    """One board's view of a campaign's log: every record it appends says which board measured it."""

    def __init__(self, log: RecordLog, board: str):
        self.log, self.board, self.path = log, board, log.path

    def append(self, record: dict) -> None:
        record.setdefault("board", self.board)
        self.log.append(record)


def read_records(path: Path) -> Iterator[dict]:
    """Every complete record; a last line cut short by a killed writer is skipped. A whole line
    that is not a record (invalid UTF-8 or JSON, or JSON that is not an object) is refused,
    naming the file and line: the records before it are never dropped by a guess."""
    if not path.exists():
        return
    check_regular(path, max_bytes=None)     # a FIFO or /dev/zero there would be read for ever
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                break
            try:
                record = json.loads(raw.decode("utf-8"))
            except ValueError as err:
                raise UsageError(f"{path}: line {number}: not a record ({str(err)[:120]})") from None
            if not isinstance(record, dict):
                raise UsageError(f"{path}: line {number}: not a record (a JSON {type(record).__name__}, "
                                 "not an object)")
            yield record


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line a killed writer left without its newline, so appends stay line-aligned."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
