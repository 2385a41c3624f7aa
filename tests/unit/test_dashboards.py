"""The Grafana files are generated from the telemetry schema and committed up to date, and every query
names a measurement, a field and tags the code writes."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sisctl.telemetry.dashboards import BOARDS, P, board_json, rendered
from sisctl.telemetry.points import SCHEMA

GRAFANA = Path(__file__).resolve().parents[2] / "lab" / "grafana"
SERIES = {f"{m}_{f}": m for m, (_, fields) in SCHEMA.items() for f in fields}


def flux_problems(query: str) -> list[str]:
    """What is wrong with a Flux query against the schema (nothing: [])."""
    if query.count("(") != query.count(")") or query.count("[") != query.count("]"):
        return [f"unbalanced: {query}"]
    measurement = re.search(r'r\._measurement == "(\w+)"', query)
    field = re.search(r'r\._field == "(\w+)"', query)
    if not measurement or measurement.group(1) not in SCHEMA:
        return [f"no measurement of the schema: {query}"]
    tags, fields = SCHEMA[measurement.group(1)]
    problems = [] if field and field.group(1) in fields else [f"no field of {measurement.group(1)}: {query}"]
    filtered = set(re.findall(r"r\.(\w+) (?:==|=~)", query)) - {"_measurement", "_field"}
    columns = re.findall(r'"(\w+)"', query.split("group(columns: [")[1].split("]")[0])
    unknown = (filtered | set(columns)) - set(tags)
    return problems + ([f"tags not written to {measurement.group(1)}: {sorted(unknown)}"] if unknown else [])


def promql_problems(expr: str) -> list[str]:
    """What is wrong with a PromQL expression against the series the database makes of the schema."""
    selectors = re.findall(r"(\w+)\{([^}]*)\}", expr)
    if not selectors or expr.count("(") != expr.count(")"):
        return [f"no series selector, or unbalanced: {expr}"]
    problems = []
    for series, matchers in selectors:
        if series not in SERIES:
            problems.append(f"{series} is no <measurement>_<field> of the schema")
            continue
        labels = set(re.findall(r"(\w+)=~?\"", matchers))
        labels |= {t.strip() for group in re.findall(r"by \(([^)]*)\)", expr) for t in group.split(",")}
        unknown = labels - set(SCHEMA[SERIES[series]][0])
        if unknown:
            problems.append(f"labels not written to {SERIES[series]}: {sorted(unknown)}")
    return problems


def board_problems(board: dict, flavour: str) -> list[str]:
    check, key = (promql_problems, "expr") if flavour == "prometheus" else (flux_problems, "query")
    problems = []
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        if not panel["targets"]:
            problems.append(f"{panel['title']}: no query")
        problems += [f"{panel['title']}: {p}" for t in panel["targets"] for p in check(t[key])]
    return problems


def committed(name: str, flavour: str) -> dict:
    return json.loads((GRAFANA / "dashboards" / flavour / f"{name}.json").read_text())


def test_committed_files_match_the_generator():
    for relative, content in rendered().items():
        assert (GRAFANA / relative).read_text() == content, f"run 'invoke lab.dashboards' ({relative})"


@pytest.mark.parametrize("flavour", ["prometheus", "flux"])
def test_every_query_names_a_written_measurement_field_and_tags(flavour):
    for name in BOARDS:
        assert board_problems(committed(name, flavour), flavour) == [], name


@pytest.mark.parametrize("name, flavour, right, wrong", [
    ("bench-history", "prometheus", "bench_sample_value", "bench_sampel_value"),      # measurement
    ("bench-history", "prometheus", "bench_sample_value", "bench_sample_median"),     # field
    ("bench-history", "prometheus", 'workload=~"$workload"', 'kernel=~"$workload"'),  # a tag it does not have
    ("bench-history", "prometheus", "by (board, variant,", "by (board, kernel,"),
    ("campaign-results", "flux", '_measurement == "fuzz_batch"', '_measurement == "fuzz_batches"'),
    ("campaign-results", "flux", '_field == "coverage"', '_field == "edges"'),
    ("campaign-results", "flux", "r.board =~", "r.host =~"),
    ("campaign-results", "flux", '["campaign", "target"]', '["campaign", "seed"]'),
])
def test_the_query_checks_catch_a_wrong_name(name, flavour, right, wrong):
    board = committed(name, flavour)
    assert board_problems(board, flavour) == []
    broken = json.loads(json.dumps(board).replace(json.dumps(right)[1:-1], json.dumps(wrong)[1:-1]))
    assert broken != board and board_problems(broken, flavour)


@pytest.mark.parametrize("bad", [dict(measurement="bench_sampel"), dict(field="median"),
                                 dict(by=("board", "kernel")), dict(where=(("kernel", "$kernel"),))])
def test_the_generator_refuses_names_not_in_the_schema(bad, monkeypatch):
    args = {"measurement": "bench_sample", "field": "value", "by": ("board",), **bad}
    where = {"where": args.pop("where")} if "where" in args else {}
    panel = P("x", "short", args["measurement"], args["field"], args["by"], "avg", "avg_over_time", "mean", **where)
    monkeypatch.setitem(BOARDS, "broken", [panel])
    with pytest.raises((ValueError, KeyError)):
        board_json("broken", "prometheus")
    with pytest.raises((ValueError, KeyError)):
        board_json("broken", "flux")


def shown(flavour: str) -> set[tuple[str, str]]:
    """(measurement, field) of every query on every board."""
    found = set()
    for name in BOARDS:
        for panel in committed(name, flavour)["panels"]:
            for t in panel.get("targets", []):
                if flavour == "prometheus":
                    found |= {(SERIES[s], s[len(SERIES[s]) + 1:]) for s in re.findall(r"(\w+)\{", t["expr"])}
                else:
                    found.add((re.search(r'_measurement == "(\w+)"', t["query"]).group(1),
                               re.search(r'_field == "(\w+)"', t["query"]).group(1)))
    return found


@pytest.mark.parametrize("flavour", ["prometheus", "flux"])
def test_fuzz_bench_history_and_fleet_health_are_on_the_boards(flavour):
    wanted = {("fuzz_batch", "execs_per_s"), ("fuzz_batch", "coverage"), ("fuzz_batch", "corpus"),
              ("fuzz_batch", "unique_crashes"), ("fuzz_crash", "count"), ("bench_sample", "value"),
              ("bench_change", "after"), ("bench_change", "change_pct"), ("fleet_health", "good"),
              ("fleet_health", "elapsed_s")}
    assert wanted <= shown(flavour)


def test_panels_do_not_overlap():
    for name in BOARDS:
        cells = set()
        for panel in board_json(name, "prometheus")["panels"]:
            g = panel["gridPos"]
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not cells & mine and g["x"] + g["w"] <= 24, (name, panel["title"])
            cells |= mine
