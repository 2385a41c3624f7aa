"""Grafana boards, generated from the telemetry schema so panels and writers share their names.

Two variants of each board: Prometheus-compatible queries (the embedded VictoriaMetrics names a
series <measurement>_<field>) and Flux for InfluxDB 2. `invoke lab.dashboards` writes them to
lab/grafana/; a test checks that the committed files match and that every query returns data.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sisctl.telemetry.points import SCHEMA

RANGE = "$__range"         # one figure over the board's time range
INTERVAL = "$__interval"   # a history: one figure per step of the graph


@dataclass(frozen=True)
class Query:
    measurement: str
    field: str
    by: tuple[str, ...]
    agg: str                 # PromQL aggregation across series
    over: str                # PromQL *_over_time function
    flux_fn: str             # Flux aggregate
    window: str = RANGE
    where: tuple[tuple[str, str], ...] = ()   # (tag, "value") exactly, or (tag, "$variable") as a regex


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    query: Query
    marks: Query | None = None   # drawn as points on the same axes (change points over a history)
    style: str = "lines"         # or "points"
    wide: bool = False
    legend: str = ""             # Prometheus legend format


@dataclass(frozen=True)
class Row:
    title: str


def P(title: str, unit: str, measurement: str, field: str, by: tuple[str, ...], agg: str, over: str, flux_fn: str,
      **options) -> Panel:
    """A panel with one query; `window` and `where` go to the query, the rest to the panel."""
    query = {k: options.pop(k) for k in ("window", "where") if k in options}
    return Panel(title, unit, Query(measurement, field, by, agg, over, flux_fn, **query), **options)


def _check(q: Query) -> None:
    known_tags, known_fields = SCHEMA[q.measurement]
    tags = set(q.by) | {tag for tag, _ in q.where}
    if q.field not in known_fields or not tags <= set(known_tags):
        raise ValueError(f"dashboard uses names not in the schema: {q.measurement}.{q.field} {sorted(tags)}")


def _promql(q: Query) -> str:
    _check(q)
    matchers = ['board=~"$board"'] + [f'{tag}=~"{value}"' if value.startswith("$") else f'{tag}="{value}"'
                                      for tag, value in q.where]
    return (f"{q.agg} by ({', '.join(q.by)}) ({q.over}({q.measurement}_{q.field}{{{', '.join(matchers)}}}"
            f"[{q.window}]))")


def _flux(q: Query) -> str:
    _check(q)
    where = "".join(f" and r.{tag} =~ /^${{{value[1:]}}}$/" if value.startswith("$") else f' and r.{tag} == "{value}"'
                    for tag, value in q.where)
    aggregate = (f"{q.flux_fn}()" if q.window == RANGE
                 else f"aggregateWindow(every: v.windowPeriod, fn: {q.flux_fn}, createEmpty: false)")
    return (f'from(bucket: "sisctl") |> range(start: v.timeRangeStart, stop: v.timeRangeStop) '
            f'|> filter(fn: (r) => r._measurement == "{q.measurement}" and r._field == "{q.field}" '
            f'and r.board =~ /^${{board}}$/{where}) |> group(columns: [{", ".join(json.dumps(t) for t in q.by)}]) '
            f'|> {aggregate}')


def _history(family: str, what: str) -> list:
    """A family's metrics per campaign, with the change points bench.history found marked on them."""
    where = (("family", family), ("workload", "$workload"), ("metric", "$metric"))
    by = ("board", "variant", "workload", "metric")
    return [P(f"{what}: each metric per campaign, by board and kernel (dots: change points)", "short",
              "bench_sample", "value", by, "avg", "avg_over_time", "mean", window=INTERVAL, where=where,
              marks=Query("bench_change", "after", by, "max", "max_over_time", "max", INTERVAL, where), wide=True,
              legend="{{board}} {{variant}} {{workload}}.{{metric}}")]


SAMPLED = dict(window=INTERVAL)

