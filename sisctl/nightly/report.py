"""A plan's results: summary.json, one JUnit file with a test suite per job, and an HTML page that
links every job's own report."""
from __future__ import annotations

import json
import os
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from sisctl.nightly.plan import Job
from sisctl.report import plots
from sisctl.report.index import write_index
from sisctl.report.junit import Case, suite_element
from sisctl.report.page import Badge, Figure, Link, Page, Table, write_page


def write_plan_report(out: Path, plan: str, jobs: list[Job], results: dict[str, dict], status: str,
                      elapsed_s: float) -> dict:
    rows = [results.get(job.id) or {"id": job.id, "kind": job.kind, "board": job.board, "kernel": job.kernel,
                                    "status": "aborted", "reason": "not run", "headline": "", "report": "",
                                    "elapsed_s": 0.0} for job in jobs]
    counts = {s: sum(r["status"] == s for r in rows) for s in ("passed", "failed", "error", "aborted")}
    headline = f"{len(rows)} jobs: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    summary = {"kind": "nightly", "plan": plan, "board": ",".join(dict.fromkeys(r["board"] for r in rows)),
               "status": status, "reason": _reason(rows, status), "headline": headline,
               "elapsed_s": round(elapsed_s, 1), "finished_epoch": round(time.time(), 1), "report": str(out),
               "jobs": rows}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    _write_junit(out / "junit.xml", rows)
    page = Page(f"Plan {plan}: {out.name}", status, summary["reason"], headline,
                links=[Link("summary.json", "summary.json"), Link("junit.xml", "junit.xml"),
                       Link("plan.yaml", "plan.yaml")],
                sections=[Table("Jobs", ["job", "kind", "board", "kernel", "verdict", "result", "minutes", "report"],
                                [[r["id"], r["kind"], r["board"], r["kernel"], Badge(r["status"]),
                                  r["headline"] or r["reason"], round(r["elapsed_s"] / 60, 1),
                                  _report_link(out, r)] for r in rows]),
                          Figure("Minutes per job", plots.bars({r["id"]: round(r["elapsed_s"] / 60, 2)
                                                                for r in rows}, ylabel="minutes"))])
    write_page(out, page)
    write_index(out.parent)
    return summary


def _reason(rows: list[dict], status: str) -> str:
    if status == "passed":
        return ""
    bad = [r for r in rows if r["status"] != "passed"]
    return "; ".join(f"{r['id']}: {r['status']}" + (f" ({r['reason']})" if r["reason"] else "") for r in bad[:3])


def _report_link(out: Path, row: dict) -> Link | None:
    if not row.get("report"):
        return None
    return Link("report", os.path.relpath(Path(row["report"]) / "index.html", out))


def _write_junit(path: Path, rows: list[dict]) -> None:
    """Each job's own JUnit suite, renamed after the job; a job without one gets an error case saying why."""
    root = ET.Element("testsuites")
    for row in rows:
        own = Path(row["report"]) / "junit.xml" if row.get("report") else None
        if own and own.exists():
            suite = ET.parse(own).getroot()
            suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
            suite.set("name", row["id"])
            for case in suite.iter("testcase"):
                case.set("classname", row["id"])
        else:
            suite = suite_element(row["id"], [Case(row["kind"], False, f"{row['status']}: {row['reason']}",
                                                   error=True)])
        root.append(suite)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
