"""Telemetry points; every measurement, tag and field name the code writes is defined here, and the
Grafana boards are generated from the same names (sisctl/telemetry/dashboards.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from influxdb_client import Point

PMU_EVENTS = ("cycles", "instructions", "cache-references", "cache-misses", "branch-misses",
              "context-switches", "page-faults", "task-clock")

# measurement -> (tags, fields)
SCHEMA: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "crash_state": (("board", "build_id", "campaign", "scenario", "mode", "outcome"),
                    ("ok", "violations", "e2fsck_code", "persistence_calls_completed", "recovery_ms")),
    "pmu": (("board", "build_id", "run"), tuple(e.replace("-", "_") for e in PMU_EVENTS)),
    "pmu_support": (("board", "build_id", "run"), tuple(e.replace("-", "_") for e in PMU_EVENTS)),
    "power": (("board", "source", "estimated"), ("watts",)),
    "campaign_run": (("board", "campaign", "scenario", "mode"), ("finished", "kept")),
    "fuzz_batch": (("board", "campaign", "target"), ("execs", "execs_per_s", "mounted", "findings", "unique_crashes",
                                                   "coverage", "corpus")),
    "fuzz_crash": (("board", "campaign", "title_id", "kind"), ("count", "new")),
    "bench_sample": (("board", "campaign", "family", "workload", "metric", "side", "variant", "build_id"),
                     ("value",)),
    "nightly_job": (("plan", "job", "board", "kind", "kernel", "status"), ("ok", "elapsed_s")),
    "bench_verdict": (("board", "campaign", "family", "metric", "verdict", "baseline", "candidate"),
                      ("ratio", "ci_low", "ci_high", "p_adjusted", "regressed")),
    # one point per metric, board and kernel at each change point Otava finds in the nightly history
    "bench_change": (("board", "family", "workload", "metric", "variant"), ("before", "after", "change_pct")),
    # one point per function of a profile's top list: a benchmark verdict's differential profile
    # (workload, side) or a campaign's profiled phase (phase)
    "profile_top": (("board", "campaign", "workload", "side", "phase", "function"),
                    ("self_share", "total_share", "samples")),
    # one point per health check: health is good, bad, unknown, maintenance or retired
    "fleet_health": (("board", "host", "health", "check"), ("good", "elapsed_s")),
}


def make_point(measurement: str, tags: dict[str, str], fields: dict[str, float | int], time_ns: int) -> Point:
    """A point whose names are checked against SCHEMA, so a typo cannot reach a dashboard."""
    known_tags, known_fields = SCHEMA[measurement]
    unknown = (set(tags) - set(known_tags)) | (set(fields) - set(known_fields))
    if unknown:
        raise ValueError(f"{measurement}: names not in the telemetry schema: {sorted(unknown)}")
    from influxdb_client import Point   # the client, only when a point is made
    point = Point(measurement)
    for key, value in tags.items():
        point.tag(key, str(value))
    for key, value in fields.items():
        point.field(key, value)
    return point.time(time_ns)


def crash_state_point(record: dict, campaign: str, time_ns: int) -> Point:
    fields = {"ok": int(record["outcome"] == "ok"), "violations": len(record["violations"]),
              "e2fsck_code": record["e2fsck"]["code"],
              "persistence_calls_completed": record["crash_point"]["persistence_calls_completed"]}
    if record["recovery_ms"] is not None:
        fields["recovery_ms"] = float(record["recovery_ms"])
    tags = {"board": record["board"], "build_id": record.get("build_id") or "none", "campaign": campaign,
            "scenario": record["scenario"], "mode": record["mode"], "outcome": record["outcome"]}
    return make_point("crash_state", tags, fields, time_ns)


def campaign_point(record: dict, board: str, campaign: str, mode: str, time_ns: int) -> Point:
    """A campaign record as a point: a crash-state result, or a run that finished."""
    if record.get("type") == "run":
        scenario = record["run_key"].rsplit("/", 1)[0]
        return make_point("campaign_run", {"board": board, "campaign": campaign, "scenario": scenario,
                                           "mode": mode}, {"finished": 1, "kept": int(record["kept"])}, time_ns)
    return crash_state_point(record, campaign, time_ns)


def bench_sample_points(record: dict, campaign: str, time_ns: int) -> list[Point]:
    """One point per metric of a measured benchmark run."""
    tags = {"board": record["board"], "campaign": campaign, "family": record["family"],
            "workload": record["workload"], "side": record["side"], "variant": record["variant"],
            "build_id": record.get("build_id") or "none"}
    return [make_point("bench_sample", {**tags, "metric": name}, {"value": float(m["value"])}, time_ns)
            for name, m in record["metrics"].items()]


def bench_verdict_point(comparison: dict, board: str, campaign: str, baseline: str, candidate: str,
                        time_ns: int) -> Point:
    """A metric's verdict at the end of a benchmark campaign."""
    tags = {"board": board, "campaign": campaign, "family": comparison["family"], "metric": comparison["key"],
            "verdict": comparison["verdict"], "baseline": baseline, "candidate": candidate}
    fields = {"regressed": int(comparison["verdict"] == "regressed")}
    if comparison["ratio"] is not None:
        fields.update(ratio=comparison["ratio"], ci_low=comparison["ci"][0], ci_high=comparison["ci"][1],
                      p_adjusted=comparison["p_adjusted"])
    return make_point("bench_verdict", tags, fields, time_ns)
