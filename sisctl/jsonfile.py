"""Reading back the JSON files sisctl writes (campaign.json, summary.json, crash.json, ...), which a
user may hand over damaged or crafted: a regular file of bounded size holding JSON, or one error
naming it (exit 2), never a hang on a FIFO, a read of /dev/zero or a traceback."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from sisctl.errors import UsageError

MAX_BYTES = 256 << 20     # far above any file sisctl writes


class NotJson(UsageError, ValueError):
    """Exit 2 naming the file; a ValueError too, for readers that skip a damaged file."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.problem = problem


def check_regular(path: Path, max_bytes: int | None = MAX_BYTES) -> None:
    """A FIFO, a device or a folder where a file sisctl wrote should be is refused before it is opened."""
    info = os.stat(path)   # OSError (a missing file) is the caller's to judge
    if not stat.S_ISREG(info.st_mode):
        raise NotJson(path, "not a regular file")
    if max_bytes is not None and info.st_size > max_bytes:
        raise NotJson(path, f"{info.st_size} bytes, more than the {max_bytes >> 20} MiB such a file can be")


def read_json(path: Path) -> Any:
    check_regular(path)
    try:
        return json.loads(path.read_bytes())
    except (ValueError, RecursionError) as err:    # RecursionError: JSON nested thousands deep
        raise NotJson(path, f"not JSON ({str(err)[:120]})") from None
