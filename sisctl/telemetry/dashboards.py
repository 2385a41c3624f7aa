"""Grafana boards, generated from the telemetry schema so panels and writers share their names.

Two variants of each board: Prometheus-compatible queries (the embedded VictoriaMetrics names a
series <measurement>_<field>) and Flux for InfluxDB 2. `invoke lab.dashboards` writes them to
lab/grafana/; a test checks that the committed files match and that every query returns data.
"""
from __future__ import annotations

import json
from pathlib import Path

from sisctl.telemetry.points import SCHEMA

RANGE = "$__range"


def _check(measurement: str, field: str, tags: tuple[str, ...] = ()) -> None:
    known_tags, known_fields = SCHEMA[measurement]
    if field not in known_fields or not set(tags) <= set(known_tags):
        raise ValueError(f"dashboard uses names not in the schema: {measurement}.{field} {tags}")


def _promql(agg: str, measurement: str, field: str, by: tuple[str, ...], over: str) -> str:
    _check(measurement, field, by)
    return f"{agg} by ({', '.join(by)}) ({over}({measurement}_{field}{{board=~\"$board\"}}[{RANGE}]))"


def _flux(measurement: str, field: str, by: tuple[str, ...], fn: str) -> str:
    _check(measurement, field, by)
    return (f'from(bucket: "sisctl") |> range(start: v.timeRangeStart, stop: v.timeRangeStop) '
            f'|> filter(fn: (r) => r._measurement == "{measurement}" and r._field == "{field}" '
            f'and r.board =~ /^${{board}}$/) |> group(columns: [{", ".join(json.dumps(t) for t in by)}]) '
            f'|> {fn}()')


# board -> [(panel title, unit, measurement, field, group by, promql aggregation, over_time fn, flux fn)]
BOARDS = {
    "fleet-overview": [
        ("Crash states checked per board", "short", "crash_state", "ok", ("board",), "sum", "count_over_time", "count"),
        ("Latest cycles per board", "short", "pmu", "cycles", ("board",), "max", "last_over_time", "last"),
        ("Power per board (W)", "watt", "power", "watts", ("board", "estimated"), "avg", "avg_over_time", "mean"),
    ],
    "campaign-results": [
        ("Recovery rate by scenario", "percentunit", "crash_state", "ok", ("scenario",), "avg", "avg_over_time", "mean"),
        ("Violations by scenario", "short", "crash_state", "violations", ("scenario",), "sum", "sum_over_time", "sum"),
        ("Mean recovery time (ms)", "ms", "crash_state", "recovery_ms", ("scenario",), "avg", "avg_over_time", "mean"),
        ("e2fsck exit code (max)", "short", "crash_state", "e2fsck_code", ("scenario",), "max", "max_over_time", "max"),
    ],
    "pmu-counters": [
        ("Cycles", "short", "pmu", "cycles", ("board", "build_id"), "sum", "sum_over_time", "sum"),
        ("Task clock (ns)", "ns", "pmu", "task_clock", ("board", "build_id"), "sum", "sum_over_time", "sum"),
        ("Page faults", "short", "pmu", "page_faults", ("board", "build_id"), "sum", "sum_over_time", "sum"),
        ("Counters supported (1) or not (0): instructions", "short", "pmu_support", "instructions",
         ("board",), "max", "last_over_time", "last"),
    ],
    "power": [
        ("Power (W); estimated=true is the model, not a meter", "watt", "power", "watts",
         ("board", "source", "estimated"), "avg", "avg_over_time", "mean"),
    ],
}


def _panel(index: int, title: str, unit: str, target: dict, datasource: dict) -> dict:
    return {"id": index + 1, "type": "timeseries", "title": title, "datasource": datasource,
            "gridPos": {"x": (index % 2) * 12, "y": (index // 2) * 8, "w": 12, "h": 8},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}, "targets": [target]}


def board_json(name: str, flavour: str) -> dict:
    datasource = {"type": "prometheus" if flavour == "prometheus" else "influxdb",
                  "uid": "sisctl-vm" if flavour == "prometheus" else "sisctl-influx"}
    panels = []
    for i, (title, unit, measurement, field, by, agg, over, flux_fn) in enumerate(BOARDS[name]):
        target = ({"refId": "A", "expr": _promql(agg, measurement, field, by, over), "instant": False}
                  if flavour == "prometheus" else {"refId": "A", "query": _flux(measurement, field, by, flux_fn)})
        panels.append(_panel(i, title, unit, target, datasource))
    board_var = {"name": "board", "type": "custom", "query": ".*", "current": {"text": ".*", "value": ".*"},
                 "hide": 2}
    return {"uid": f"sisctl-{name}-{flavour[:4]}", "title": f"sisctl {name.replace('-', ' ')} ({flavour})",
            "schemaVersion": 38, "time": {"from": "now-24h", "to": "now"}, "refresh": "30s",
            "templating": {"list": [board_var]}, "panels": panels, "tags": ["sisctl"]}


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
