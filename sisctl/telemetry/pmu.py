"""PMU counters of a workload in the guest (`sisagent pmu`), as results and as telemetry points."""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from influxdb_client import Point

from sisctl.telemetry.points import PMU_EVENTS, make_point


@dataclass
class PmuReading:
    totals: dict[str, int] = field(default_factory=dict)          # supported events only
    unsupported: dict[str, int] = field(default_factory=dict)     # event -> errno from perf_event_open
    samples: list[tuple[int, dict[str, int]]] = field(default_factory=list)   # (guest ns, counters)
    exit_code: int | None = None


def pmu_command(command: str, interval_ms: int = 0) -> str:
    """The guest command that runs `command` (a shell string) under the counters."""
    return f"sisagent pmu {int(interval_ms)} /bin/sh -c {shlex.quote(command)}"


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
    and show as 0 in the 'pmu_support' point."""
    counted = {event.replace("-", "_"): value for event, value in reading.totals.items()}
    support = {event.replace("-", "_"): int(event in reading.totals) for event in PMU_EVENTS}
    return [make_point("pmu", tags, counted, time_ns), make_point("pmu_support", tags, support, time_ns)]


def sample_points(reading: PmuReading, tags: dict[str, str], end_ns: int) -> list[Point]:
    """The periodic samples as 'pmu' points, placed on the host clock so the last ends at `end_ns`."""
    if not reading.samples:
        return []
    last_guest_ns = reading.samples[-1][0]
    return [make_point("pmu", tags, {e.replace("-", "_"): v for e, v in counters.items()},
                       end_ns - (last_guest_ns - guest_ns))
            for guest_ns, counters in reading.samples]