# board -> panels and rows, in order
BOARDS = {
    "fleet-overview": [
        P("Crash states checked per board", "short", "crash_state", "ok", ("board",), "sum", "count_over_time", "count"),
        P("Latest cycles per board", "short", "pmu", "cycles", ("board",), "max", "last_over_time", "last"),
        P("Power per board (W)", "watt", "power", "watts", ("board", "estimated"), "avg", "avg_over_time", "mean"),
        Row("Health checks"),
        P("Last health check per board and check: good (1) or not (0)", "short", "fleet_health", "good",
          ("board", "check"), "max", "last_over_time", "last"),
        P("Health checks by resulting health (count)", "short", "fleet_health", "good", ("board", "health"), "sum",
          "count_over_time", "count"),
        P("Health check duration (s)", "s", "fleet_health", "elapsed_s", ("board", "check"), "max", "max_over_time",
          "max", **SAMPLED),
    ],
    "campaign-results": [
        P("Recovery rate by scenario", "percentunit", "crash_state", "ok", ("scenario",), "avg", "avg_over_time", "mean"),
        P("Violations by scenario", "short", "crash_state", "violations", ("scenario",), "sum", "sum_over_time", "sum"),
        P("Mean recovery time (ms)", "ms", "crash_state", "recovery_ms", ("scenario",), "avg", "avg_over_time", "mean"),
        P("e2fsck exit code (max)", "short", "crash_state", "e2fsck_code", ("scenario",), "max", "max_over_time", "max"),
        Row("Fuzz campaigns"),
        P("Fuzz execs/s per target", "short", "fuzz_batch", "execs_per_s", ("board", "target"), "avg", "avg_over_time",
          "mean", **SAMPLED),
        P("Fuzz kernel coverage per campaign", "short", "fuzz_batch", "coverage", ("campaign", "target"), "max",
          "max_over_time", "max", **SAMPLED),
        P("Fuzz corpus size per target", "short", "fuzz_batch", "corpus", ("board", "target"), "max", "max_over_time",
          "max", **SAMPLED),
        P("Fuzz unique crashes per campaign", "short", "fuzz_batch", "unique_crashes", ("campaign", "target"), "max",
          "max_over_time", "max", **SAMPLED),
        P("Fuzz crash occurrences by kind", "short", "fuzz_crash", "count", ("kind",), "sum", "sum_over_time", "sum",
          **SAMPLED),
    ],
    "pmu-counters": [
        P("Cycles", "short", "pmu", "cycles", ("board", "build_id"), "sum", "sum_over_time", "sum"),
        P("Task clock (ns)", "ns", "pmu", "task_clock", ("board", "build_id"), "sum", "sum_over_time", "sum"),
        P("Page faults", "short", "pmu", "page_faults", ("board", "build_id"), "sum", "sum_over_time", "sum"),
        P("Counters supported (1) or not (0): instructions", "short", "pmu_support", "instructions",
          ("board",), "max", "last_over_time", "last"),
    ],
    "power": [
        P("Power (W); estimated=true is the model, not a meter", "watt", "power", "watts",
          ("board", "source", "estimated"), "avg", "avg_over_time", "mean"),
    ],
    "bench-history": [
        Row("Work family: guest instructions and virtual time under -icount (independent of the host's load)"),
        *_history("work", "Work"),
        Row("Time family: wall clock (advisory under TCG, the gate on real boards)"),
        *_history("time", "Wall time"),
        Row("Change points and verdicts"),
        P("Change points found by bench.history (change in %)", "percent", "bench_change", "change_pct",
          ("board", "variant", "family", "workload", "metric"), "max", "max_over_time", "max", style="points",
          where=(("workload", "$workload"), ("metric", "$metric")), **SAMPLED,
          legend="{{board}} {{variant}} {{family}}:{{workload}}.{{metric}}"),
        P("Campaign verdicts: candidate / baseline", "short", "bench_verdict", "ratio",
          ("board", "metric", "baseline", "candidate"), "avg", "avg_over_time", "mean", style="points", **SAMPLED,
          legend="{{board}} {{metric}} {{candidate}} vs {{baseline}}"),
    ],
}

# board -> its free-text regex variables beyond the board, and its default time range
VARIABLES = {"bench-history": ("workload", "metric")}
TIME_FROM = {"bench-history": "now-30d"}

POINTS = {"drawStyle": "points", "pointSize": 9}


