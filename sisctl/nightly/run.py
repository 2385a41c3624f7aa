"""Run a plan: each board's jobs in order, boards in parallel; one verdict for the whole job.

The plan's status: `failed` when any job found a test failure (exit 1), else `error` when any job
could not run (exit 75), else `passed`. A job that could not run is an error in the plan's JUnit,
never a pass; a failing job does not stop the others.
"""
from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from sisctl import errors, paths
from sisctl.board.errors import BoardError
from sisctl.board.firstuse import ensure_flashed
from sisctl.campaign.core import runner
from sisctl.jobs.boards import board_name, held_board
from sisctl.jobs.smoke import run_smoke
from sisctl.nightly.plan import SMOKE, Job, load_plan
from sisctl.nightly.report import print_history, write_plan_report
from sisctl.labfile import load_lab
from sisctl.report.history import PLAN_RUN_PREFIX
from sisctl.report.notify import notify
from sisctl.report.regressions import known_issues_file, load_known_issues
from sisctl.telemetry.lab import send_points
from sisctl.telemetry.points import make_point

LIVE_EVERY_S = 15.0


def run_plan(plan_path: Path, progress: Callable[[str], None] = print) -> dict:
    plan, jobs = load_plan(plan_path)
    load_known_issues(known_issues_file())   # a broken file is bad input now, not a lost classification later
    out = paths.unique_dir(paths.reports_dir(), f"{PLAN_RUN_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}")
    shutil.copyfile(plan_path, out / "plan.yaml")
    results: dict[str, dict] = {}
    started = time.monotonic()
    status = "aborted"
    try:
        _run_boards(_by_board(jobs), results, progress)
        status = plan_status(list(results.values()))
    finally:
        summary = write_plan_report(out, plan.name, jobs, results, status, time.monotonic() - started)
        _write_points(plan.name, jobs, results)
    if status == "aborted":   # the plan ran to its end: a job stopped by bad input (found late), exit 2
        summary["error_kind"] = "usage"
    print_history(summary, progress)
    _notify(summary, progress)
    progress(f"nightly {plan.name}: {summary['status']} ({summary['headline']}); report {out / 'index.html'}")
    return summary


def _notify(summary: dict, progress: Callable[[str], None]) -> None:
    """New failures to the lab's webhook and e-mail (lab.yaml notify:); informs, never decides."""
    try:
        sent = notify(load_lab().notify, summary)
    except errors.UsageError as err:
        print(f"notify: not sent: {err}", file=sys.stderr)
        return
    if sent:
        progress(f"new failures sent by {' and '.join(sent)}")


def plan_status(results: list[dict]) -> str:
    statuses = {r["status"] for r in results}
    if not results or "aborted" in statuses:
        return "error" if not results else "aborted"
    return "failed" if "failed" in statuses else "error" if "error" in statuses else "passed"


def _by_board(jobs: list[Job]) -> dict[str, list[Job]]:
    """Each board's jobs, grouped by kernel so each kernel is flashed once (the board's own first)."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.board, []).append(job)
    for board, board_jobs in groups.items():
        order = list(dict.fromkeys(j.variant for j in board_jobs))
        board_jobs.sort(key=lambda j: -1 if j.variant is None else order.index(j.variant))
    return groups


def _run_boards(groups: dict[str, list[Job]], results: dict[str, dict], progress: Callable[[str], None]) -> None:
    """One worker per board. Workers are daemon threads: on Ctrl-C the process ends and each QEMU a
    worker started dies with it (QEMU's parent-death signal follows its starting thread)."""
    def work(board_jobs: list[Job]) -> None:
        for job in board_jobs:
            results[job.id] = run_job(job, _job_progress(job, progress))
    if len(groups) == 1:
        work(next(iter(groups.values())))
        return
    workers = [threading.Thread(target=work, args=(g,), name=f"board-{b}", daemon=True) for b, g in groups.items()]
    for worker in workers:
        worker.start()
    for worker in workers:
        while worker.is_alive():
            worker.join(0.5)


def run_job(job: Job, progress: Callable[[str], None]) -> dict:
    """One job's result: status, reason, headline, its report folder. Never raises but for Ctrl-C."""
    started = time.monotonic()
    board, kernel, build_id = job.board, job.kernel, ""
    try:
        board = board_name(board)
        if job.kind == SMOKE:
            summary = run_smoke(board, job.variant.recipe if job.variant else "", progress=progress)
        else:
            _flash_variant(board, job, progress)
            summary = runner.start(job.kind, board, dict(job.options), job.seed, progress)
        result = {k: summary.get(k, "") for k in ("status", "reason", "headline", "report")}
        booted = summary.get("booted") or summary.get("provenance") or {}   # a kind may boot its own kernel
        kernel, build_id = booted.get("kernel_version") or job.kernel, booted.get("build_id") or ""
    except errors.SisctlError as err:
        result = {"status": "aborted" if isinstance(err, errors.UsageError) else "error",
                  "reason": str(err).splitlines()[0], "headline": "", "report": ""}
    except Exception as err:   # a bug in one job must not lose the others' results
        result = {"status": "error", "reason": f"{type(err).__name__}: {err}", "headline": "", "report": ""}
    progress(f"{result['status']}: {result['headline'] or result['reason']}")
    return {**result, "id": job.id, "kind": job.kind, "board": board, "kernel": kernel, "build_id": build_id,
            "elapsed_s": round(time.monotonic() - started, 1)}


def _flash_variant(board_name: str, job: Job, progress: Callable[[str], None]) -> None:
    """The board runs the job's kernel: flashed now unless it already is."""
    board = held_board(board_name)
    if job.variant is None:
        ensure_flashed(board, progress)
        return
    artifact = job.variant.build(progress=progress)
    try:
        current = board.flashed().image_sha256
    except (BoardError, ValueError, TypeError):   # nothing, an old agent, or a torn record
        current = None
    if current != artifact.sha256:
        board.flash(artifact, progress=progress)
    else:
        ensure_flashed(board, progress)   # same kernel; re-flashed only if its agent is out of date


def _job_progress(job: Job, progress: Callable[[str], None]) -> Callable[[str], None]:
    """Lines prefixed with the job; live updates at most every LIVE_EVERY_S (parallel jobs share a log)."""
    last = [0.0]

    def show(message: str) -> None:
        text = message.strip("\r\n")
        if message.startswith("\r"):
            if time.monotonic() - last[0] < LIVE_EVERY_S:
                return
            last[0] = time.monotonic()
        for line in filter(None, text.splitlines()):
            progress(f"[{job.id}] {line}")
    return show


def _write_points(plan: str, jobs: list[Job], results: dict[str, dict]) -> None:
    now = time.time_ns()
    send_points([make_point("nightly_job", {"plan": plan, "job": r["id"], "board": r["board"], "kind": r["kind"],
                                            "kernel": r["kernel"], "status": r["status"]},
                            {"ok": int(r["status"] == "passed"), "elapsed_s": float(r["elapsed_s"])}, now + i)
                 for i, r in enumerate(results.values())])
