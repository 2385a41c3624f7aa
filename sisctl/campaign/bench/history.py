"""Each benchmark metric's history per board and kernel variant, and its change points.

The history is read from the summaries of past bench campaigns under the reports folder (the
nightly plan's A/A comparison adds one campaign a night): per campaign, board, variant and metric,
the median of the measured values. A variant measured on both sides of one campaign (an A/A run)
counts once, as the mean of its two medians. Change points are found by Apache Otava (E-divisive
means over sliding windows, then a Student t-test merge, as in Fleming et al. 2023), with Otava's
default significance (p < 0.001) and, as the smallest change worth naming, the minimum effect the
metric's own campaigns used. History is information: it never fails a job.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sisctl.campaign.bench.suite import parse_metric
from sisctl.duration import parse_duration
from sisctl.errors import InfrastructureError, UsageError
from sisctl.jsonfile import read_json
from sisctl.telemetry.points import make_point

MAX_PVALUE = 0.001        # Otava's default
WINDOW = 50               # Otava's default sliding window (campaigns)
FEW = 10                  # a 5-sd step is found at the right campaign in 186/200 histories of 5+5, 76/200 of 3+3


@dataclass(frozen=True, order=True)
class SeriesKey:
    board: str
    variant: str
    family: str
    workload: str
    metric: str

    @property
    def label(self) -> str:
        return f"{self.board} {self.variant} {self.family}:{self.workload}.{self.metric}"


@dataclass
class Series:
    key: SeriesKey
    unit: str = ""
    better: str = "lower"
    min_effect: float = 0.0
    epochs: list[float] = field(default_factory=list)
    campaigns: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass
class Change:
    key: SeriesKey
    epoch: float          # when the first campaign at the new level finished
    campaign: str         # that campaign
    previous: str         # the last campaign at the old level
    before: float         # mean of the segment before
    after: float          # mean of the segment after
    change_pct: float
    pvalue: float
    worse: bool

    def as_dict(self) -> dict:
        return {"board": self.key.board, "variant": self.key.variant, "family": self.key.family,
                "workload": self.key.workload, "metric": self.key.metric, "epoch": self.epoch,
                "campaign": self.campaign, "previous": self.previous, "before": self.before, "after": self.after,
                "change_pct": self.change_pct, "pvalue": self.pvalue, "worse": self.worse}


def parse_since(text: str, now: float | None = None) -> float:
    """'30d', '2w', '12h' ago, or an ISO date (2026-11-01), as an epoch."""
    now = time.time() if now is None else now
    if str(text).strip()[-1:] in tuple("smhdw"):     # a bare number would be a year: a date
        return now - parse_duration(text, "--since")
    try:
        from datetime import datetime
        return datetime.fromisoformat(str(text).strip()).timestamp()
    except ValueError:
        raise UsageError(f"--since {text!r}: expected a duration such as 30d, 2w, 12h or a date such as "
                         "2026-11-01") from None


def parse_min_change(text: str) -> float:
    """--min-change in percent (0 names every significant change) as a fraction."""
    try:
        pct = float(text)
    except ValueError:
        pct = math.nan
    if not (math.isfinite(pct) and 0 <= pct < 100):
        raise UsageError(f"--min-change {text!r}: expected a percentage from 0 to 100, e.g. 5")
    return pct / 100


def _field(data: dict, key: str, path: Path, kind: type | tuple, where: str = ""):
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise UsageError(f"{path}: key '{where}{key}' missing or not a {getattr(kind, '__name__', 'number')}")
    return value


def bench_summaries(reports: Path) -> list[tuple[Path, dict]]:
    """Every bench campaign's summary under the reports folder; a summary that is not JSON is bad input."""
    found = []
    for path in sorted(reports.glob("*/summary.json")):
        data = read_json(path)     # NotJson: bad input naming the file
        if isinstance(data, dict) and data.get("kind") == "bench":
            found.append((path, data))
    return found


def read_history(reports: Path, since: float | None = None) -> dict[SeriesKey, Series]:
    """Series per board, variant and metric, oldest campaign first."""
    rows = []
    for path, data in bench_summaries(reports):
        epoch = float(_field(data, "finished_epoch", path, (int, float)))
        if since is not None and epoch < since:
            continue
        board, campaign = _field(data, "board", path, str), _field(data, "campaign", path, str)
        sides = {side: _field(data, side, path, str) for side in ("baseline", "candidate")}
        for i, m in enumerate(_field(data, "metrics", path, list)):
            where = f"metrics[{i}]."
            key = _field(m, "key", path, str, where)
            family, _, name = key.partition(":")
            workload, _, metric = name.partition(".")
            if not (family and workload and metric):
                raise UsageError(f"{path}: key '{where}key' is {key!r}, not FAMILY:WORKLOAD.METRIC")
            per_variant = defaultdict(list)
            for side, variant in sides.items():
                if m.get(side) is not None:
                    per_variant[variant].append(float(_field(m, side, path, (int, float), where)))
            for variant, medians in per_variant.items():
                rows.append((epoch, campaign, SeriesKey(board, variant, family, workload, metric),
                             sum(medians) / len(medians), m))
    history: dict[SeriesKey, Series] = {}
    for epoch, campaign, key, value, m in sorted(rows, key=lambda r: (r[0], r[1])):
        series = history.setdefault(key, Series(key))
        series.unit, series.better = m.get("unit", ""), m.get("better", "lower")
        series.min_effect = float(m.get("min_effect") or 0.0)
        series.epochs.append(epoch)
        series.campaigns.append(campaign)
        series.values.append(value)
    return history


