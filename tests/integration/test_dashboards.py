"""Every panel of every generated Grafana board shows data once each measurement has a point, on the
real embedded database; the same query with a wrong field shows nothing."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from sisctl.telemetry.dashboards import BOARDS, board_json
from sisctl.telemetry.points import SCHEMA, make_point
from sisctl.telemetry.sink import SinkConfig, TelemetrySink
from tests.integration import test_telemetry

pytestmark = pytest.mark.integration
tsdb = test_telemetry.tsdb   # the embedded database on a free loopback port

GRAFANA = Path(__file__).resolve().parents[2] / "lab" / "grafana" / "dashboards" / "prometheus"
VARIABLES = {"$__range": "1h", "$__interval": "1h", "$board": ".*", "$workload": ".*", "$metric": ".*"}


def every_measurement(now: int) -> list:
    """A point of every measurement with every tag and field; one per benchmark family."""
    points = []
    for i, family in enumerate(("work", "time")):
        for measurement, (tags, fields) in SCHEMA.items():
            values = {t: (family if t == "family" else "x") for t in tags}
            points.append(make_point(measurement, values, {f: 1.0 for f in fields}, now - i * 10**9))
    return points


def test_every_panel_shows_data_and_a_wrong_field_shows_none(tsdb, tmp_path):
    sink = TelemetrySink(SinkConfig(tsdb.url, "lab", "sisctl"), tmp_path / "spool")
    sink.write(every_measurement(time.time_ns() - 60 * 10**9))
    assert sink.drain(20)
    sink.close()
    checked = 0
    for board_file in sorted(GRAFANA.glob("*.json")):
        for panel in json.loads(board_file.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = re.sub(r"\$\w+", lambda m: VARIABLES[m.group(0)], target["expr"])
                deadline = time.monotonic() + 10   # fresh series become searchable within about a second
                while not (shown := tsdb.query(expr)) and time.monotonic() < deadline:
                    time.sleep(0.2)
                assert shown, f"{board_file.name}: '{panel['title']}' shows nothing ({expr})"
                series = re.search(r"(\w+)\{", expr).group(1)
                assert tsdb.query(expr.replace(f"{series}{{", f"{series}x{{")) == [], expr
                checked += 1
    assert checked == sum(len(p.get("targets", [])) for name in BOARDS
                          for p in board_json(name, "prometheus")["panels"]) > 20
