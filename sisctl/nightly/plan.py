"""A test plan: which kernels run which campaigns on which boards. Validated whole before anything runs.

    name: nightly
    boards: [qemu-virt-0]              # board names, or tag:KEY=VALUE for any healthy board (needs a coordinator)
    steps:
      - kind: smoke                    # smoke | ext4-crash | fuzz | bench
      - kind: ext4-crash
        variants: [debian-arm64, linux-kbuild]   # kernels (RECIPE[+CMDLINE]); default: each board's own
        options: {scenario: generated-2, mode: powerloss, runs: 1}   # the kind's options, as `invoke campaign`'s

A step's options are checked by its kind's table (KIND.options, sisctl/campaign/core/options.py), the
one the command line reads, with the same messages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sisctl import config, paths
from sisctl.board.spec import find_board
from sisctl.build.variant import Variant, checked_variant
from sisctl.campaign.core.kind import KIND_MODULES, kind_named
from sisctl.config import ConfigError, Name
from sisctl.errors import UsageError
from sisctl.fleet.claims import parse_tags, required

SMOKE = "smoke"


@dataclass
class StepSpec:
    kind: str
    name: Name | None = None                          # default: the kind, numbered when repeated
    variants: list[str] = field(default_factory=list)
    boards: list[str] = field(default_factory=list)   # default: the plan's boards
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = 1


@dataclass
class PlanSpec:
    name: Name
    boards: list[str]
    steps: list[StepSpec]
    description: str = ""


@dataclass(frozen=True)
class Job:
    """One campaign (or the smoke checks) of one kernel on one board."""
    id: str
    kind: str
    board: str                 # a name, or tag:... resolved when the job runs
    variant: Variant | None    # None: the board's default recipe
    options: dict
    seed: int

    @property
    def kernel(self) -> str:
        return self.variant.text if self.variant else "(board default)"


def find_plan(name_or_path: str) -> Path:
    return config.named_file(name_or_path, paths.PROJECT / "lab" / "plans", "plan")


def load_plan(path: Path) -> tuple[PlanSpec, list[Job]]:
    """The plan and its jobs in order; any problem is a ConfigError naming file and key."""
    plan = config.load(PlanSpec, path)
    if not plan.steps:
        raise ConfigError(path, "steps", "a plan needs at least one step")
    jobs: list[Job] = []
    seen: dict[str, int] = {}
    for i, step in enumerate(plan.steps):
        key = f"steps[{i}]"
        boards = step.boards or plan.boards
        if not boards:
            raise ConfigError(path, f"{key}.boards", "no board: give the plan's or the step's boards")
        for j, board in enumerate(boards):
            _check_board(path, f"{key}.boards[{j}]" if step.boards else f"boards[{j}]", board)
        variants = [_variant(path, f"{key}.variants[{j}]", v) for j, v in enumerate(step.variants)] or [None]
        _check_options(path, key, step, boards[0], [v for v in variants if v])
        base = step.name or step.kind
        seen[base] = seen.get(base, 0) + 1
        base = base if seen[base] == 1 else f"{base}-{seen[base]}"
        for board in boards:
            for variant in variants:
                suffix = "-".join(filter(None, (board.replace(":", "-").replace("=", "-"),
                                                variant.text.replace("+", "-") if variant else "")))
                job_id = f"{base}.{suffix}"
                if any(job.id == job_id for job in jobs):   # a step named as another's numbered default
                    raise ConfigError(path, f"{key}.name", f"job {job_id!r} is there twice: give the step "
                                      "a name of its own")
                jobs.append(Job(job_id, step.kind, board, variant, dict(step.options), step.seed))
    return plan, jobs


def _check_board(path: Path, key: str, board: str) -> None:
    """A board file, or a tag selection (a board is chosen when the job runs) with a coordinator."""
    try:
        if board.startswith("tag:"):
            parse_tags(board[4:], key)
            required(board)
        else:
            find_board(board)
    except UsageError as err:
        raise ConfigError(path, key, str(err)) from None


def _variant(path: Path, key: str, text: str) -> Variant:
    try:
        return checked_variant(text, option=key)
    except UsageError as err:
        raise ConfigError(path, key, str(err).split(": ", 1)[-1]) from None


def _check_options(path: Path, key: str, step: StepSpec, board: str, variants: list[Variant]) -> None:
    """The kind's own validation (its option table, then what needs several options or the board), now,
    so a bad option fails the plan before anything runs."""
    if step.kind == SMOKE:
        if step.options:
            raise ConfigError(path, f"{key}.options", "smoke takes no options")
        return
    if step.kind not in KIND_MODULES:
        raise ConfigError(path, f"{key}.kind", f"expected one of {', '.join((SMOKE, *KIND_MODULES))}, "
                                               f"got {step.kind!r}")
    if any(v.cmdline for v in variants) and step.kind != "bench":
        raise ConfigError(path, f"{key}.variants", "kernel command-line additions (RECIPE+WORD) are for bench "
                                                   "steps; other campaigns boot the board's own command line")
    try:
        kind_named(step.kind).config_from_options(board, step.seed, dict(step.options))
    except UsageError as err:
        raise ConfigError(path, f"{key}.options", str(err)) from None
