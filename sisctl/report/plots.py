"""The few plots job pages share, drawn with matplotlib's object API (no pyplot state, no display).

Each returns a matplotlib Figure for sisctl.report.page.Figure, which keeps it as inline SVG.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")   # never a display, whatever the environment says

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

# the same meaning always in the same colour, on every page
OUTCOME_COLOURS = {"ok": "#1e8e3e", "passed": "#1e8e3e", "violation": "#c5221f", "failed": "#c5221f",
                   "fsck": "#e37400", "mount-failed": "#8e24aa", "sanity": "#f9ab00", "error": "#c26401",
                   "aborted": "#5f6774", "skipped": "#9aa0a6"}
MAX_DOTS = 400          # per group in a distribution: more only makes the page heavy
PALETTE = ["#1a5fb4", "#26a269", "#e66100", "#9141ac", "#c64600", "#5e5c64", "#2ec27e", "#c01c28"]


def _figure(height: float = 3.2, width: float = 8.5) -> tuple[Figure, object]:
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#e3e7ee", linewidth=0.8)
    axes.set_axisbelow(True)
    return figure, axes


def _width(categories: int) -> float:
    """Narrower figures for a few categories, so two bars are not each a hand wide."""
    return min(8.5, 3.5 + 1.2 * categories)


def _colour(name: str, index: int) -> str:
    return OUTCOME_COLOURS.get(name, PALETTE[index % len(PALETTE)])


def _label_ticks(axes, labels: list[str]) -> None:
    axes.set_xticks(range(len(labels)), labels, rotation=25 if max(map(len, labels), default=0) > 10 else 0,
                    ha="right" if max(map(len, labels), default=0) > 10 else "center", fontsize=8)


def bars(counts: dict[str, dict[str, float]] | dict[str, float], ylabel: str = "count") -> Figure:
    """Bars per category; with nested counts ({category: {part: n}}) the parts are stacked, one colour each."""
    categories = list(counts)
    nested = {c: (v if isinstance(v, dict) else {"": v}) for c, v in counts.items()}
    parts = list(dict.fromkeys(p for v in nested.values() for p in v))
    figure, axes = _figure(3.6 if any(len(c) > 10 for c in categories) else 3.2, _width(len(categories)))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom = [0.0] * len(categories)
    for i, part in enumerate(parts):
        heights = [nested[c].get(part, 0) for c in categories]
        axes.bar(range(len(categories)), heights, bottom=bottom, label=part or None, color=_colour(part, i),
                 width=0.65)
        bottom = [b + h for b, h in zip(bottom, heights)]
    _label_ticks(axes, categories)
    axes.set_ylabel(ylabel)
    if any(parts):
        axes.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    return figure


def distribution(groups: dict[str, list[float]], ylabel: str) -> Figure:
    """A box per group with every value drawn over it, so a handful of values still reads right."""
    names = [n for n, values in groups.items() if values]
    figure, axes = _figure(3.6 if any(len(n) > 10 for n in names) else 3.2, _width(len(names)))
    if names:
        data = [groups[n] for n in names]
        axes.boxplot(data, positions=range(len(names)), widths=0.5, showfliers=False,
                     medianprops={"color": "#c64600"})
        for i, values in enumerate(data):
            values = values[::max(1, len(values) // MAX_DOTS)]   # the box has them all; dots thin out
            spread = [i + ((k * 0.6180339) % 1 - 0.5) * 0.3 for k in range(len(values))]
            axes.scatter(spread, values, s=9, alpha=0.55, color="#1a5fb4", linewidths=0, zorder=3)
        _label_ticks(axes, names)
    else:
        axes.text(0.5, 0.5, "no values", ha="center", va="center", transform=axes.transAxes, color="#5f6774")
    axes.set_ylabel(ylabel)
    return figure


def histogram(values: list[float], xlabel: str, bins: int = 30) -> Figure:
    figure, axes = _figure()
    axes.hist(values, bins=bins, color="#1a5fb4", edgecolor="white", linewidth=0.5)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("count")
    return figure


def rate_over_time(seconds: list[float], unit: str = "per minute", span_s: float | None = None) -> Figure:
    """Events per minute over a job's time, from each event's time in seconds since the job started:
    a bar per time window (about 40 over the job, at least 10 s each), so pauses show as gaps."""
    figure, axes = _figure(2.8)
    times = sorted(seconds)
    if times:
        span = max(span_s or 0.0, times[-1], 1.0)
        window = max(10.0, span / 40)
        counts = [0] * (int(span // window) + 1)
        for t in times:
            counts[min(len(counts) - 1, max(0, int(t // window)))] += 1
        axes.bar([(k * window) / 60 for k in range(len(counts))], [c * 60.0 / window for c in counts],
                 width=window / 60 * 0.9, align="edge", color="#1a5fb4")
        axes.set_xlim(0, len(counts) * window / 60)
    axes.set_xlabel("minutes since start")
    axes.set_ylabel(unit)
    return figure
