"""Summary figures, JUnit cases and the end-of-run table of a fuzz campaign, from its records."""
from __future__ import annotations

from sisctl.campaign.fuzz.coverage import NO_KCOV, OFF
from sisctl.report.junit import Case


def summarize(records: list[dict]) -> dict:
    batches = [r for r in records if r.get("type") == "batch"]
    crashes = [r for r in records if r.get("type") == "crash"]
    execs = sum(r["execs"] for r in batches)
    seconds = sum(r["seconds"] for r in batches)
    restores = [r["restore_ms"] for r in batches if r.get("restore_ms")]
    unique: dict[str, dict] = {}
    for r in crashes:
        entry = unique.setdefault(r["title_id"], {"title": r["title"], "title_id": r["title_id"], "kind": r["kind"],
                                                  "usable_stack": r["usable_stack"], "first_exec": r["exec"],
                                                  "count": 0, "reproduce": r.get("reproduce", "")})
        entry["count"] += 1
    for r in records:
        if r.get("type") == "minimized" and r["title_id"] in unique:
            unique[r["title_id"]]["minimized"] = {k: r[k] for k in ("mutations", "ops", "confirmed_cold_boot",
                                                                     "c_program_confirmed", "error") if k in r}
    return {"execs": execs, "fuzz_seconds": round(seconds, 1),
            "execs_per_s": round(execs / seconds, 2) if seconds else 0.0,
            "mounted": sum(r["mounted"] for r in batches),
            "mounted_share": round(sum(r["mounted"] for r in batches) / execs, 3) if execs else None,
            "ext4_error_lines": sum(r["fs_errors"] for r in batches),
            "restore_ms": round(sum(restores) / len(restores), 1) if restores else None,
            "corpus": batches[-1]["corpus"] if batches else 0,
            "crash_occurrences": len(crashes),
            "unique_crashes": sorted(unique.values(), key=lambda u: u["first_exec"])}


def coverage_summary(option: str, records: list[dict], figures: dict | None) -> dict:
    """`coverage`: one line saying which feedback ran and how far it got; `coverage_growth`: the PCs and
    functions reached per subsystem by the seeds alone and by the whole campaign (KCOV only)."""
    batches = [r for r in records if r.get("type") == "batch"]
    feedback = (figures or {}).get("feedback") or (batches[-1].get("feedback") if batches else None)
    if option == "off" or feedback == "off":
        return {"coverage": OFF, "coverage_growth": None}
    if feedback != "kcov":
        return {"coverage": NO_KCOV if batches or figures else "none: no input was run", "coverage_growth": None}
    growth = (figures or {}).get("campaign") and {"seeds": figures["seeds"], "campaign": figures["campaign"],
                                                  "truncated_execs": figures.get("truncated_execs", 0)}
    total = growth["campaign"]["total"]["pcs"] if growth else batches[-1].get("coverage") or 0
    seeds = growth["seeds"]["total"]["pcs"] if growth else None
    line = f"KCOV: {total} kernel PCs reached" + (
        f", {seeds} by the seeds alone ({growth_text(seeds, total)})" if seeds else "")
    return {"coverage": line, "coverage_growth": growth}


def growth_text(before: int, after: int) -> str:
    return f"+{after - before}, {100 * (after - before) / before:.0f}% more" if before else f"{after}"


def growth_rows(growth: dict) -> list[list]:
    """[subsystem, PCs seeds, PCs campaign, growth, functions seeds, functions campaign] per subsystem."""
    rows = []
    for name, after in growth["campaign"].items():
        before = growth["seeds"].get(name, {})
        rows.append([name, before.get("pcs"), after["pcs"], growth_text(before.get("pcs") or 0, after["pcs"]),
                     before.get("functions"), after.get("functions")])
    return rows


def cases(summary: dict) -> list[Case]:
    """A failing case per unique finding; one passing case when there is none; none for an empty run."""
    if not summary["execs"]:
        return []
    found = [Case(f"fuzz: {u['title']}", False,
                  f"{u['count']} occurrence(s), first at exec {u['first_exec']}"
                  + ("" if u["usable_stack"] else "; the report has no usable stack")
                  + minimized_text(u.get("minimized"))
                  + (f"; {u['reproduce']}" if u["reproduce"] else ""))
             for u in summary["unique_crashes"]]
    return found or [Case("fuzz: no crash", True, f"{summary['execs']} execs, no kernel report, hang, "
                                                  "wrong errno or e2fsck failure")]


def minimized_text(minimized: dict | None) -> str:
    if not minimized:
        return ""
    if "error" in minimized:
        return "; not minimised: its input did not give the title again"
    cold = {True: ", confirmed on a cold boot", False: ", NOT confirmed on a cold boot"}.get(
        minimized.get("confirmed_cold_boot"), "")
    return f"; minimised to {minimized['mutations'][1]} mutation(s) and {minimized['ops'][1]} op(s){cold}"


def terminal_summary(summary: dict) -> str:
    lines = [f"execs {summary.get('execs', 0)}  ({summary.get('execs_per_s', 0)}/s)  "
             f"mounted {summary.get('mounted', 0)}  ext4 error lines {summary.get('ext4_error_lines', 0)}  "
             f"restore {summary.get('restore_ms')} ms  corpus {summary.get('corpus', 0)}",
             f"coverage: {summary.get('coverage', '')}"]
    growth = summary.get("coverage_growth")
    if growth:
        lines.append(f"  {'subsystem':12s} {'PCs seeds':>10s} {'campaign':>10s}  growth")
        lines += [f"  {r[0]:12s} {r[1] or 0:10d} {r[2]:10d}  {r[3]}" for r in growth_rows(growth)]
    for u in summary.get("unique_crashes", []):
        lines.append(f"  {u['count']:5d}x  {u['title']}  [{u['title_id']}]{minimized_text(u.get('minimized'))}")
    if not summary.get("unique_crashes"):
        lines.append("  no findings")
    return "\n".join(lines)
