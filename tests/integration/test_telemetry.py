"""The telemetry sink against the real embedded database: batches land, and an outage loses nothing."""
from __future__ import annotations

import socket
import time

import pytest

from sisctl.telemetry.sink import SinkConfig, TelemetrySink
from sisctl.telemetry.tsdb import EmbeddedTsdb

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    assert status["last_error"] and status["spool_depth"] == 300
    tsdb.start()
    assert sink.drain(30), sink.status()
    sink.close()
    got = samples(tsdb)
    assert len(got) == 400 and len({t for t, _ in got}) == 400
    assert [int(v) for _, v in got] == list(range(400))


def test_campaign_results_are_written_as_points(board, tsdb, tmp_path, monkeypatch):
    from sisctl.campaign.runner import start
    lab = tmp_path / "lab.yaml"
    lab.write_text(f"tsdb: {{url: '{tsdb.url}', org: lab, bucket: sisctl}}\n")
    monkeypatch.setenv("SISCTL_LAB", str(lab))
    summary = start("ext4-crash", board.name, "generated-1", "powerloss", 1, 2, progress=lambda _: None)
    series = tsdb.export(f'{{__name__="crash_state_ok",campaign="{summary["campaign"]}"}}')
    assert sum(len(s["values"]) for s in series) == summary["states"] > 0
    assert {s["metric"]["board"] for s in series} == {board.name}
