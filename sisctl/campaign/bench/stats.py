"""Baseline vs candidate, per metric, from interleaved blocks of boots.

The method (also in the README): each block boots baseline and candidate in ABBA (or BAAB)
order; the block's effect is log(median candidate value / median baseline value) over the
measured repetitions of its boots, so drift and a slow boot-to-boot wander cancel inside the
block. Over the n blocks, the effect estimate is the mean of those log ratios, with a 95 %
Student t interval (n - 1 degrees of freedom) and a one-sample t-test of "no change"; the
p-values of all metrics of one campaign are adjusted together with Benjamini-Hochberg. Verdicts,
against a minimum effect m that matters (a ratio of 1 +- m):
  unchanged     the 95 % interval lies inside [1 - m, 1 + m]
  regressed     adjusted p < alpha and the estimate is worse than the baseline by m or more
  improved      adjusted p < alpha and the estimate is better by m or more
  inconclusive  anything else (too few blocks, too noisy, or a real change smaller than m
                whose interval still reaches past m)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

ALPHA = 0.05
CONFIDENCE = 0.95
DECIDED = ("regressed", "improved", "unchanged")


@dataclass
class Comparison:
    key: str                       # "family:workload.metric"
    family: str
    better: str                    # "lower" or "higher"
    min_effect: float              # 0.05 = a 5 % change matters
    blocks: int = 0
    baseline: float | None = None  # median of every measured baseline value
    candidate: float | None = None
    ratio: float | None = None     # candidate / baseline, geometric mean over blocks
    ci: tuple[float, float] | None = None
    p: float | None = None
    p_adjusted: float | None = None
    verdict: str = "inconclusive"
    reason: str = ""
    block_ratios: list[float] = field(default_factory=list)
    unit: str = ""
    gate: bool = True              # False: advisory (shown, never fails the campaign)
    supported: bool = True         # False: the board cannot run the workload (reason says why)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def change_text(self) -> str:
        if self.ratio is None:
            return "-"
        lo, hi = self.ci
        return f"{_pct(self.ratio)} [{_pct(lo)}, {_pct(hi)}]"


def _pct(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.1f}%"


def block_log_ratio(baseline: list[float], candidate: list[float]) -> float | None:
    """log(median candidate / median baseline) of one block; None when a side has no usable value."""
    if not baseline or not candidate:
        return None
    b, c = float(np.median(baseline)), float(np.median(candidate))
    if b <= 0 or c <= 0:
        return None
    return math.log(c / b)


def estimate(log_ratios: list[float], confidence: float = CONFIDENCE) -> tuple[float, tuple[float, float], float]:
    """Mean log ratio, its t interval and the two-sided p-value of 'no change' (n >= 2).

    Blocks that agree exactly (a deterministic count) have no spread: the interval is the point
    itself, and p is 0 unless the point is 0."""
    d = np.asarray(log_ratios, dtype=float)
    mean = float(d.mean())
    if np.ptp(d) < 1e-12:   # equal up to rounding
        return mean, (mean, mean), (1.0 if mean == 0 else 0.0)
    test = stats.ttest_1samp(d, 0.0)
    ci = test.confidence_interval(confidence_level=confidence)
    return mean, (float(ci.low), float(ci.high)), float(test.pvalue)


def compare(key: str, family: str, better: str, min_effect: float,
            blocks: list[tuple[list[float], list[float]]]) -> Comparison:
    """One metric's comparison (verdict still open until `decide`) from (baseline, candidate) values per block."""
    result = Comparison(key, family, better, min_effect)
    ratios = [r for r in (block_log_ratio(b, c) for b, c in blocks) if r is not None]
    result.blocks = len(ratios)
    every_b = [v for b, _ in blocks for v in b]
    every_c = [v for _, c in blocks for v in c]
    result.baseline = float(np.median(every_b)) if every_b else None
    result.candidate = float(np.median(every_c)) if every_c else None
    result.block_ratios = [math.exp(r) for r in ratios]
    if len(ratios) < 2:
        result.reason = f"{len(ratios)} complete block(s); a comparison needs at least 2"
        return result
    mean, (lo, hi), p = estimate(ratios)
    result.ratio, result.ci, result.p = math.exp(mean), (math.exp(lo), math.exp(hi)), p
    return result


def decide(comparisons: list[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """Adjust the p-values together (Benjamini-Hochberg) and give each comparison its verdict."""
    tested = [c for c in comparisons if c.p is not None]
    if tested:
        adjusted = stats.false_discovery_control([c.p for c in tested], method="bh")
        for c, q in zip(tested, adjusted):
            c.p_adjusted = float(q)
    for c in comparisons:
        c.verdict, c.reason = _verdict(c, alpha) if c.p is not None else ("inconclusive", c.reason)
    return comparisons


def _verdict(c: Comparison, alpha: float) -> tuple[str, str]:
    m, (lo, hi) = c.min_effect, c.ci
    if 1 - m <= lo and hi <= 1 + m:
        return "unchanged", f"95% interval inside +-{m:.0%}"
    worse = c.ratio >= 1 + m if c.better == "lower" else c.ratio <= 1 - m
    better = c.ratio <= 1 - m if c.better == "lower" else c.ratio >= 1 + m
    if c.p_adjusted < alpha and (worse or better):
        word = "regressed" if worse else "improved"
        return word, f"{_pct(c.ratio)} beyond +-{m:.0%}, adjusted p={c.p_adjusted:.3g}"
    if c.p_adjusted < alpha:
        return "inconclusive", (f"a change ({_pct(c.ratio)}, adjusted p={c.p_adjusted:.3g}) smaller than "
                                f"{m:.0%} whose interval reaches past it; more blocks would decide")
    return "inconclusive", (f"interval {_pct(lo)}..{_pct(hi)} spans the +-{m:.0%} bounds "
                            f"(adjusted p={c.p_adjusted:.3g}, {c.blocks} blocks)")


def all_decided(comparisons: list[Comparison]) -> bool:
    return bool(comparisons) and all(c.verdict in DECIDED for c in comparisons)


def detectable_change(log_ratios: list[float], blocks: int, alpha: float = ALPHA, power: float = 0.8) -> float:
    """The smallest change (as a fraction) a campaign of `blocks` blocks flags with `power`, given the
    block-to-block spread seen in `log_ratios` (an A/A run): (t_{1-alpha/2} + t_power) * sd / sqrt(n)."""
    sd = float(np.std(log_ratios, ddof=1)) if len(log_ratios) > 1 else float("nan")
    df = blocks - 1
    shift = (stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * sd / math.sqrt(blocks)
    return math.exp(shift) - 1
