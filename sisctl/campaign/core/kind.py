"""The contract between the campaign core and one campaign kind.

Sharding (`--boards`): a kind that sets `shardable = True` may run on several boards at once.
The core then holds every board and calls `execute` once per board, concurrently (one thread
each), with:
  ctx.board      that shard's board
  ctx.shard      (index, count): the kind does its share of the work, chosen deterministically
                 from the config and the shard, so every unit of work is done exactly once
                 (`core.shards.share(units, ctx.shard)`) and a resume finds the same split
  ctx.scratch    a folder of this shard's own (work images, disks), apart from other shards'
  ctx.records    the campaign's one log: safe to append from every shard, each record gets its board
  ctx.figures    this shard's own figures (findings() gets them as figures['by_board'][board])
  ctx.check_stop()  call it between units of work: it raises Stopped once another shard has
                 failed or the campaign was interrupted, so every shard ends promptly
Progress (ctx.progress) is shared: totals given by each shard add up. `findings` runs once, over
every board's records; summary.json's 'board', 'boards' and 'shards' (status, records, figures and
provenance per board) are the core's, so a kind names its own per-board figures otherwise
(ext4-crash: 'by_board'). A kind without `shardable` gets one board; `--boards` with it is a
usage error.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from sisctl.campaign.core.options import Option
from sisctl.campaign.core.records import BoardRecords, RecordLog
from sisctl.errors import UsageError
from sisctl.progress import Progress
from sisctl.report.junit import Case

if TYPE_CHECKING:      # the board side is imported when a campaign runs, not by the command line
    from sisctl.board.board import Board

# kind name -> module exposing KIND. The command line imports each for its option table, so a kind's
# module imports its run side (boards, plots, statistics) only where it runs (execute, findings, ...)
KIND_MODULES = {
    "ext4-crash": "sisctl.campaign.ext4crash",
    "fuzz": "sisctl.campaign.fuzz",
    "bench": "sisctl.campaign.bench",
    "ktap": "sisctl.campaign.ktap",
}


@dataclass
class Context:
    """What a running campaign gets from the core."""
    board: Board
    out: Path                                   # reports/<campaign>/
    records: RecordLog | BoardRecords           # append-only, fsynced per record; stamps the board
    progress: Progress                          # "\r..." updates the live line, else a line; .total(n), .advance()
    write_points: Callable[[list], None]        # telemetry (spooled: never blocks, never loses)
    origin: dict                                # provenance of every record
    figures: dict = field(default_factory=dict)  # run-level figures the kind wants in its summary
    shard: tuple[int, int] = (0, 1)             # (index, count) of this board among the campaign's boards
    scratch: Path | None = None                 # this shard's own folder for work files (default: out)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        if self.scratch is None:
            self.scratch = self.out

    def check_stop(self) -> None:
        """Raise Stopped when the campaign is stopping (another shard failed, or Ctrl-C)."""
        if self.stopping.is_set():
            raise Stopped(f"{self.board.name}: stopped")


class Stopped(Exception):
    """A shard ended early because the campaign is stopping; what it recorded is kept."""


@dataclass
class Findings:
    """A kind's verdict over its records."""
    summary: dict                 # kind-specific figures, merged into summary.json
    cases: list[Case]             # JUnit test cases; none at all means the run produced nothing
    headline: str                 # one line for the terminal and the reports index ("258 states, 0 failed")


class CampaignKind(Protocol):
    name: str
    options: Sequence[Option]   # its option table (core/options.py): the command line's and test plans'
    # shardable: bool = True   (optional) execute may run on several boards at once; see above

    def config_from_options(self, board: str, seed: int, options: dict[str, Any]) -> Any:
        """A config dataclass from the options given (a command line's, a plan step's), read through
        its table (core.options.option_values); UsageError names a bad option."""

    def config_from_json(self, data: dict) -> Any:
        """The config saved in campaign.json, for resume: checked as its options are (core.options.config_from_json)."""

    def execute(self, ctx: Context, config: Any) -> None:
        """Run (or continue) the campaign, appending every result to ctx.records as it is measured."""

    def findings(self, config: Any, records: list[dict], figures: dict) -> Findings:
        """`figures`: the one board's ctx.figures, and figures['by_board'][board] for every board."""

    def terminal(self, summary: dict) -> str:
        """The end-of-run table."""

    # Optional: runs_without_agent(self, config, board) -> bool: this config runs on a board whose target
    # has no sisctl agent (ext4-crash's reset mode on a prompt target with a crash profile); without it,
    # such a board is refused.
    # Optional: check_board(self, config, board) -> None: raise UsageError for a board this config cannot
    # run on (ext4-crash's QEMU-only modes on a real board), before anything boots.
    # Optional: page_sections(self, summary: dict, records: list[dict]) -> list[sisctl.report.page.Section]
    # adds the kind's tables, plots and details to reports/<id>/index.html (written for every outcome,
    # also error and aborted, so records may be few or none). Without it the page has the verdict only.


def needs_agent(kind: CampaignKind, config: Any, board: Board) -> bool:
    """Whether `kind` with `config` needs sisctl's agent on `board`."""
    runs_without = getattr(kind, "runs_without_agent", None)
    return not (runs_without and runs_without(config, board))


def kind_named(name: str) -> CampaignKind:
    if name not in KIND_MODULES:
        raise UsageError(f"--kind {name!r}: unknown campaign kind; known: {', '.join(KIND_MODULES)}")
    return import_module(KIND_MODULES[name]).KIND


def kind_options() -> dict[str, Sequence[Option]]:
    """Every kind's option table, by kind name."""
    return {name: kind_named(name).options for name in KIND_MODULES}
