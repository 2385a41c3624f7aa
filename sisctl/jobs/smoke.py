"""The smoke job: build, flash, boot from the ready snapshot and check the board really works."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

from sisctl import paths
from sisctl.board.firstuse import kernel_for
from sisctl.jobs.boards import held_board
from sisctl.jobs.checks import CheckFailed, board_checks
from sisctl.report import plots
from sisctl.report.index import write_index
from sisctl.report.jobpage import console_details, write_job_page
from sisctl.report.junit import Case, write_junit
from sisctl.report.page import Badge, Figure, Link, Section, Table


def run_smoke(board_name: str, recipe: str = "", progress: Callable[[str], None] = print,
              reports: Path | None = None) -> dict:
    board = held_board(board_name, reports=reports)
    spec = board.spec
    artifact = kernel_for(board, recipe, progress)          # None: the board runs its installed kernel
    flash = board.flash(artifact, progress=progress)
    wanted = [m.name for m in artifact.modules.load_order(spec.boot.modules)] if artifact else spec.boot.modules
    out = (reports or paths.reports_dir()) / f"smoke-{time.strftime('%Y%m%d-%H%M%S')}-{spec.name}"
    out.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = [Case("cold boot to ready", True, f"{flash['boot_s']:.2f} s", flash["boot_s"])]
    with board.session(label="smoke") as session:
        cases.append(Case(f"{session.boot_mode} boot to ready", True, f"{session.boot_s:.3f} s", session.boot_s))
        release = artifact.manifest["kernel_release"] if artifact else flash["kernel_version"]
        for name, check in board_checks(session, release, wanted):
            started = time.monotonic()
            try:
                cases.append(Case(name, True, check(), time.monotonic() - started))
            except CheckFailed as err:
                cases.append(Case(name, False, str(err), time.monotonic() - started))
            progress(f"  {'ok  ' if cases[-1].passed else 'FAIL'} {name}: {cases[-1].detail}")
        run_dir = session.run_dir
    origin = board.provenance()
    failed = sum(not c.passed for c in cases)
    summary = {"kind": "smoke", "board": spec.name, "status": "failed" if failed else "passed",
               "headline": f"{len(cases) - failed} checks passed, {failed} failed",
               "finished_epoch": round(time.time(), 1), "passed": len(cases) - failed,
               "failed": failed, "report": str(out),
               "console_log": str(run_dir / "console.log"), "provenance": origin,
               "checks": [c.__dict__ for c in cases]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    write_junit(out / "junit.xml", f"smoke.{spec.name}", cases, origin)
    lines = [f"# Smoke report: {spec.name}", "", *(f"- {k}: {v}" for k, v in origin.items()), "",
             "| check | result | detail |", "|---|---|---|",
             *(f"| {c.name} | {'pass' if c.passed else 'FAIL'} | {c.detail} |" for c in cases)]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    write_job_page(out, summary, _page_sections(cases, run_dir / "console.log"),
                   links=[Link("console log", os.path.relpath(run_dir / "console.log", out))])
    write_index(out.parent)
    return summary


def _page_sections(cases: list[Case], console_log: Path) -> list[Section]:
    return [Table("Checks", ["check", "result", "detail", "seconds"],
                  [[c.name, Badge("passed" if c.passed else "failed"), c.detail, round(c.seconds, 3)]
                   for c in cases]),
            Figure("Time per check", plots.bars({c.name: round(c.seconds, 3) for c in cases}, ylabel="seconds")),
            console_details(console_log)]
