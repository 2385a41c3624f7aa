"""PMU counters from a real guest workload, written to the real local database and read back."""
from __future__ import annotations

import time


from sisctl.net import free_port
from sisctl.telemetry.pmu import parse_pmu, pmu_command, pmu_points, sample_points
from sisctl.telemetry.sink import SinkConfig, TelemetrySink
from sisctl.telemetry.tsdb import EmbeddedTsdb

LOOP = "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; echo counted $i"


def test_counters_of_a_guest_workload(board, tmp_path):
    with board.session(label="pmu") as session:
        result = session.run(pmu_command(LOOP, interval_ms=50), timeout_s=120)
    assert result.ok and result.text == "counted 3000\n"
    reading = parse_pmu(result.stderr.decode())
    assert reading.exit_code == 0
    # QEMU TCG counts cycles and software events; instructions and cache events are unsupported
    # there and must be reported as such, not as zero.
    assert reading.totals["cycles"] > 1_000_000 and reading.totals["task-clock"] > 0
    assert "instructions" in reading.unsupported and "instructions" not in reading.totals
    assert set(reading.totals) | set(reading.unsupported) == {
        "cycles", "instructions", "cache-references", "cache-misses", "branch-misses",
        "context-switches", "page-faults", "task-clock"}
    assert len(reading.samples) >= 2
    cycles = [s["cycles"] for _, s in reading.samples]
    assert cycles == sorted(cycles) and cycles[-1] <= reading.totals["cycles"]

    db = EmbeddedTsdb(f"127.0.0.1:{free_port()}", tmp_path / "tsdb")
    db.start()
    try:
        sink = TelemetrySink(SinkConfig(db.url, "lab", "sisctl"), tmp_path / "spool")
        tags = {"board": board.name, "build_id": board.flashed().build_id or "none", "run": "pmu-test"}
        now = time.time_ns()
        sink.write(pmu_points(reading, tags, now))
        sink.write(sample_points(reading, {**tags, "run": "pmu-samples"}, now - 10**9))
        assert sink.drain(20)
        sink.close()
        stored = {s["metric"]["__name__"]: s["values"][0] for s in db.export('{run="pmu-test"}')}
        streamed = db.export('{__name__="pmu_cycles",run="pmu-samples"}')
    finally:
        db.stop()
    assert stored.get("pmu_cycles") == reading.totals["cycles"], stored
    assert "pmu_instructions" not in stored               # unsupported: no zero written
    assert stored["pmu_support_instructions"] == 0 and stored["pmu_support_cycles"] == 1
    (series,) = streamed
    assert series["values"] == cycles and series["timestamps"] == sorted(series["timestamps"])
