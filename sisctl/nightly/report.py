"""A plan's results: summary.json, one JUnit file with a test suite per job, and an HTML page that
links every job's own report."""
from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from contextlib import closing
import xml.etree.ElementTree as ET
from pathlib import Path

from sisctl import paths
from sisctl.errors import SisctlError, UsageError
from sisctl.nightly.plan import Job
from sisctl.report import plots
from sisctl.report.history import History, store_path
from sisctl.report import regressions
from sisctl.report.regressions import Verdict, classify, known_issues_file, load_known_issues
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
    verdicts = _against_history(out, plan, status)
    summary["history"] = {"counts": regressions.counts(verdicts), "verdicts": [v.as_dict() for v in verdicts]}
    paths.write_atomic(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    page = Page(f"Plan {plan}: {out.name}", status, summary["reason"], headline,
                links=[Link("summary.json", "summary.json"), Link("junit.xml", "junit.xml"),
                       Link("plan.yaml", "plan.yaml")],
                sections=[*_history_sections(out, verdicts), Table("Jobs", ["job", "kind", "board", "kernel", "verdict", "result", "minutes", "report"],
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


def _against_history(out: Path, plan: str, status: str) -> list[Verdict]:
    """This run's cases recorded in the history store and classified against the runs before it.
    History informs and never decides: a store that cannot be written says so and gives nothing.
    An aborted run's partial results are left out of it."""
    if status == "aborted":
        return []
    try:
        with closing(History.open(reports=out.parent)) as history:
            cases = history.add(out)
            earlier = history.before(out.name, plan)
    except (OSError, ValueError, KeyError, sqlite3.Error, SisctlError) as err:
        print(f"history: {store_path()} not updated ({err})", file=sys.stderr)
        return []
    try:
        known = load_known_issues(known_issues_file())
    except UsageError as err:   # checked when the plan started; changed since: classify without it
        print(f"history: known issues not applied ({err})", file=sys.stderr)
        known = []
    return classify(cases, earlier, known)


def _history_sections(out: Path, verdicts: list[Verdict]) -> list:
    """New failures first, then what else changed since the last run (new passing tests left out)."""
    shown = [v for v in verdicts if v.kind != "new test" or v.case.bad]
    if not shown:
        return []

    def run_cell(result) -> str:
        return f"{result.run} ({result.kernel or '?'} {result.build_id[:12]})".strip() if result else ""
    return [Table("Since the last run", ["class", "job", "case", "outcome", "last pass", "first fail", "detail"],
                  [[Badge(v.kind, "failed" if v.kind in ("new failure", "still failing") else
                          "passed" if v.kind == "fixed" else "skipped"), v.case.job, v.case.name, v.case.outcome, run_cell(v.last_pass),
                    run_cell(v.first_fail), v.note or v.case.detail] for v in shown])]


def print_history(summary: dict, progress) -> None:
    """The new failures of a plan run, one line each, for the terminal."""
    for v in summary.get("history", {}).get("verdicts", []):
        if v["class"] == "new failure":
            last = v["last_pass"]
            progress(f"new failure: {v['job']} {v['case']}: {v['detail'][:100]} (last passed in "
                     f"{last['run'] if last else '?'} on {last['kernel'] if last else '?'})")