def select(history: dict[SeriesKey, Series], board: str | None = None, metric: str | None = None) -> list[Series]:
    """The series a --board and --metric pick; a filter that matches nothing is bad input naming what exists."""
    chosen = list(history.values())
    if board:
        chosen = [s for s in chosen if s.key.board == board]
        if not chosen:
            known = sorted({k.board for k in history}) or ["none"]
            raise UsageError(f"--board {board!r}: no bench campaign in the history measured it "
                             f"(boards: {', '.join(known)})")
    if metric:
        family, workload, name = parse_metric(metric)
        chosen = [s for s in chosen if (s.key.workload, s.key.metric) == (workload, name)
                  and (family is None or s.key.family == family)]
        if not chosen:
            raise UsageError(f"--metric {metric!r}: no bench campaign in the history measured it")
    return sorted(chosen, key=lambda s: s.key)


def _otava():
    try:
        from otava.series import AnalysisOptions, Metric, Series as OtavaSeries
    except ImportError as err:
        raise InfrastructureError(f"Apache Otava is not installed ({err}); run 'invoke setup' (lab/setup.sh "
                                  "installs apache-otava)") from None
    return AnalysisOptions, Metric, OtavaSeries


def change_points(series: Series, min_change: float | None = None) -> list[Change]:
    """Otava's change points of one series; `min_change` (a fraction) defaults to the metric's minimum effect."""
    AnalysisOptions, Metric, OtavaSeries = _otava()
    options = AnalysisOptions()
    options.window_len, options.max_pvalue = WINDOW, MAX_PVALUE
    options.min_magnitude = series.min_effect if min_change is None else min_change
    direction = 1 if series.better == "higher" else -1
    otava = OtavaSeries(series.key.label, None, [int(e) for e in series.epochs],
                        {"value": Metric(direction, 1.0, series.unit)}, {"value": list(series.values)},
                        {"campaign": list(series.campaigns)})
    changes = []
    for cp in otava.analyze(options).change_points["value"]:
        i = int(cp.index)
        pct = float(cp.forward_change_percent())
        worse = pct > 0 if series.better == "lower" else pct < 0
        changes.append(Change(series.key, series.epochs[i], series.campaigns[i], series.campaigns[i - 1],
                              float(cp.mean_before()), float(cp.mean_after()), pct, float(cp.pvalue()), worse))
    return changes


def change_point(change: Change):
    """The bench_change point Grafana's history board shows, at the time the new level was first measured."""
    k = change.key
    return make_point("bench_change", {"board": k.board, "family": k.family, "workload": k.workload,
                                       "metric": k.metric, "variant": k.variant},
                      {"before": change.before, "after": change.after, "change_pct": change.change_pct},
                      int(change.epoch * 1e9))


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%MZ", time.gmtime(epoch))


def _num(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def describe(series: Series, changes: list[Change]) -> list[str]:
    """Terminal lines for one series: a heading, then one line per change point."""
    span = f"{_when(series.epochs[0])}..{_when(series.epochs[-1])}"
    count = len(series.values)
    found = f"{len(changes)} change point{'s' if len(changes) != 1 else ''}" if changes else "no change point"
    few = f"; under {FEW} campaigns only large steps show" if count < FEW else ""
    lines = [f"{series.key.label}: {count} campaign{'s' if count != 1 else ''} ({span}), {found}{few}"]
    unit = f" {series.unit}" if series.unit else ""
    for c in changes:
        lines.append(f"  {_when(c.epoch)} {c.campaign}: {_num(c.before)} -> {_num(c.after)}{unit} "
                     f"({c.change_pct:+.1f}%, {'worse' if c.worse else 'better'}; p={c.pvalue:.2g}; "
                     f"after {c.previous})")
    return lines


def analyze(reports: Path, board: str | None = None, metric: str | None = None, since: float | None = None,
            min_change: float | None = None) -> list[tuple[Series, list[Change]]]:
    """The chosen series of the history under `reports`, each with its change points."""
    return [(s, change_points(s, min_change)) for s in select(read_history(reports, since), board, metric)]


def write_changes(changes: list[Change], wait_s: float = 5.0) -> str:
    """Send the bench_change points to the lab's database; a line saying where they went. Points the
    database did not take stay in the telemetry spool and go with the next sink that runs."""
    from sisctl.telemetry.lab import send_points
    waiting, error, url = send_points([change_point(c) for c in changes], wait_s)
    if not waiting:
        return f"{len(changes)} bench_change point(s) written to {url}"
    return (f"{waiting} bench_change point(s) spooled for {url}, sent with the next telemetry "
            f"({error or 'no answer yet'})")
