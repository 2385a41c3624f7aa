"""One campaign on several boards: each board runs the kind's `execute` on its share of the work,
in a thread of its own (the work is QEMU processes and I/O), all appending to one record log.

The first shard to fail stops the others (they end at their next `ctx.check_stop()`, keeping
what they recorded) and its error, naming the board, is the campaign's. Ctrl-C stops every shard
the same way. A campaign on one board runs inline, exactly as before sharding existed.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from sisctl.board.board import Board
from sisctl.campaign.core.kind import CampaignKind, Context, Stopped
from sisctl.campaign.core.profiling import phase_profile_points
from sisctl.campaign.core.records import BoardRecords, RecordLog
from sisctl.progress import Progress

T = TypeVar("T")
JOIN_POLL_S = 0.2


def share(units: Sequence[T], shard: tuple[int, int]) -> list[T]:
    """This shard's units: every count-th from its index on, so each unit falls to exactly one shard,
    neighbouring units (a scenario's runs) spread over the boards, and the split never changes."""
    index, count = shard
    return [unit for i, unit in enumerate(units) if i % count == index]


@dataclass
class Shard:
    board: Board
    index: int
    count: int
    origin: dict = field(default_factory=dict)     # provenance of this board's records
    figures: dict = field(default_factory=dict)    # the kind's figures for this board
    status: str = "waiting"                        # running, done, stopped, error
    problem: BaseException | None = None

    def describe(self, records: list[dict]) -> dict:
        """This shard in summary.json."""
        return {"board": self.board.name, "shard": self.index, "status": self.status,
                "problem": first_line(self.problem),
                "records": sum(r.get("board") == self.board.name for r in records),
                "figures": self.figures, "provenance": self.origin}


def first_line(problem: BaseException | None) -> str:
    """A problem in one line; Ctrl-C (a KeyboardInterrupt has no text) reads 'interrupted'."""
    if problem is None:
        return ""
    if isinstance(problem, KeyboardInterrupt):   # Ctrl-C, or SIGTERM / SIGHUP (named by the command line)
        return f"interrupted ({problem})" if str(problem) else "interrupted"
    return (str(problem).splitlines() or [type(problem).__name__])[0]


class ShardProgress(Progress):
    """A shard's window on the campaign's progress: lines say which board, totals add up."""

    def __init__(self, inner: Progress, board: str, totals: dict[str, int], lock: threading.Lock):
        super().__init__()
        self.inner, self.board, self.totals, self.lock = inner, board, totals, lock

    def __call__(self, message: str) -> None:
        live = message.startswith("\r")
        text = message[1:] if live else message
        if text.strip():
            message = ("\r" if live else "") + f"[{self.board}] {text}"
        with self.lock:
            self.inner(message)

    def total(self, units: int | None, unit: str = "") -> None:
        with self.lock:
            self.totals[self.board] = units or 0
            self.inner.total(sum(self.totals.values()), unit)

    def advance(self, units: int = 1) -> None:
        with self.lock:
            self.inner.advance(units)


def scratch_for(out: Path, shard: Shard) -> Path:
    """Work files of a shard: the campaign folder itself on one board, its own folder on several."""
    if shard.count == 1:
        return out
    folder = out / "shards" / shard.board.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_shards(kind: CampaignKind, config: Any, out: Path, shards: list[Shard], log: RecordLog,
               progress: Progress, write_points: Callable[[list], None]) -> None:
    """Run every shard to its end; raise the first shard's error (or KeyboardInterrupt) after all stopped."""
    stopping = threading.Event()
    totals: dict[str, int] = {}
    lock = threading.Lock()

    def context(shard: Shard) -> Context:
        many = shard.count > 1
        return Context(shard.board, out, BoardRecords(log, shard.board.name),
                       ShardProgress(progress, shard.board.name, totals, lock) if many else progress,
                       write_points, shard.origin, shard.figures, shard=(shard.index, shard.count),
                       scratch=scratch_for(out, shard), stopping=stopping)

    if len(shards) == 1:
        _execute(kind, config, shards[0], context(shards[0]), stopping, reraise=True)
        return
    failures: list[Shard] = []
    # Each shard says it ended through its own event: Thread.join interrupted by Ctrl-C can take a
    # running thread for ended (Python 3.11), and the summary would then be written under its feet.
    ended = {shard.index: threading.Event() for shard in shards}

    def execute(shard: Shard) -> None:
        try:
            _execute(kind, config, shard, context(shard), stopping, False, failures, lock)
        finally:
            ended[shard.index].set()

    started: list[tuple[threading.Thread, threading.Event]] = []
    try:
        for shard in shards:
            thread = threading.Thread(target=execute, args=(shard,), name=f"shard-{shard.board.name}", daemon=True)
            thread.start()
            started.append((thread, ended[shard.index]))
        for _, event in started:
            while not event.wait(JOIN_POLL_S):
                pass
    except KeyboardInterrupt:
        stopping.set()
        progress("interrupted: stopping every board's shard (a second Ctrl-C leaves at once)")
        for _, event in started:
            event.wait()
        raise
    finally:
        for thread, _ in started:
            thread.join(JOIN_POLL_S)     # ended: only its last lines are left
    if failures:
        first = failures[0]
        first.problem.add_note(f"(shard {first.index + 1} of {first.count}, on board {first.board.name}; "
                               "the other shards stopped, their records are kept)")
        raise first.problem


def _execute(kind: CampaignKind, config: Any, shard: Shard, ctx: Context, stopping: threading.Event,
             reraise: bool, failures: list[Shard] | None = None, lock: threading.Lock | None = None) -> None:
    shard.status = "running"
    try:
        kind.execute(ctx, config)
        shard.status = "done"
    except Stopped:
        shard.status = "stopped"
    except BaseException as err:
        shard.status, shard.problem = ("stopped" if isinstance(err, KeyboardInterrupt) else "error"), err
        stopping.set()
        if reraise:
            raise
        with lock:
            failures.append(shard)
    finally:
        try:
            ctx.write_points(phase_profile_points(ctx.out, ctx.board.name, ctx.out.name))
        except OSError as err:        # never in place of how the shard ended
            ctx.progress(f"{ctx.board.name}: no profile_top points: {err}")


def shard_sections(summary: dict) -> list:
    """The page's table of boards for a campaign sharded across several: each board's status,
    records, figures and provenance."""
    from sisctl.report.page import Badge, Table
    shards = summary.get("shards") or []
    if len(shards) < 2:
        return []
    keys = list(dict.fromkeys(k for s in shards for k in s["figures"]))
    rows = [[s["board"], Badge(s["status"], {"done": "passed", "error": "error"}.get(s["status"], "aborted")),
             s["records"], *[s["figures"].get(k) for k in keys],
             s["provenance"].get("kernel_version"), s["provenance"].get("build_id"),
             s["provenance"].get("firmware"), s["problem"] or None] for s in shards]
    return [Table(f"Boards ({len(shards)} shards)", ["board", "status", "records", *[k.replace("_", " ") for k in keys],
                                                     "kernel", "build-id", "firmware", "problem"], rows)]
