"""The smoke job: build, flash, boot from the ready snapshot and check the board really works."""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Callable

from sisctl import paths
from sisctl.board.board import Board, BoardSession
from sisctl.board.spec import find_board
from sisctl.build.builder import build
from sisctl.build.recipe import find_recipe
from sisctl.provenance import provenance
from sisctl.report import plots
from sisctl.report.index import write_index
from sisctl.report.jobpage import console_details, write_job_page
from sisctl.report.junit import Case, write_junit
from sisctl.report.page import Badge, Figure, Link, Section, Table


class CheckFailed(Exception):
    pass


def expect(condition: bool, problem: object) -> None:
    if not condition:
        raise CheckFailed(str(problem))


def _check_release(session: BoardSession, release: str) -> str:
    got = session.run("uname -r").text.strip()
    expect(got == release, f"uname -r says {got!r}, the flashed artifact is {release!r}")
    return got


def _check_arch(session: BoardSession) -> str:
    got = session.run("uname -m").text.strip()
    expect(got == "aarch64", f"uname -m says {got!r}")
    return got


def _check_modules(session: BoardSession, wanted: list[str]) -> str:
    names = " ".join(wanted)
    result = session.run(f"for m in {names}; do [ -d /sys/module/$m ] || echo missing $m; done")
    expect(not result.text.strip(), result.text.strip())
    return f"loaded: {names or '(none wanted)'}"


def _check_binary_output(session: BoardSession) -> str:
    session.run("head -c 65536 /dev/urandom > /tmp/blob")
    blob = session.run("cat /tmp/blob").stdout
    digest = session.run("sha256sum /tmp/blob").text.split()[0]
    expect(len(blob) == 65536 and hashlib.sha256(blob).hexdigest() == digest,
           f"64 KiB of random bytes came back as {len(blob)} bytes with a different sha256")
    return "64 KiB of random bytes round-tripped exactly"


def _check_exit_status(session: BoardSession) -> str:
    result = session.run("echo out; echo err >&2; exit 7")
    expect((result.reason, result.code, result.text, result.stderr) == ("exit", 7, "out\n", b"err\n"), result)
    return "exit 7 with separate stdout/stderr"


def run_smoke(board_name: str, recipe: str = "", progress: Callable[[str], None] = print,
              reports: Path | None = None) -> dict:
    spec = find_board(board_name)
    artifact = build(find_recipe(recipe or spec.recipe), progress=progress)
    board = Board(spec, reports=reports)
    flash = board.flash(artifact, progress=progress)
    wanted = [m.name for m in artifact.modules.load_order(spec.boot.modules)]
    out = (reports or paths.reports_dir()) / f"smoke-{time.strftime('%Y%m%d-%H%M%S')}-{spec.name}"
    out.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = [Case("cold boot to ready", True, f"{flash['boot_s']:.2f} s", flash["boot_s"])]
    with board.session(label="smoke") as session:
        cases.append(Case(f"{session.boot_mode} boot to ready", True, f"{session.boot_s:.3f} s", session.boot_s))
        checks = [("kernel release", lambda: _check_release(session, artifact.manifest["kernel_release"])),
                  ("architecture", lambda: _check_arch(session)),
                  ("modules loaded", lambda: _check_modules(session, wanted)),
                  ("binary-safe output", lambda: _check_binary_output(session)),
                  ("exit status", lambda: _check_exit_status(session))]
        for name, check in checks:
            started = time.monotonic()
            try:
                cases.append(Case(name, True, check(), time.monotonic() - started))
            except CheckFailed as err:
                cases.append(Case(name, False, str(err), time.monotonic() - started))
            progress(f"  {'ok  ' if cases[-1].passed else 'FAIL'} {name}: {cases[-1].detail}")
        run_dir = session.run_dir
    origin = provenance(spec.name, board.flashed(), spec.qemu.binary if spec.qemu else None)
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
