"""PMU counters of a workload in the guest (`sisagent pmu`), as results and as telemetry points."""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from influxdb_client import Point

EVENTS = ("cycles", "instructions", "cache-references", "cache-misses", "branch-misses",
          "context-switches", "page-faults", "task-clock")


@dataclass
class PmuReading:
    totals: dict[str, int] = field(default_factory=dict)          # supported events only
    unsupported: dict[str, int] = field(default_factory=dict)     # event -> errno from perf_event_open
    samples: list[tuple[int, dict[str, int]]] = field(default_factory=list)   # (guest ns, counters)
    exit_code: int | None = None


def pmu_command(command: str, interval_ms: int = 0) -> str:
    """The guest command that runs `command` (a shell string) under the counters."""
    return f"/sbin/sisagent pmu {int(interval_ms)} /bin/sh -c {shlex.quote(command)}"


def parse_pmu(stderr: str) -> PmuReading:
    reading = PmuReading()
    for line in stderr.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[0] != "pmu":
            continue
        if parts[1] == "unsupported":
            reading.unsupported[parts[2]] = int(parts[3])
        elif parts[1] == "total":
            reading.totals[parts[2]] = int(parts[3])
        elif parts[1] == "sample":
            reading.samples.append((int(parts[2]), {k: int(v) for k, v in (p.split("=") for p in parts[3:])}))
        elif parts[1] in ("exit", "signal"):
            reading.exit_code = int(parts[2]) if parts[1] == "exit" else 128 + int(parts[2])
    return reading


def pmu_points(reading: PmuReading, tags: dict[str, str], time_ns: int) -> list[Point]:
    """One 'pmu' point with a field per counted event; unsupported events get no field (never a zero)
    and are listed in a 'pmu_support' point."""
    point = Point("pmu")
    support = Point("pmu_support")
    for key, value in tags.items():
        point.tag(key, value)
        support.tag(key, value)
    for event, value in reading.totals.items():
        point.field(event.replace("-", "_"), value)
    for event in EVENTS:
        support.field(event.replace("-", "_"), int(event in reading.totals))
    return [point.time(time_ns), support.time(time_ns)]
