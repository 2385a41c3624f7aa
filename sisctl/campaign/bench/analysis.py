"""From recorded runs to one comparison per metric and family.

Only runs of complete blocks count (a block record names its attempt, so runs of a block that
a killed campaign left half done are ignored and the block is measured again); warm-up runs
never count. Families are adjusted for multiple testing separately: the gate family's verdicts
decide the exit code, an advisory family's are shown.
"""
from __future__ import annotations

from collections import defaultdict

from sisctl.campaign.bench.stats import Comparison, compare, decide

SIDES = ("baseline", "candidate")


def complete_runs(records: list[dict]) -> list[dict]:
    done = {(r["block"], r["attempt"]) for r in records if r.get("type") == "block"}
    return [r for r in records if r.get("type") == "run" and not r["warmup"] and (r["block"], r["attempt"]) in done]


def block_values(records: list[dict]) -> dict[str, dict]:
    """metric key -> {"family", "better", "unit", "blocks": {block: (baseline values, candidate values)}}."""
    found: dict[str, dict] = {}
    for r in complete_runs(records):
        for name, m in r["metrics"].items():
            key = f"{r['family']}:{r['workload']}.{name}"
            entry = found.setdefault(key, {"family": r["family"], "workload": r["workload"], "better": m["better"],
                                           "unit": m["unit"], "blocks": defaultdict(lambda: ([], []))})
            entry["blocks"][r["block"]][SIDES.index(r["side"])].append(m["value"])
    return found


def unsupported_workloads(records: list[dict]) -> dict[tuple[str, str], str]:
    """(family, workload) -> why the board could not run it (the agent said so; e.g. a cross-CPU
    workload on a one-CPU board), for workloads with no measured value at all in that family."""
    skipped: dict[tuple[str, str], str] = {}
    measured = set()
    for r in complete_runs(records):
        key = (r["family"], r["workload"])
        if r.get("skipped"):
            skipped.setdefault(key, r["skipped"])
        if r["metrics"]:
            measured.add(key)
    return {key: why for key, why in skipped.items() if key not in measured}


def comparisons(records: list[dict], min_effect, gate_families: set[str]) -> list[Comparison]:
    """Every metric's comparison with its verdict; `min_effect(workload, family)` gives the bound.
    A workload the board cannot run is one inconclusive comparison that says why (never a number)."""
    result = []
    for key, entry in sorted(block_values(records).items()):
        blocks = [entry["blocks"][b] for b in sorted(entry["blocks"])]
        c = compare(key, entry["family"], entry["better"], min_effect(entry["workload"], entry["family"]), blocks)
        c.unit, c.gate = entry["unit"], entry["family"] in gate_families
        result.append(c)
    for family in {c.family for c in result}:
        decide([c for c in result if c.family == family])
    for (family, workload), why in sorted(unsupported_workloads(records).items()):
        result.append(Comparison(f"{family}:{workload}.unsupported", family, "lower", min_effect(workload, family),
                                 reason=f"unsupported on this board: {why}", gate=family in gate_families,
                                 supported=False))
    return result
