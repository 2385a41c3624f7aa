"""What a benchmark campaign reports: JUnit cases, the terminal table, the job page's sections."""
from __future__ import annotations

from sisctl.campaign.bench.analysis import block_values
from sisctl.campaign.bench.stats import Comparison
from sisctl.report.junit import Case

ADVISORY = "advisory: wall time under QEMU TCG follows the host's load"


def _change(c: dict) -> str:
    if c["ratio"] is None:
        return "-"
    lo, hi = c["ci"]
    return f"{(c['ratio'] - 1) * 100:+.1f}% [{(lo - 1) * 100:+.1f}%, {(hi - 1) * 100:+.1f}%]"


def cases(found: list[Comparison]) -> list[Case]:
    """A case per metric: regressed fails (gate family only); inconclusive is skipped with its reason;
    an advisory family's regression is skipped too, saying it is advisory."""
    result = []
    for c in found:
        detail = f"{c.verdict}: {c.change_text} ({c.family} family, {c.blocks} blocks); {c.reason}"
        if c.verdict == "inconclusive":
            result.append(Case(c.key, True, detail, skipped=True))
        elif c.verdict == "regressed" and not c.gate:
            result.append(Case(c.key, True, f"{ADVISORY}; {detail}", skipped=True))
        else:
            result.append(Case(c.key, c.verdict != "regressed", detail))
    return result


def headline(found: list[Comparison], blocks: int) -> str:
    gate = [c for c in found if c.gate]
    counts = {v: sum(c.verdict == v for c in gate) for v in ("regressed", "improved", "unchanged", "inconclusive")}
    families = sorted({c.family for c in gate})
    return (f"{len(gate)} gate metrics ({'/'.join(families) or '-'} family), {blocks} blocks: "
            + ", ".join(f"{n} {v}" for v, n in counts.items()))


def _value(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"


def _verdict(c: dict) -> str:
    return c["verdict"] if c.get("supported", True) else f"{c['verdict']} ({c['reason']})"


def terminal_table(summary: dict) -> str:
    metrics = summary.get("metrics") or []
    head = f"{summary.get('baseline')} (baseline) vs {summary.get('candidate')} (candidate), " \
           f"suite {summary.get('suite')}, {summary.get('blocks', 0)} blocks; stopped: {summary.get('stopped') or '-'}"
    if not metrics:
        return head + "\nno complete block: nothing to compare"
    rows = [("metric", "baseline", "candidate", "change [95% CI]", "verdict", "family")]
    for c in metrics:
        family = c["family"] + ("" if c["gate"] else " (advisory)")
        rows.append((c["key"].split(":", 1)[1], f"{_value(c['baseline'])} {c['unit']}".strip(),
                     f"{_value(c['candidate'])} {c['unit']}".strip(), _change(c), _verdict(c), family))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join([head, *lines])


def page_sections(summary: dict, records: list[dict]) -> list:
    """The verdict table and, per workload, the distribution of every block's values of each side."""
    from sisctl.report import plots
    from sisctl.report.page import Badge, Figure, Paragraph, Table

    metrics = summary.get("metrics") or []
    sections: list = [Paragraph(terminal_table(summary).splitlines()[0])]
    if not metrics:
        return sections
    status = {"regressed": "failed", "improved": "passed", "unchanged": "passed", "inconclusive": "skipped"}
    sections.append(Table("Verdicts", ["metric", "family", "baseline", "candidate", "change [95% CI]", "verdict",
                                       "blocks", "why"],
                          [[c["key"].split(":", 1)[1], c["family"] + ("" if c["gate"] else " (advisory)"),
                            _value(c["baseline"]), _value(c["candidate"]), _change(c),
                            Badge(c["verdict"], status[c["verdict"]]), c["blocks"], c["reason"]] for c in metrics]))
    values = block_values(records)
    for key, entry in values.items():
        groups = {}
        for block in sorted(entry["blocks"]):
            base, cand = entry["blocks"][block]
            groups[f"{block + 1}A"], groups[f"{block + 1}B"] = base, cand
        sections.append(Figure(key, plots.distribution(groups, f"{key.split('.', 1)[1]} ({entry['unit']})"),
                               "each block's measured values: A baseline, B candidate"))
    return sections
