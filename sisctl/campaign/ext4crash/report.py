"""The ext4-crash sections of a campaign's page: where the failures are, how recovery time is spread,
how the checking went over time, and each failing state with its evidence and replay command."""
from __future__ import annotations

import os
from pathlib import Path

from sisctl.campaign.ext4crash.summary import failure_cause
from sisctl.report import plots
from sisctl.report.page import Badge, Details, Figure, Group, Link, Paragraph, Section, Table

OUTCOMES = ("ok", "violation", "fsck", "mount-failed", "sanity")
FAILING_SHOWN = 40          # failing states drawn in full; the rest are listed in the table only
CONSOLE_LINES = 60


def page_sections(summary: dict, records: list[dict]) -> list[Section]:
    out = Path(summary["report"])
    states = [r for r in records if r.get("type") == "state"]
    if not states:
        return [Paragraph("No crash state was checked, so there is nothing to show beyond the verdict above.")]
    failing = [r for r in states if r["outcome"] != "ok"]
    sections: list[Section] = [
        Paragraph(f"{len(states)} crash states of {len(summary.get('scenarios', {}))} scenarios "
                  f"({summary.get('mode', '?')} mode), {len(failing)} failing; "
                  f"{summary.get('states_per_minute') or '?'} states checked per minute."),
        _scenario_table(summary),
        *_board_table(summary),
        Figure("States by scenario and outcome", plots.bars(_outcome_counts(states), ylabel="crash states")),
        Figure("Recovery time per scenario", plots.distribution(_recovery_by_scenario(states), "recovery (ms)"),
               caption="Time to mount each crash state (journal replay included); a dot per state."),
        _rate_section(summary, states),
    ]
    if failing:
        sections.append(_failing_table(failing))
        sections += [_failing_state(r, out) for r in failing[:FAILING_SHOWN]]
    return sections


def _scenario_table(summary: dict) -> Table:
    rows = [[name, s["states"], s["recovered_ok"], s["violations"], s["fsck_failures"], s["mount_failures"],
             s["sanity_failures"], s["recovery_ms_mean"], s["recovery_ms_p99"]]
            for name, s in summary.get("scenarios", {}).items()]
    return Table("Scenarios", ["scenario", "states", "ok", "violations", "e2fsck", "mount failed", "sanity",
                               "recovery ms (mean)", "recovery ms (p99)"], rows)


def _board_table(summary: dict) -> list[Table]:
    """Crash states per board of a campaign sharded across several (their status and kernel are above)."""
    boards = summary.get("by_board") or {}
    if not boards:
        return []
    rows = [[name, b["states"], b["failed"], b["states_per_minute"]] for name, b in boards.items()]
    rows.append(["all boards", summary["states"], summary["failed"], summary.get("states_per_minute")])
    return [Table("Crash states by board", ["board", "states", "failed", "states per minute"], rows)]


def _outcome_counts(states: list[dict]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for r in states:
        per = counts.setdefault(r["scenario"], {o: 0 for o in OUTCOMES})
        per[r["outcome"]] = per.get(r["outcome"], 0) + 1
    used = {o for per in counts.values() for o, n in per.items() if n}
    return {s: {o: n for o, n in per.items() if o in used} for s, per in counts.items()}


def _recovery_by_scenario(states: list[dict]) -> dict[str, list[float]]:
    groups: dict[str, list[float]] = {}
    for r in states:
        values = groups.setdefault(r["scenario"], [])
        if r.get("recovery_ms") is not None:
            values.append(r["recovery_ms"])
    return groups


def _rate_section(summary: dict, states: list[dict]) -> Section:
    times = [r["checked_at"] for r in states if r.get("checked_at")]
    if len(times) < 2:
        return Paragraph("Checking rate: the records carry too few check times to draw it.")
    finished = summary.get("finished_epoch") or max(times)
    start = min(min(times), finished - float(summary.get("elapsed_s") or 0))
    return Figure("Checking rate over the campaign",
                  plots.rate_over_time([t - start for t in times], "states per minute", finished - start),
                  caption="Crash states checked per minute; gaps are board sessions starting and workloads "
                          "running, or the time a resumed campaign was stopped.")


def _anchor(record: dict) -> str:
    return "state-" + "".join(c if c.isalnum() else "-" for c in record["state_key"])


def _failing_table(failing: list[dict]) -> Table:
    rows = [[Link(r["state_key"], f"#{_anchor(r)}") if i < FAILING_SHOWN else r["state_key"],
             Badge(r["outcome"]), failure_cause(r)] for i, r in enumerate(failing)]
    note = f"the first {FAILING_SHOWN} are shown in full below" if len(failing) > FAILING_SHOWN else ""
    return Table(f"Failing states ({len(failing)})", ["state", "outcome", "cause"], rows, note)


def _failing_state(record: dict, out: Path) -> Group:
    point = record["crash_point"]
    facts = [["outcome", Badge(record["outcome"])], ["cause", failure_cause(record)],
             ["crash point", point["state"] + (f": {point['log_entries']} log entries"
                                               if point.get("log_entries") is not None else "")
                             + (f", writes {point['dropped']} lost" if point["dropped"] else "")
                             + (f", {point['delay_s']} s into the workload" if point.get("delay_s") else "")],
             ["persistence calls completed", point["persistence_calls_completed"]],
             ["recovery ms", record.get("recovery_ms")],
             ["e2fsck", f"exit {record['e2fsck']['code']}: {record['e2fsck']['meaning']}"],
             ["guest", record.get("guest_problem") or None]]
    console = record.get("console")
    if console:
        facts.append(["console log", Link(Path(console["log"]).parent.name + "/console.log",
                                          os.path.relpath(console["log"], out))])
    sections: list[Section] = [Table("Crash state", [], facts)]
    if record["violations"]:
        sections.append(Table("Violated guarantees", ["kind", "path", "guarantee", "detail"],
                              [[v["kind"], v["path"], v["guarantee"], v.get("detail", "")]
                               for v in record["violations"]]))
    if record["e2fsck"].get("output"):
        sections.append(Details("e2fsck output", record["e2fsck"]["output"], open=True))
    sections += _console(console)
    sections.append(Details("Reproduce", record["reproduce"], open=True))
    return Group(record["state_key"], sections, anchor=_anchor(record))


def _console(console: dict | None) -> list[Section]:
    """The kernel's lines while this state's batch was recovered."""
    if not console:
        return []
    log = Path(console["log"])
    try:
        with open(log, "rb") as f:
            f.seek(console["from"])
            raw = f.read(max(0, console["to"] - console["from"]))
    except OSError as err:
        return [Paragraph(f"Console log {log}: {err.strerror}")]
    lines = [line for line in raw.decode(errors="replace").replace("\r", "").splitlines()
             if line.strip() and not line.startswith("@@SIS")]   # the agent's protocol lines carry no news
    excerpt = "\n".join(lines[-CONSOLE_LINES:]) or "(the kernel printed nothing while this batch recovered)"
    return [Details(f"Console while its batch recovered ({console.get('slot', '?')}; "
                    f"last {min(len(lines), CONSOLE_LINES)} kernel lines)", excerpt, open=True)]
