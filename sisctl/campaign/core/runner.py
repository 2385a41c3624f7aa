"""Start and resume campaigns of any kind, and always end with an honest summary.

Every campaign, however it ends, writes summary.json and junit.xml with a status:
  passed   every case passed           exit 0
  failed   a case failed               exit 1
  error    infrastructure failed, or the run produced no result at all   exit 75
  aborted  interrupted (Ctrl-C) or stopped by bad input found late        exit 130 / 2
An aborted or empty run never reads as a pass.

A campaign runs on one board, or (`boards`, for kinds that are shardable) on several at once:
see core/shards.py. campaign.json keeps the boards, so a resume continues the same shards.
"""
from __future__ import annotations

import json
import re
import time
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterator

from sisctl import errors, paths
from sisctl.board.board import Board
from sisctl.board.firstuse import ensure_flashed
from sisctl.campaign.core import profiling
from sisctl.campaign.core.boards import resolve_boards
from sisctl.campaign.core.kind import CampaignKind, Context, kind_named, needs_agent
from sisctl.campaign.core.records import RecordLog, read_records
from sisctl.campaign.core.shards import Shard, first_line, run_shards, shard_sections
from sisctl.errors import UsageError
from sisctl.jobs.boards import board_name, board_spec, fleet_hold, held_board
from sisctl.jsonfile import NotJson, read_json
from sisctl.progress import as_progress
from sisctl.report.index import write_index
from sisctl.report.jobpage import booted_lines, write_job_page
from sisctl.report.junit import Case, write_junit
from sisctl.labfile import load_lab
from sisctl.telemetry.lab import open_sink

STATUS_EXIT = {"passed": errors.OK, "failed": errors.TEST_FAILURE, "error": errors.INFRASTRUCTURE,
               "aborted": errors.INTERRUPTED}


def start(kind: str, board: str, options: dict[str, Any], seed: int = 1,
          progress: Callable[[str], None] = print, boards: str = "") -> dict:
    """A new campaign of `kind` on `board`, or sharded across `boards` (names, comma-separated, or
    tag:KEY=VALUE,...); `options` are the kind's own (scenario, mode, runs, ...)."""
    campaign_kind = kind_named(kind)
    if boards and not shardable(campaign_kind):
        raise UsageError(f"--boards: a {kind} campaign runs on one board; give it --board")
    names = resolve_boards(boards) if boards else [board_name(board)]
    config = campaign_kind.config_from_options(names[0], seed, options)
    board_spec(names[0])   # an unknown board is bad input, before any folder is made
    out = paths.unique_dir(paths.reports_dir(), f"{kind}-{_label(config)}{time.strftime('%Y%m%d-%H%M%S')}")
    write_campaign(out, kind, config, names)
    return _run(campaign_kind, config, out, progress, names)


def write_campaign(out: Path, kind: str, config: Any, boards: list[str]) -> None:
    """campaign.json: the kind, its config and boards, which resume and replay read back."""
    (out / "campaign.json").write_text(json.dumps({"kind": kind, "config": asdict(config), "boards": boards},
                                                  indent=1) + "\n")


