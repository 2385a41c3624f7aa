"""`invoke campaign`: every campaign kind through one task; `campaign.replay` for ext4-crash states."""
from __future__ import annotations

import json

from invoke import Collection, Exit, task

from sisctl.cli.common import HOLD_HELP, guard, hold_options
from sisctl.errors import UsageError
from sisctl.progress import progress_for

# Options that belong to one kind or another; a kind rejects those that are not its own.
KIND_OPTIONS = ("scenario", "mode", "runs", "baseline", "candidate", "suite", "budget", "target", "duration",
                "corpus", "coverage", "checksum_repair", "stop_on", "minimize")


@task(name="run", default=True,
      help={"kind": "campaign kind: ext4-crash, bench or fuzz",
            "board": "board name or path, or tag:KEY=VALUE for any healthy board with those tags (default qemu-virt-0)",
            "boards": "shard the campaign across boards: NAME,NAME,... or tag:KEY=VALUE[,KEY=VALUE] for every "
                      "healthy board with those tags (ext4-crash, fuzz; not bench)",
            **HOLD_HELP,
            "scenario": "ext4-crash: scenario name, comma list, 'all', or generated-N",
            "mode": "ext4-crash: powerloss or reset", "runs": "ext4-crash: runs per scenario",
            "baseline": "bench: baseline variant, RECIPE[+KERNEL-OPTION...] (e.g. linux-kbuild)",
            "candidate": "bench: candidate variant (e.g. debian-arm64+mitigations=off)",
            "suite": "bench: suite name or YAML path (default: default)",
            "budget": "bench: time budget, e.g. 15m, 90s, 1h (default 15m)",
            "target": "fuzz: ext4-image, vfs-ops, vfs-paths or all (default all)",
            "duration": "fuzz: how long to fuzz, e.g. 90s, 10m, 1h (default 10m)",
            "corpus": "fuzz: corpus folder kept across campaigns (default: one under the state folder)",
            "coverage": "fuzz: on (KCOV feedback where the kernel has it; default) or off",
            "checksum_repair": "fuzz: share of ext4-image inputs whose checksums are recomputed, 0..1 (default 0.8)",
            "stop_on": "fuzz: end at the first finding whose title contains this text",
            "minimize": "fuzz: on (after fuzzing, minimise each new finding and confirm it on a cold boot; "
                        "default) or off",
            "seed": "campaign seed (same seed, same workloads)",
            "resume": "campaign id or folder to continue after a kill", "json": "print the summary as JSON"})
@guard
def campaign_run(c, kind="ext4-crash", board=None, boards=None, scenario=None, mode=None, runs=None, seed=1,
                 resume="", json_=False, baseline=None, candidate=None, suite=None, budget=None, target=None,
                 duration=None, corpus=None, coverage=None, checksum_repair=None, stop_on=None, minimize=None,
                 wait="", priority=""):
    """Run a campaign: invoke campaign --kind ext4-crash --board B --scenario all --mode powerloss --runs N."""
    from sisctl.campaign.core import runner
    board, boards = board_choice(board, boards, resume)
    held_words = hold_options(wait, priority)   # for every board this campaign holds
    given = {"scenario": scenario, "mode": mode, "runs": runs, "baseline": baseline, "candidate": candidate,
             "suite": suite, "budget": budget, "target": target, "duration": duration, "corpus": corpus,
             "coverage": coverage, "checksum_repair": checksum_repair, "stop_on": stop_on, "minimize": minimize}
    options = {k: v for k, v in given.items() if v is not None}
    if not resume and not boards:
        _run_on_its_lab_host(kind, board, seed, options, held_words, json_)
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


def _run_on_its_lab_host(kind: str, board: str, seed, options: dict, held_words: list[str], json_: bool) -> None:
    """A board attached to another lab host: the campaign runs there and its records stream into
    this machine's reports; the task exits with the remote campaign's code. Otherwise returns."""
    if board.startswith("tag:"):
        return
    from sisctl.board.spec import find_board
    from sisctl.fleet.remote import lab_host_of, remote_campaign
    host = lab_host_of(find_board(board))
    if host is None:
        return
    done = remote_campaign(host, ["campaign", "--kind", kind, "--board", board, "--seed", str(seed), *held_words,
                                  *(f"--{key}={value}" for key, value in options.items())])
    summary = done.summary or {}
    if summary:
        print(json.dumps(summary, indent=1) if json_ else
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
