"""Two profiles of the same work compared: each function's share of the samples (self and total)
on both sides, ranked by how much it changed, and named only where the change is larger than
sampling noise (a two-proportion test on its self samples, Bonferroni-corrected over the functions
compared) and at least MIN_CHANGE of all samples."""
from __future__ import annotations

import math

from scipy.stats import norm

from sisctl.profile.flame import flame_svg
from sisctl.profile.folded import Folded, function_counts

ALPHA = 0.01
MIN_CHANGE = 0.01        # a change under one percentage point is not named, however sure


def _p_value(a: int, n: int, b: int, m: int) -> float:
    if not n or not m:
        return 1.0
    pooled = (a + b) / (n + m)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
    if spread == 0:
        return 1.0
    return float(2 * norm.sf(abs(b / m - a / n) / spread))


def diff_profiles(before: Folded, after: Folded) -> list[dict]:
    """Every function on either side, the largest change of self share first."""
    own_a, total_a, n = function_counts(before)
    own_b, total_b, m = function_counts(after)
    names = set(total_a) | set(total_b)
    rows = []
    for name in names:
        p = min(1.0, _p_value(own_a[name], n, own_b[name], m) * len(names))
        before_share, after_share = own_a[name] / n if n else 0.0, own_b[name] / m if m else 0.0
        rows.append({"function": name, "before_self": own_a[name], "after_self": own_b[name],
                     "before_share": before_share, "after_share": after_share,
                     "change": after_share - before_share,
                     "total_change": (total_b[name] / m if m else 0) - (total_a[name] / n if n else 0),
                     "p_value": p, "significant": p < ALPHA and abs(after_share - before_share) >= MIN_CHANGE})
    return sorted(rows, key=lambda r: (-abs(r["change"]), r["function"]))


def growers(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["significant"] and r["change"] > 0]


def shrinkers(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["significant"] and r["change"] < 0]


def diff_flame_svg(after: Folded, rows: list[dict], title: str) -> str:
    """The candidate's flame graph, each function red as far as its share grew, blue as far as it
    shrank (pale where the change is within noise)."""
    colors, notes = {}, {}
    for r in rows:
        strength = min(1.0, abs(r["change"]) / 0.2)
        shade = int(230 - 150 * strength) if r["significant"] else 225
        colors[r["function"]] = f"rgb(240,{shade},{shade})" if r["change"] > 0 else f"rgb({shade},{shade},240)"
        notes[r["function"]] = f"self share {100 * r['before_share']:.1f} % -> {100 * r['after_share']:.1f} %" + \
            (" (significant)" if r["significant"] else "")
    return flame_svg(after, title, colors, notes)
