"""bench.history against the real embedded database: its change points arrive as bench_change points,
where the benchmark history board finds them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.integration import test_telemetry
from tests.unit.test_history import metric, write_campaign

pytestmark = pytest.mark.integration
tsdb = test_telemetry.tsdb   # the embedded database on a free loopback port

GRAFANA = Path(__file__).resolve().parents[2] / "lab" / "grafana" / "dashboards" / "prometheus"


def test_change_points_reach_the_database_and_the_history_board(tsdb, tmp_path):
    rng = np.random.default_rng(7)
    values = list(5000 + rng.normal(0, 20, 14)) + list(4500 + rng.normal(0, 20, 10))   # 10 % faster from night 14
    first = time.time() - 24 * 43200 - 3600   # two campaigns a day, within the database's retention
    epochs = [round(first + night * 43200, 1) for night in range(24)]
    for night, (epoch, value) in enumerate(zip(epochs, values)):
        write_campaign(tmp_path / "reports", f"bench-{night:02d}", epoch,
                       [metric("work:pipe_pingpong.ns_per_switch", value, value)])
    lab = tmp_path / "lab.yaml"
    lab.write_text(f"tsdb: {{url: '{tsdb.url}', org: lab, bucket: sisctl}}\n")
    env = {**os.environ, "SISCTL_REPORTS": str(tmp_path / "reports"), "SISCTL_LAB": str(lab),
           "SISCTL_STATE": str(tmp_path / "state")}
    invoke = str(Path(sys.executable).parent / "invoke")
    for _ in range(2):   # a second run writes the same point again, which overwrites itself
        done = subprocess.run([invoke, "bench.history", "--since", "30d"], capture_output=True, text=True,
                              timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        assert f"1 bench_change point(s) written to {tsdb.url}" in done.stdout, done.stdout
        assert " bench-14: " in done.stdout and "better" in done.stdout
    [series] = tsdb.export('{__name__="bench_change_change_pct"}')
    assert series["metric"] == {"__name__": "bench_change_change_pct", "board": "qemu-virt-0", "family": "work",
                                "workload": "pipe_pingpong", "metric": "ns_per_switch", "variant": "linux-kbuild"}
    assert series["timestamps"] == [int(epochs[14] * 1000)] and -11 < series["values"][0] < -9
    board = json.loads((GRAFANA / "bench-history.json").read_text())
    shown = [t["expr"] for p in board["panels"] if p["type"] != "row" for t in p["targets"]
             if "bench_change_" in t["expr"] and 'family="time"' not in t["expr"]]
    assert len(shown) == 2
    for expr in shown:
        answer = tsdb.query(expr.replace("$__interval", "15d").replace("$board", ".*").replace("$workload", ".*")
                            .replace("$metric", ".*"))
        assert len(answer) == 1 and answer[0]["metric"]["variant"] == "linux-kbuild", expr
