"""Durations as people type them: '90', '90s', '30m', '2h', '1d', '1w'; one parser and one message
for every option, environment variable and file that takes one."""
from __future__ import annotations

import math
import re
from typing import Any

from sisctl.errors import UsageError

UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"\s*((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([smhdw]?)\s*")


def parse_duration(text: Any, option: str, *, at_least: float = 0.0, above: float | None = None) -> float:
    """Seconds in `text`, a number with an optional unit s, m, h, d or w; a UsageError naming
    `option` if it is not one, or is below `at_least` (or not above `above`)."""
    match = _DURATION.fullmatch(str(text)) if not isinstance(text, bool) else None
    seconds = float(match.group(1)) * UNITS[match.group(2)] if match else math.nan
    if not math.isfinite(seconds):
        raise UsageError(f"{option}: expected a duration such as 90s, 30m or 2h, got {text!r}")
    if seconds < at_least or (above is not None and seconds <= above):
        limit = f"more than {above:g} s" if above is not None else f"at least {at_least:g} s"
        raise UsageError(f"{option}: expected a duration of {limit}, got {text!r}")
    return seconds
