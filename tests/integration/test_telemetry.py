"""The telemetry sink against the real embedded database: batches land, and an outage loses nothing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sisctl.net import free_port
from sisctl.telemetry.sink import SinkConfig, TelemetrySink
from sisctl import errors
from sisctl.telemetry.tsdb import EmbeddedTsdb, TsdbError

pytestmark = pytest.mark.integration


@pytest.fixture
def tsdb(tmp_path):
    db = EmbeddedTsdb(f"127.0.0.1:{free_port()}", tmp_path / "tsdb")
    db.start()
    yield db
    db.stop()
    assert db.pid() is None


BASE = (time.time_ns() // 10**9 - 3600) * 10**9   # inside the database's retention


def points(start: int, count: int) -> list[str]:
    base = BASE
    return [f"pmu,board=qemu-virt-0,run=r1 cycles={i}i {base + i * 1_000_000}" for i in range(start, start + count)]


def samples(db: EmbeddedTsdb) -> list[tuple[int, float]]:
    series = db.export('{__name__="pmu_cycles"}')
    return sorted((t, v) for s in series for t, v in zip(s["timestamps"], s["values"]))


def test_points_reach_the_database(tsdb, tmp_path):
    sink = TelemetrySink(SinkConfig(tsdb.url, "lab", "sisctl", token="t"), tmp_path / "spool")
    sink.write(points(0, 250))
    assert sink.drain(20)
    sink.close()
    got = samples(tsdb)
    assert [int(v) for _, v in got] == list(range(250))


def test_an_outage_loses_and_duplicates_nothing(tsdb, tmp_path):
    sink = TelemetrySink(SinkConfig(tsdb.url, "lab", "sisctl", timeout_s=1), tmp_path / "spool")
    sink.write(points(0, 100))
    assert sink.drain(20)
    tsdb.stop()
    started = time.monotonic()
    sink.write(points(100, 300))            # the database is down: this must not block
    assert time.monotonic() - started < 1.0
    deadline = time.monotonic() + 10
    while not sink.status()["last_error"] and time.monotonic() < deadline:
        time.sleep(0.05)
    status = sink.status()
    # the 100 acknowledged before the outage were not confirmed yet: they are sent again too
    assert status["last_error"] and status["spool_depth"] == 400
    tsdb.start()
    assert sink.drain(30), sink.status()
    sink.close()
    got = samples(tsdb)
    assert len(got) == 400 and len({t for t, _ in got}) == 400
    assert [int(v) for _, v in got] == list(range(400))


def kill_and_restart(db: EmbeddedTsdb) -> None:
    """SIGKILL: the database gets no chance to flush what it acknowledged."""
    pid = db.pid()
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    db.start()


@pytest.mark.parametrize("durable_after_s, keeps_all", [(6.0, True), (0.0, False)],
                         ids=["confirmed-after-6s", "forgotten-at-first-ack"])
def test_a_database_killed_mid_run_loses_no_point(tsdb, tmp_path, durable_after_s, keeps_all):
    """217 points, the database SIGKILLed right after acknowledging the first 100, then restarted.
    Forgetting points at their first acknowledgement (the control) loses some; confirming them
    later loses none and counts none twice."""
    sink = TelemetrySink(SinkConfig(tsdb.url, "lab", "sisctl", timeout_s=1, durable_after_s=durable_after_s),
                         tmp_path / "spool")
    sink.write(points(0, 100))
    assert sink.drain(20)                     # acknowledged, still in the database's memory
    kill_and_restart(tsdb)
    sink.write(points(100, 117))
    assert sink.drain(60, durable=True), sink.status()
    sink.close()
    got = samples(tsdb)
    if keeps_all:
        assert len(got) == 217 and [int(v) for _, v in got] == list(range(217))
    else:
        assert len(got) < 217, "the control lost nothing: the test would not catch a lost point"


IMPOSTOR = """
import http.server, sys
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"OK")
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
"""


def test_lab_up_refuses_a_port_another_process_holds(tmp_path):
    """Another server that even answers the health check: lab.up names it and fails."""
    port = free_port()
    impostor = subprocess.Popen([sys.executable, "-c", IMPOSTOR, str(port)])
    try:
        deadline = time.monotonic() + 10
        while not EmbeddedTsdb(f"127.0.0.1:{port}", tmp_path).healthy() and time.monotonic() < deadline:
            time.sleep(0.05)
        db = EmbeddedTsdb(f"127.0.0.1:{port}", tmp_path / "tsdb")
        with pytest.raises(TsdbError, match=f"127.0.0.1:{port} is already in use by pid {impostor.pid} "):
            db.start()
        assert db.pid() is None
        lab = tmp_path / "lab.yaml"
        lab.write_text(f"embedded: {{listen: '127.0.0.1:{port}'}}\n")
        done = subprocess.run([str(Path(sys.executable).parent / "invoke"), "lab.up"], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "SISCTL_LAB": str(lab), "SISCTL_STATE": str(tmp_path / "s")})
        assert done.returncode == errors.INFRASTRUCTURE and done.stderr.count("\n") == 1, done.stderr
        assert f"already in use by pid {impostor.pid}" in done.stderr and "running at" not in done.stdout
    finally:
        impostor.kill()
        impostor.wait(5)


def test_campaign_results_are_written_as_points(board, tsdb, tmp_path, monkeypatch):
    from sisctl.campaign.core.runner import start
    lab = tmp_path / "lab.yaml"
    lab.write_text(f"tsdb: {{url: '{tsdb.url}', org: lab, bucket: sisctl}}\n")
    monkeypatch.setenv("SISCTL_LAB", str(lab))
    summary = start("ext4-crash", board.name, {"scenario": "generated-1", "runs": 1}, 2, progress=lambda _: None)
    series = tsdb.export(f'{{__name__="crash_state_ok",campaign="{summary["campaign"]}"}}')
    assert sum(len(s["values"]) for s in series) == summary["states"] > 0
    assert {s["metric"]["board"] for s in series} == {board.name}
    runs = tsdb.export(f'{{__name__="campaign_run_finished",campaign="{summary["campaign"]}"}}')
    assert [s["metric"]["scenario"] for s in runs] == ["generated-1"]


def test_every_prometheus_panel_shows_data_after_a_short_campaign(board, tsdb, tmp_path, monkeypatch):
    import json as _json
    from pathlib import Path

    from sisctl.campaign.core.runner import start
    from sisctl.telemetry.pmu import parse_pmu, pmu_command, pmu_points
    from sisctl.telemetry.power import estimate_from_pmu

    lab = tmp_path / "lab.yaml"
    lab.write_text(f"tsdb: {{url: '{tsdb.url}', org: lab, bucket: sisctl}}\n")
    monkeypatch.setenv("SISCTL_LAB", str(lab))
    start("ext4-crash", board.name, {"scenario": "generated-1", "runs": 1}, 4, progress=lambda _: None)
    with board.session(label="telemetry") as session:
        result = session.run(pmu_command("i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done"))
    reading = parse_pmu(result.stderr.decode())
    power = estimate_from_pmu(board.spec.power_meter, reading.totals["task-clock"], result.duration_s)
    sink = TelemetrySink(SinkConfig(tsdb.url, "lab", "sisctl"), tmp_path / "spool")
    now = time.time_ns()
    sink.write(pmu_points(reading, {"board": board.name, "build_id": "x", "run": "t"}, now)
               + [power.point(board.name, now)])
    assert sink.drain(20)
    sink.close()
    grafana = Path(__file__).resolve().parents[2] / "lab" / "grafana" / "dashboards" / "prometheus"
    written = ("crash_state_", "campaign_run_", "pmu_", "power_")   # fuzz, bench, fleet: test_dashboard_queries.py
    for board_file in sorted(grafana.glob("*.json")):
        for panel in _json.loads(board_file.read_text())["panels"]:
            if panel["type"] == "row" or not any(f"({w}" in panel["targets"][0]["expr"] for w in written):
                continue
            expr = panel["targets"][0]["expr"].replace("$__range", "1h").replace("$board", ".*")
            deadline = time.monotonic() + 10   # fresh series become searchable within about a second
            while not (shown := tsdb.query(expr)) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert shown, f"{board_file.name}: '{panel['title']}' shows nothing ({expr})"
