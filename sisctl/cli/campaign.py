"""`invoke campaign`: every campaign kind through one task; `campaign.replay` for ext4-crash states.

A kind's own options are its table's (KIND.options, sisctl/campaign/core/options.py): each is an
option of this task, with the table's help, and reaches the kind as given (None: not given).
"""
from __future__ import annotations

import inspect
import json

from invoke import Collection, Exit, task

from sisctl.campaign.core.kind import KIND_MODULES, kind_named, kind_options
from sisctl.campaign.core.options import check_names
from sisctl.cli.common import HOLD_HELP, guard, hold_options
from sisctl.cli.remote import task_words
from sisctl.errors import UsageError
from sisctl.progress import progress_for


def kind_option_help() -> dict[str, str]:
    """Every kind's options, each with its help after the kind that takes it (or kinds, one by one)."""
    helps: dict[str, list[str]] = {}
    for kind, table in kind_options().items():
        for option in table:
            helps.setdefault(option.name, []).append(f"{kind}: {option.shown_help}")
    return {name: "; ".join(texts) for name, texts in helps.items()}


KIND_HELP = kind_option_help()
SHARDABLE = [name for name in KIND_MODULES if getattr(kind_named(name), "shardable", False)]   # take --boards


def with_kind_options(body):
    """`body(..., *, ..., **options)` with every kind's option as a keyword of its signature (default None,
    not given), ahead of its own keywords: invoke makes a task's options from its body's signature."""
    signature = inspect.signature(body)
    params = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    first_keyword = next(i for i, p in enumerate(params) if p.kind is p.KEYWORD_ONLY)
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None) for name in KIND_HELP]
    body.__signature__ = signature.replace(parameters=params[:first_keyword] + added + params[first_keyword:])
    return body


@task(name="run", default=True,
      help={"kind": f"campaign kind: {', '.join(KIND_MODULES)}",
            "board": "board name or path, or tag:KEY=VALUE for any healthy board with those tags (default qemu-virt-0)",
            "boards": "shard the campaign across boards: NAME,NAME,... or tag:KEY=VALUE[,KEY=VALUE] for every "
                      f"healthy board with those tags ({', '.join(SHARDABLE)})",
            **HOLD_HELP, **KIND_HELP,
            "seed": "campaign seed (same seed, same workloads)",
            "resume": "campaign id or folder to continue after a kill", "json": "print the summary as JSON"})
@guard
@with_kind_options
def campaign_run(c, kind="ext4-crash", board=None, boards=None, *, seed=1, resume="", json_=False, wait="",
                 priority="", **options):
    """Run a campaign: invoke campaign --kind ext4-crash --board B --scenario all --mode powerloss --runs N."""
    from sisctl.campaign.core import runner
    board, boards = board_choice(board, boards, resume)
    hold_options(wait, priority)   # for every board this campaign holds
    options = {k: v for k, v in options.items() if v is not None}
    if not resume:   # a kind's option for another kind stops here, before any board is held
        check_names(kind, kind_named(kind).options, options)
    if not resume and not boards:
        _run_on_its_lab_host({**locals(), **options})
    with progress_for(quiet=json_) as progress:
        summary = (runner.resume(resume, progress) if resume
                   else runner.start(kind, board, options, int(seed), progress, boards=boards))
    if json_:
        print(json.dumps(summary, indent=1))
    else:
        print(f"{summary['status']}: {summary['headline']}; report {summary['report']}")
    code = runner.exit_code(summary)
    if code:   # an error or abort ends on its cause, like every task (a failure's cases are above)
        reason = summary.get("reason") if summary["status"] in ("error", "aborted") else ""
        raise Exit(f"error: {reason}" if reason else None, code=code)


def _run_on_its_lab_host(given: dict) -> None:
    """A board attached to another lab host (`given`: the task's arguments): the campaign runs there and
    its records stream into this machine's reports; the task exits with the remote campaign's code.
    Otherwise returns."""
    if given["board"].startswith("tag:"):
        return
    from sisctl.fleet.remote import lab_host_of, remote_campaign
    from sisctl.jobs.boards import board_spec
    host = lab_host_of(board_spec(given["board"]))
    if host is None:
        return
    done = remote_campaign(host, task_words(campaign_run, given, name="campaign", leave_out=("json_",)))
    summary = done.summary or {}
    if summary:
        print(json.dumps(summary, indent=1) if given["json_"] else
              f"{summary['status']}: {summary['headline']}; report {done.folder}")
    reason = summary.get("reason") or ("" if done.code == 0 else f"the campaign on {host.where} left no summary")
    raise Exit(f"error: {reason}" if done.code and reason else None, code=done.code)


def board_choice(board: str | None, boards: str | None, resume: str) -> tuple[str, str]:
    """(--board, --boards) after checking they go together: one or the other, neither with --resume."""
    if boards is not None and board is not None:
        raise UsageError("--board and --boards: give one board, or the boards to shard across, not both")
    if resume and (board is not None or boards is not None):
        raise UsageError(f"--resume {resume}: a resumed campaign continues on its own boards; "
                         "leave out --board and --boards")
    if boards is not None and not boards.strip():
        raise UsageError("--boards: give board names separated by commas, or tag:KEY=VALUE[,KEY=VALUE...]")
    return board or "qemu-virt-0", (boards or "").strip()


@task(help={"campaign": "campaign id or folder", "state": "state key from a record: SCENARIO/RUN/STATE"})
@guard
def replay(c, campaign, state):
    """Rebuild one recorded crash state and check it again (the record's 'reproduce' command)."""
    from sisctl.campaign.ext4crash.replay import replay as replay_state
    record = replay_state(campaign, state, progress=print)
    raise Exit(code=0 if record["outcome"] == "ok" else 1)


campaign = Collection("campaign")
campaign.add_task(campaign_run, default=True)
campaign.add_task(replay)
