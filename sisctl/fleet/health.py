"""Board health as LAVA keeps it, stored in the place's tags so every lab host sees the same.

Health is apart from state (idle, reserved, running): good and unknown boards take jobs (an
unknown one is checked first), bad, maintenance and retired ones get none. Reservations ask for
`eligible=yes`, which follows health, so labgrid's own scheduler never hands out a bad board.
"""
from __future__ import annotations

import time
from typing import Callable

from sisctl.telemetry.points import make_point

HEALTH_STATES = ("good", "unknown", "bad", "maintenance", "retired")
TAKES_JOBS = ("good", "unknown")
BOARD_FILE_TAG = "board_file"     # set by fleet.export for a board file outside boards/


def health_tags(health: str, reason: str = "", checked: float | None = None) -> dict[str, str]:
    """Tags that set a board's health; `checked` also restarts the count of jobs since the check."""
    if health not in HEALTH_STATES:
        raise ValueError(f"unknown health {health!r}")
    tags = {"health": health, "health_reason": reason or "-", "eligible": "yes" if health in TAKES_JOBS else "no"}
    if checked is not None:
        tags.update(health_checked=f"{checked:.0f}", jobs_since_check="0")
    return tags


def health_of(tags: dict[str, str]) -> str:
    return tags.get("health", "unknown")


def check_due(tags: dict[str, str], every_jobs: int, every_hours: float, now: float | None = None) -> bool:
    """A health check before the next job: health unknown, or enough jobs or hours since the last."""
    if health_of(tags) == "unknown":
        return True
    if health_of(tags) != "good":
        return False
    try:
        jobs = int(tags.get("jobs_since_check", "0"))
        checked = float(tags.get("health_checked", "0"))
    except ValueError:
        return True
    return jobs >= every_jobs or ((now or time.time()) - checked) >= every_hours * 3600


def checked(name: str, tags: dict[str, str], trigger: str,
            check: Callable[[str], tuple[bool, str]]) -> tuple[bool, str]:
    """Run `check` on the board (by its file's path if the place names one, else by name) and record
    it as a fleet_health point; `trigger` says why it ran (manual, unknown, due)."""
    started = time.monotonic()
    passed, why = check(tags.get(BOARD_FILE_TAG) or name)
    record_health(name, tags.get("host", ""), "good" if passed else "bad", trigger, time.monotonic() - started)
    return passed, why


def record_health(name: str, host: str, health: str, trigger: str, elapsed_s: float = 0.0) -> None:
    """One fleet_health point through the lab's telemetry sink (spooled if the database is away)."""
    from sisctl.telemetry.lab import send_points   # the database client, only when a check ran
    send_points([make_point("fleet_health", {"board": name, "host": host or "-", "health": health, "check": trigger},
                            {"good": int(health == "good"), "elapsed_s": round(float(elapsed_s), 3)}, time.time_ns())])
