"""The Grafana files are generated from the telemetry schema and committed up to date."""
from __future__ import annotations

import json
import re
from pathlib import Path

from sisctl.telemetry.dashboards import BOARDS, rendered
from sisctl.telemetry.points import SCHEMA

GRAFANA = Path(__file__).resolve().parents[2] / "lab" / "grafana"


def test_committed_files_match_the_generator():
    for relative, content in rendered().items():
        assert (GRAFANA / relative).read_text() == content, f"run 'invoke lab.dashboards' ({relative})"


def test_every_flux_query_uses_written_names_and_is_balanced():
    for name in BOARDS:
        board = json.loads((GRAFANA / "dashboards" / "flux" / f"{name}.json").read_text())
        for panel in board["panels"]:
            query = panel["targets"][0]["query"]
            assert query.count("(") == query.count(")") and query.count("[") == query.count("]")
            measurement = re.search(r'r\._measurement == "(\w+)"', query).group(1)
            field = re.search(r'r\._field == "(\w+)"', query).group(1)
            columns = re.findall(r'"(\w+)"', query.split("group(columns: [")[1].split("]")[0])
            assert field in SCHEMA[measurement][1] and set(columns) <= set(SCHEMA[measurement][0])


def test_prometheus_queries_name_series_as_the_database_does():
    for name in BOARDS:
        board = json.loads((GRAFANA / "dashboards" / "prometheus" / f"{name}.json").read_text())
        for panel in board["panels"]:
            series = re.search(r"\((\w+)\{", panel["targets"][0]["expr"]).group(1)
            assert any(series == f"{m}_{f}" for m, (_, fields) in SCHEMA.items() for f in fields), series
