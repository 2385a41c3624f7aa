"""The bench campaign's options (baseline, candidate, suite, budget) and the config they make; each
bad value is a UsageError naming it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from sisctl.campaign.core.options import Option, on_off
from sisctl.duration import parse_duration
from sisctl.errors import UsageError


@dataclass
class BenchConfig:
    board: str
    baseline: str
    candidate: str
    suite: str = "default"
    budget_s: float = 900.0
    seed: int = 1
    workloads: list[str] | None = None     # only these workloads of the suite (bisecting one metric)
    profile: str = "off"                   # on: a differential profile of each workload that moved


def parse_budget(text: Any) -> float:
    """'15m', '90s', '1h' or plain seconds; at least one block of boots (10 s)."""
    return parse_duration(text, "--budget", at_least=10)


def variant_of(side: str) -> Callable[[Any], str]:
    """A parser for --baseline or --candidate: a variant whose recipe exists; required."""
    def parse(text: Any) -> str:
        from sisctl.build.variant import checked_variant
        if not text:
            raise UsageError(f"--{side} VARIANT is required for bench campaigns (e.g. linux-kbuild, "
                             "debian-arm64+mitigations=off)")
        checked_variant(str(text), f"--{side}")
        return str(text)
    return parse


OPTIONS = (
    Option("baseline", variant_of("baseline"), None,
           "baseline variant, RECIPE[+KERNEL-OPTION...] (e.g. linux-kbuild); required"),
    Option("candidate", variant_of("candidate"), None,
           "candidate variant (e.g. debian-arm64+mitigations=off); required"),
    Option("suite", str, "default", "suite name or YAML path (sisctl/campaign/bench/suites/)"),
    Option("budget", parse_budget, "15m", "time budget, e.g. 15m, 90s, 1h", field="budget_s"),
    Option("profile", on_off("profile"), "off", "on: after the verdicts, sample each workload that regressed "
           "or improved on both kernels and name the functions whose share changed"),
)
