"""The benchmark statistics: estimates, intervals, multiple-testing correction and verdicts."""
from __future__ import annotations

import math
import random

import pytest

from sisctl.campaign.bench.stats import all_decided, compare, decide, detectable_change, estimate


def blocks_with(ratio: float, noise: float, n: int, seed: int = 1, reps: int = 3) -> list:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        drift = rng.uniform(0.8, 1.2)   # the whole block slower or faster: must cancel
        base = [1000 * drift * (1 + rng.gauss(0, noise)) for _ in range(reps)]
        cand = [1000 * drift * ratio * (1 + rng.gauss(0, noise)) for _ in range(reps)]
        out.append((base, cand))
    return out


def verdict(ratio, noise, n, min_effect=0.05, better="lower", seed=1):
    c = compare("work:w.m", "work", better, min_effect, blocks_with(ratio, noise, n, seed))
    return decide([c])[0]


def test_a_clear_slowdown_is_a_regression_and_its_interval_holds_the_truth():
    c = verdict(1.20, 0.01, 6)
    assert c.verdict == "regressed"
    assert c.ci[0] < 1.20 < c.ci[1] and c.ci[0] > 1.05


def test_a_clear_speedup_is_an_improvement_and_direction_follows_better():
    assert verdict(0.80, 0.01, 6).verdict == "improved"
    # for a throughput (higher is better) the same ratio is a regression
    assert verdict(0.80, 0.01, 6, better="higher").verdict == "regressed"
    assert verdict(1.20, 0.01, 6, better="higher").verdict == "improved"


def test_no_change_with_little_noise_is_unchanged():
    c = verdict(1.0, 0.005, 6)
    assert c.verdict == "unchanged" and 0.95 <= c.ci[0] and c.ci[1] <= 1.05


def test_noise_larger_than_the_effect_is_inconclusive_not_a_verdict():
    c = verdict(1.08, 0.3, 3)
    assert c.verdict == "inconclusive" and "spans" in c.reason


def test_a_real_change_smaller_than_the_minimum_effect_is_not_a_regression():
    c = verdict(1.02, 0.001, 8)   # significant, but 2 % < 5 %
    assert c.verdict == "unchanged"
    c = verdict(1.045, 0.02, 4, seed=3)
    assert c.verdict in ("inconclusive", "unchanged")


def test_one_block_is_never_decided():
    c = decide([compare("work:w.m", "work", "lower", 0.05, blocks_with(2.0, 0.0, 1))])[0]
    assert c.verdict == "inconclusive" and "at least 2" in c.reason and c.ratio is None


def test_block_drift_cancels():
    # blocks 20 % apart in speed, the candidate always exactly 10 % slower inside each
    c = verdict(1.10, 0.0, 4)
    assert c.verdict == "regressed" and c.ratio == pytest.approx(1.10) and c.ci == pytest.approx((1.10, 1.10))


def test_identical_deterministic_counts_are_unchanged():
    c = decide([compare("work:w.m", "work", "lower", 0.02, [([250.0] * 3, [250.0] * 3)] * 3)])[0]
    assert c.verdict == "unchanged" and c.p == 1.0


def test_multiple_testing_correction_raises_p_values():
    borderline = [compare(f"work:w.m{i}", "work", "lower", 0.01, blocks_with(1.03, 0.02, 4, seed=i))
                  for i in range(10)]
    decide(borderline)
    assert all(c.p_adjusted >= c.p for c in borderline)
    assert any(c.p_adjusted > c.p for c in borderline)


def test_estimate_matches_the_t_interval_by_hand():
    d = [0.1, 0.12, 0.08, 0.11]
    mean, (lo, hi), p = estimate(d)
    sd = (sum((x - mean) ** 2 for x in d) / 3) ** 0.5
    half = 3.182446305284263 * sd / 2   # t(0.975, 3) * sd / sqrt(4)
    assert mean == pytest.approx(0.1025) and lo == pytest.approx(mean - half) and hi == pytest.approx(mean + half)
    assert 0 < p < 0.01


def test_all_decided_needs_every_metric_decided():
    done = verdict(1.2, 0.01, 6)
    open_ = verdict(1.08, 0.3, 3)
    assert all_decided([done]) and not all_decided([done, open_]) and not all_decided([])


def test_detectable_change_shrinks_with_more_blocks():
    spread = [math.log(1 + random.Random(i).gauss(0, 0.02)) for i in range(8)]
    assert detectable_change(spread, 8) < detectable_change(spread, 3)
    assert 0 < detectable_change(spread, 8) < 0.1


def sequential_campaign(ratio: float, noise: float, rng: random.Random, metrics: int = 4, min_blocks: int = 3,
                        max_blocks: int = 8) -> list[str]:
    """One simulated campaign under the real stopping rule; the verdict of each metric at the stop."""
    data = [blocks_with(ratio, noise, max_blocks, seed=rng.randrange(10**9)) for _ in range(metrics)]
    found = []
    for n in range(min_blocks, max_blocks + 1):
        found = decide([compare(f"work:w.m{i}", "work", "lower", 0.02, d[:n]) for i, d in enumerate(data)])
        if all_decided(found):
            break
    return [c.verdict for c in found]


def test_a_versus_a_false_alarms_stay_rare_under_the_stopping_rule():
    rng = random.Random(7)
    campaigns = [sequential_campaign(1.0, 0.02, rng, metrics=3) for _ in range(100)]
    false_alarms = sum(any(v in ("regressed", "improved") for v in c) for c in campaigns)
    assert false_alarms / len(campaigns) <= 0.05


def test_a_planted_change_is_found_in_every_campaign():
    rng = random.Random(8)
    for _ in range(10):
        verdicts = sequential_campaign(1.08, 0.01, rng, metrics=2)
        assert verdicts == ["regressed", "regressed"]