@contextmanager
def direct_context(kind: str, config: Any, board: Board, out: Path,
                   progress: Callable[[str], None] = lambda _: None) -> Iterator[Context]:
    """The Context of a kind's campaign run on one board outside `start` (a replay, a benchmark, a
    test): `out` gets the campaign.json `start` writes (unless it has one) and the records; no hold,
    no flash, no telemetry, no summary (`resume(out)` writes those)."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "campaign.json").exists():
        write_campaign(out, kind, config, [board.name])
    with RecordLog(out / "records.jsonl") as records:
        yield Context(board, out, records, as_progress(progress), lambda points: None,
                      board.provenance())


def resume(campaign: str, progress: Callable[[str], None] = print) -> dict:
    """Continue a killed campaign: what is recorded is kept and not redone; a sharded one continues
    on the same boards, each with the same share of the work."""
    out = campaign_dir(campaign)
    campaign_kind, config = load_campaign(out)
    for _ in read_records(out / "records.jsonl"):   # a damaged line is refused before anything starts
        pass
    return _run(campaign_kind, config, out, progress, campaign_boards(out, config))


def shardable(campaign_kind: CampaignKind) -> bool:
    return bool(getattr(campaign_kind, "shardable", False))


def campaign_boards(out: Path, config: Any) -> list[str]:
    """The boards a campaign runs on, from its campaign.json (older ones name one board in the config)."""
    boards = read_json(out / "campaign.json").get("boards") or [config.board]
    if not isinstance(boards, list) or not all(isinstance(b, str) and b for b in boards):
        raise UsageError(f"{out / 'campaign.json'}: 'boards' must be a list of board names")
    return boards


def campaign_dir(campaign: str) -> Path:
    """A campaign folder given by path or by id under the reports folder."""
    out = Path(campaign)
    if not (out / "campaign.json").exists():
        out = paths.reports_dir() / campaign
    if not (out / "campaign.json").exists():
        raise UsageError(f"{campaign}: no campaign there (campaign.json missing)")
    return out


def load_campaign(out: Path) -> tuple[CampaignKind, Any]:
    path = out / "campaign.json"
    try:
        data = read_json(path)
    except NotJson as err:
        raise UsageError(f"{path}: not a campaign description ({err.problem})") from None
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str) or "config" not in data:
        raise UsageError(f"{path}: not a campaign description (expected an object with its kind and config)")
    try:
        campaign_kind = kind_named(data["kind"])
        return campaign_kind, campaign_kind.config_from_json(data["config"])
    except UsageError as err:
        raise UsageError(f"{path}: {err}") from None


def exit_code(summary: dict) -> int:
    if summary["status"] == "aborted" and summary.get("error_kind") == "usage":
        return errors.USAGE
    return STATUS_EXIT[summary["status"]]


def _label(config: Any) -> str:
    """The mode or target in the folder name, when the kind has one and it is a plain word."""
    tag = str(getattr(config, "mode", "") or getattr(config, "target", "") or "")
    return f"{tag}-" if re.fullmatch(r"[a-z0-9][a-z0-9-]*", tag) else ""


def _run(campaign_kind: CampaignKind, config: Any, out: Path, progress: Callable[[str], None],
         boards: list[str] | None = None) -> dict:
    """Run the kind; whatever happens (a busy board, a failed flash, a full disk, Ctrl-C, a bug),
    summary.json and junit.xml say so. An error while writing them never hides the first cause."""
    progress = as_progress(progress)   # kinds may set progress.total(n) and .advance()
    boards = boards or [config.board]
    started = time.monotonic()
    status, problem, shards, sink = "passed", None, [], None
    try:
        if len(boards) > 1 and not shardable(campaign_kind):
            raise UsageError(f"a {campaign_kind.name} campaign runs on one board, not on {', '.join(boards)}")
        shards = [Shard(held_board(name), i, len(boards)) for i, name in enumerate(boards)]
        for shard in shards:   # campaigns speak to sisctl's agent; a kind may ask more of a board
            if hasattr(campaign_kind, "check_board"):
                campaign_kind.check_board(config, shard.board)
            if not shard.board.has_agent and needs_agent(campaign_kind, config, shard.board):
                raise UsageError(f"{shard.board.name}: {campaign_kind.name} campaigns need sisctl's agent, and this "
                                 f"board's target ({shard.board.spec.target.kind}) has none; use target kind agent, "
                                 "or ssh with agent: true")
        with ExitStack() as holds:
            for name in sorted(boards):   # one hold per board for the whole campaign, always in this order
                holds.enter_context(fleet_hold(name))
            for shard in shards:   # a board never flashed gets its default recipe
                shard.origin = shard.board.provenance(ensure_flashed(shard.board, progress))
            sink = open_sink(load_lab())   # spooled: a missing or slow database never stops the campaign
            with RecordLog(out / "records.jsonl") as records:
                run_shards(campaign_kind, config, out, shards, records, progress, sink.write)
    except KeyboardInterrupt as err:
        status, problem = "aborted", err
    except errors.SisctlError as err:
        status, problem = ("aborted" if isinstance(err, UsageError) else "error"), err
    except Exception as err:   # a full disk, or a bug: recorded as an error, then raised
        status, problem = "error", err
    finally:
        if sink is not None:
            sink.close(drain_s=2)
    try:
        summary = _summarize(campaign_kind, config, out, shards, time.monotonic() - started, status, problem)
    except Exception:
        if problem is None:
            raise
        raise problem from None   # the first cause, not the failure to write its summary
    progress("\n" + campaign_kind.terminal(summary) + f"\nstatus: {summary['status']}"
             + (f" ({summary['reason']})" if summary.get("reason") else ""))
    if problem is not None and not isinstance(problem, errors.SisctlError):
        raise problem
    return summary


def _summarize(campaign_kind: CampaignKind, config: Any, out: Path, shards: list[Shard],
               elapsed: float, status: str, problem: BaseException | None) -> dict:
    records = list(read_records(out / "records.jsonl"))
    by_board = {s.board.name: s.figures for s in shards}
    figures = {**(shards[0].figures if len(shards) == 1 else {}), "by_board": by_board}
    found = campaign_kind.findings(config, records, figures)
    origin = merged_provenance([s.origin for s in shards if s.origin])
    reason = first_line(problem)
    failed = next((s for s in shards if s.problem is not None and s.problem is problem), None)
    if failed is not None and len(shards) > 1 and failed.board.name not in reason:
        reason = f"{failed.board.name}: {reason}"
    if status == "passed" and not found.cases:
        status, reason = "error", "the campaign produced no results"
    elif status == "passed" and not all(c.passed for c in found.cases):
        status = "failed"
    board = ",".join(s.board.name for s in shards) if len(shards) > 1 else config.board
    summary = {"campaign": out.name, "kind": campaign_kind.name, "report": str(out), "board": board,
               "boards": [s.board.name for s in shards] or [config.board],
               "seed": config.seed, "status": status, "reason": reason,
               "error_kind": _error_kind(problem),
               "problem": "" if problem is None or isinstance(problem, KeyboardInterrupt) else str(problem),
               "headline": found.headline, "elapsed_s": round(elapsed, 1), "finished_epoch": round(time.time(), 1),
               "provenance": origin, "shards": [s.describe(records) for s in shards], **found.summary}
    if (out / profiling.FOLDER).is_dir():
        try:
            summary["phase_profiles"] = profiling.write_phase_profiles(out, out.name)
        except OSError as err:        # the verdict stands without its profiles
            summary["phase_profiles_problem"] = f"the phase profiles were not written: {err}"
    paths.write_atomic(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    cases = list(found.cases)
    if problem is not None:
        cases.append(Case("campaign", False, f"{summary['status']}: {reason}", error=True))
    write_junit(out / "junit.xml", campaign_kind.name, cases,
                {"campaign": out.name, "status": status, "seed": config.seed, **origin,
                 **booted_lines(found.summary.get("booted") or {})})
    write_pages(campaign_kind, out, summary, records)
    return summary


def merged_provenance(origins: list[dict]) -> dict:
    """One provenance for the campaign: a value all boards share, else each board's in turn."""
    merged: dict = {}
    for origin in origins:
        for key, value in origin.items():
            merged.setdefault(key, [])
            if value not in merged[key]:
                merged[key].append(value)
    return {k: v[0] if len(v) == 1 else ", ".join(map(str, v)) for k, v in merged.items()}


def _error_kind(problem: BaseException | None) -> str:
    """usage, infrastructure or failure for the tool's own errors; interrupted for Ctrl-C; anything
    else (a full disk, a bug) counts as infrastructure, as its status 'error' says."""
    if problem is None:
        return ""
    if isinstance(problem, KeyboardInterrupt):
        return "interrupted"
    return problem.kind if isinstance(problem, errors.SisctlError) else "infrastructure"


def write_pages(campaign_kind: CampaignKind, out: Path, summary: dict, records: list[dict]) -> None:
    """reports/<id>/index.html with the kind's sections, and the refreshed reports index."""
    sections = getattr(campaign_kind, "page_sections", None)
    grafana = load_lab().grafana
    write_job_page(out, summary, lambda: shard_sections(summary) + (sections(summary, records) if sections else [])
                   + profiling.phase_profile_sections(summary),
                   (grafana.url, grafana.campaign_board))
    if out.parent.resolve() == paths.reports_dir().resolve():   # never an index.html in a folder of the user's
        write_index(out.parent)
