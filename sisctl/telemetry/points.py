"""Telemetry points for campaign results; measurement, tag and field names live here only."""
from __future__ import annotations

from influxdb_client import Point

CRASH_STATE = "crash_state"
CRASH_STATE_TAGS = ("board", "build_id", "campaign", "scenario", "mode", "outcome")


def crash_state_point(record: dict, campaign: str, time_ns: int) -> Point:
    point = Point(CRASH_STATE)
    values = {**record, "campaign": campaign, "build_id": record.get("build_id") or "none"}
    for tag in CRASH_STATE_TAGS:
        point.tag(tag, str(values[tag]))
    point.field("ok", int(record["outcome"] == "ok"))
    point.field("violations", len(record["violations"]))
    point.field("e2fsck_code", record["e2fsck"]["code"])
    point.field("persistence_calls_completed", record["crash_point"]["persistence_calls_completed"])
    if record["recovery_ms"] is not None:
        point.field("recovery_ms", float(record["recovery_ms"]))
    return point.time(time_ns)
