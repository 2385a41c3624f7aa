"""The fuzz sections of a campaign's page: throughput, what the inputs did, and each unique finding
with its report, reproducer files and the commands that re-run and shrink it."""
from __future__ import annotations

import json
from pathlib import Path

from sisctl.campaign.fuzz.summary import growth_rows
from sisctl.report import plots
from sisctl.report.page import Badge, Details, Figure, Group, Link, Paragraph, Section, Table

REPORT_LINES = 80


def page_sections(summary: dict, records: list[dict]) -> list[Section]:
    out = Path(summary["report"])
    batches = [r for r in records if r.get("type") == "batch"]
    if not batches:
        return [Paragraph("No input was run, so there is nothing to show beyond the verdict above.")]
    unique = summary.get("unique_crashes", [])
    sections: list[Section] = [
        Paragraph(f"{summary['execs']} inputs ({summary.get('target')}) in {summary['fuzz_seconds']} s: "
                  f"{summary['execs_per_s']} per second on one VM, {summary['mounted']} mounted, "
                  f"{summary['ext4_error_lines']} 'EXT4-fs error' lines (ext4 detecting corruption: counted, "
                  f"not bugs), {len(unique)} unique findings. Coverage: {summary.get('coverage')}."),
        Table("Figures", [], [["execs", summary["execs"]], ["execs per second", summary["execs_per_s"]],
                              ["share of inputs that mounted", summary.get("mounted_share")],
                              ["snapshot restore (ms, mean)", summary.get("restore_ms")],
                              ["corpus size", summary.get("corpus")],
                              ["checksum repair share", summary.get("checksum_repair")],
                              ["finding occurrences", summary.get("crash_occurrences")]]),
        _rate(batches),
    ]
    growth = summary.get("coverage_growth")
    if growth:
        sections.append(Table("Kernel coverage (KCOV): the seeds alone vs the whole campaign",
                              ["subsystem", "PCs, seeds alone", "PCs, campaign", "growth", "functions, seeds alone",
                               "functions, campaign"], growth_rows(growth)))
    if unique:
        sections.append(Table(f"Unique findings ({len(unique)})", ["title", "kind", "count", "first exec", "stack"],
                              [[Link(u["title"], f"#{u['title_id']}"), Badge("failed"), u["count"],
                                u["first_exec"], "usable" if u["usable_stack"] else "none"] for u in unique]))
        sections += [_finding(u, out) for u in unique]
    return sections


def _rate(batches: list[dict]) -> Section:
    times = [(r["ended_at"], r["execs"]) for r in batches if r.get("ended_at")]
    if len(times) < 2:
        return Paragraph("Exec rate: too few batches to draw it.")
    start = min(t for t, _ in times) - batches[0]["seconds"]
    events = [t - start for t, n in times for _ in range(n)]
    return Figure("Execs over the campaign", plots.rate_over_time(events, "execs per minute"),
                  caption="Inputs run per minute (counted per batch of execs); dips are kernel crashes, "
                          "whose sessions restart.")


def _finding(unique: dict, out: Path) -> Group:
    folder = out / "crashes" / unique["title_id"]
    rel = f"crashes/{unique['title_id']}"
    links = [[name, Link(name, f"{rel}/{name}")] for name in
             ("crash.json", "input.json", "image.img", "console.log", "repro.debugfs", "repro.c", "ops.txt")
             if (folder / name).exists()]
    sections: list[Section] = [Table("Finding", [], [["kind", unique["kind"]], ["occurrences", unique["count"]],
                                                     ["first exec", unique["first_exec"]],
                                                     ["usable stack", unique["usable_stack"]]] + links)]
    for name, label in (("repro.json", "Reliability"), ("minimized/minimized.json", "Minimised")):
        if (folder / name).exists():
            sections.append(Details(label, json.dumps(json.loads((folder / name).read_text()), indent=1)))
    if (folder / "report.txt").exists():
        report = (folder / "report.txt").read_text(errors="replace").splitlines()[:REPORT_LINES]
        sections.append(Details("Report", "\n".join(report), open=True))
    sections.append(Details("Reproduce", f"{unique['reproduce']}\n"
                                         f"invoke fuzz.minimize --campaign {out.name} --crash {unique['title_id']}",
                            open=True))
    return Group(unique["title"], sections, anchor=unique["title_id"])
