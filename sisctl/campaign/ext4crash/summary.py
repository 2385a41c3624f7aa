"""ext4-crash findings: per-scenario figures, a JUnit case per scenario, and a table for a terminal."""
from __future__ import annotations

import statistics

from sisctl.report.junit import Case


def _p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def failure_cause(record: dict) -> str:
    """Why a state failed, in words: the guarantees it broke, else what e2fsck says of its image."""
    if record["violations"]:
        return "; ".join(f"{v['kind']} {v['path']}: {v['guarantee']}" for v in record["violations"])
    meaning = record["e2fsck"]["meaning"]
    if record["outcome"] == "mount-failed":
        return f"e2fsck: {meaning}, yet the kernel could not mount it" if meaning == "clean" else f"e2fsck: {meaning}"
    if record["outcome"] == "sanity":
        return f"sanity checks failed after mounting ({record.get('guest_problem') or 'no detail'})"
    return f"e2fsck: {meaning}"


def summarize(records: list[dict]) -> dict:
    states = [r for r in records if r.get("type") == "state"]
    scenarios: dict[str, dict] = {}
    for scenario in dict.fromkeys(r["scenario"] for r in states):
        mine = [r for r in states if r["scenario"] == scenario]
        recovery = [r["recovery_ms"] for r in mine if r["recovery_ms"] is not None]
        boots = [r["boot_s"] for r in mine if r.get("boot_s") is not None]   # power-cut: the boot after the cut
        outcomes = [r["outcome"] for r in mine]
        failing = [r for r in mine if r["outcome"] != "ok"]
        scenarios[scenario] = {
            "states": len(mine),
            "recovered_ok": outcomes.count("ok"),
            "recovery_rate": round(outcomes.count("ok") / len(mine), 4),
            "violations": outcomes.count("violation"),
            "fsck_failures": outcomes.count("fsck"),
            "mount_failures": outcomes.count("mount-failed"),
            "sanity_failures": outcomes.count("sanity"),
            "recovery_ms_mean": round(statistics.fmean(recovery), 2) if recovery else None,
            "recovery_ms_p99": round(_p99(recovery), 2) if recovery else None,
            **({"boot_s_mean": round(statistics.fmean(boots), 2), "boot_s_max": round(max(boots), 2)} if boots else {}),
            "failures": [{"state": r["state_key"], "outcome": r["outcome"],
                          "violations": [f"{v['kind']} {v['path']}: {v['guarantee']}" for v in r["violations"]],
                          "e2fsck": r["e2fsck"]["meaning"], "cause": failure_cause(r),
                          "reproduce": r["reproduce"]} for r in failing],
        }
    total = len(states)
    return {"states": total, "ok": sum(r["outcome"] == "ok" for r in states),
            "failed": sum(r["outcome"] != "ok" for r in states), "scenarios": scenarios}


def scenario_cases(summary: dict) -> list[Case]:
    """A JUnit case per scenario: its failing states, each with what it violated and how to replay it."""
    cases = []
    for name, s in summary["scenarios"].items():
        detail = "\n".join(f"{f['state']}: {f['outcome']}; {f['cause']}"
                           + f"\n  reproduce: {f['reproduce']}" for f in s["failures"])
        cases.append(Case(name, not s["failures"], detail))
    return cases


def terminal_summary(summary: dict) -> str:
    lines = [f"{'scenario':32s} {'states':>7s} {'ok':>6s} {'viol':>5s} {'fsck':>5s} {'rec ms mean/p99':>16s}"]
    for name, s in summary["scenarios"].items():
        rec = f"{s['recovery_ms_mean']}/{s['recovery_ms_p99']}" if s["recovery_ms_mean"] is not None else "-"
        lines.append(f"{name:32s} {s['states']:7d} {s['recovered_ok']:6d} {s['violations']:5d} "
                     f"{s['fsck_failures']:5d} {rec:>16s}")
        for failure in s["failures"][:5]:
            lines.append(f"  FAIL {failure['state']} {failure['outcome']}: {failure['cause']}")
    for board, b in summary.get("by_board", {}).items():
        lines.append(f"  {board}: {b['states']} states, {b['failed']} failed, {b['states_per_minute']} states/min")
    lines.append(f"{summary['states']} crash states checked: {summary['ok']} ok, {summary['failed']} failed"
                 + (f"; {summary['states_per_minute']} states/min" if summary.get("by_board")
                    and summary.get("states_per_minute") is not None else ""))
    return "\n".join(lines)