def _target(q: Query, flavour: str, ref: str, legend: str) -> dict:
    if flavour != "prometheus":
        return {"refId": ref, "query": _flux(q)}
    target = {"refId": ref, "expr": _promql(q), "instant": False}
    return {**target, "legendFormat": legend} if legend else target


def _panel_json(index: int, panel: Panel, grid: dict, flavour: str, datasource: dict) -> dict:
    targets = [_target(panel.query, flavour, "A", panel.legend)]
    defaults: dict = {"unit": panel.unit}
    overrides = []
    if panel.style == "points":
        defaults["custom"] = POINTS
    if panel.marks:
        targets.append(_target(panel.marks, flavour, "B", panel.legend and f"change point: {panel.legend}"))
        overrides.append({"matcher": {"id": "byFrameRefID", "options": "B"},
                          "properties": [{"id": "custom.drawStyle", "value": "points"},
                                         {"id": "custom.pointSize", "value": 12}]})
    return {"id": index + 1, "type": "timeseries", "title": panel.title, "datasource": datasource, "gridPos": grid,
            "fieldConfig": {"defaults": defaults, "overrides": overrides}, "targets": targets}


def _layout(items: list) -> list[dict]:
    """Grid positions: two panels a line, wide panels and rows on a line of their own."""
    grids, x, y = [], 0, 0
    for item in items:
        full = isinstance(item, Row) or item.wide
        if full and x:
            x, y = 0, y + 8
        height = 1 if isinstance(item, Row) else 8
        grids.append({"x": x, "y": y, "w": 24 if full else 12, "h": height})
        if full or x:
            x, y = 0, y + height
        else:
            x = 12
    return grids


def _variable(name: str, hidden: bool) -> dict:
    variable = {"name": name, "type": "custom" if hidden else "textbox", "query": ".*",
                "current": {"text": ".*", "value": ".*"}}
    return {**variable, "hide": 2} if hidden else {**variable, "label": f"{name} (regex)"}


def board_json(name: str, flavour: str) -> dict:
    datasource = {"type": "prometheus" if flavour == "prometheus" else "influxdb",
                  "uid": "sisctl-vm" if flavour == "prometheus" else "sisctl-influx"}
    items = BOARDS[name]
    panels = []
    for i, (item, grid) in enumerate(zip(items, _layout(items))):
        panels.append({"id": i + 1, "type": "row", "title": item.title, "collapsed": False, "gridPos": grid,
                       "panels": []} if isinstance(item, Row) else _panel_json(i, item, grid, flavour, datasource))
    variables = [_variable("board", True)] + [_variable(v, False) for v in VARIABLES.get(name, ())]
    return {"uid": f"sisctl-{name}-{flavour[:4]}", "title": f"sisctl {name.replace('-', ' ')} ({flavour})",
            "schemaVersion": 38, "time": {"from": TIME_FROM.get(name, "now-24h"), "to": "now"}, "refresh": "30s",
            "templating": {"list": variables}, "panels": panels, "tags": ["sisctl"]}


DATASOURCES = """apiVersion: 1
datasources:
  - name: sisctl (embedded, Prometheus API)
    uid: sisctl-vm
    type: prometheus
    access: proxy
    url: http://127.0.0.1:8428
  - name: sisctl (InfluxDB 2, Flux)
    uid: sisctl-influx
    type: influxdb
    access: proxy
    url: http://127.0.0.1:8086
    jsonData: {version: Flux, organization: sisctl, defaultBucket: sisctl}
    secureJsonData: {token: $SISCTL_INFLUX_TOKEN}
"""

PROVIDER = """apiVersion: 1
providers:
  - name: sisctl
    folder: sisctl
    type: file
    options: {path: /etc/grafana/provisioning/dashboards/sisctl}
"""


def rendered() -> dict[str, str]:
    """Relative path under lab/grafana -> file content."""
    files = {"provisioning/datasources/sisctl.yaml": DATASOURCES,
             "provisioning/dashboards/sisctl.yaml": PROVIDER}
    for name in BOARDS:
        for flavour in ("prometheus", "flux"):
            files[f"dashboards/{flavour}/{name}.json"] = json.dumps(board_json(name, flavour), indent=1) + "\n"
    return files


def write_all(root: Path) -> list[Path]:
    written = []
    for relative, content in rendered().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        written.append(path)
    return written
