"""`invoke fuzz.repro` and `invoke fuzz.minimize`: a fuzz campaign's finding, again and smaller;
`invoke fuzz.cmin`: a target's corpus cut to the inputs that keep its kernel coverage.

fuzz.repro exits 0 when the finding came back at least once, 1 when it never did.
"""
from __future__ import annotations

from invoke import Collection, Exit, task

from sisctl.cli.common import guard, lines, say


def _reproducer(campaign: str, crash: str, progress):
    from sisctl.board.firstuse import ensure_flashed
    from sisctl.jobs.boards import held_board
    from sisctl.campaign.core.runner import campaign_dir, load_campaign
    from sisctl.campaign.fuzz.reproducer import Reproducer
    from sisctl.campaign.fuzz.seeds import load_seeds
    from sisctl.errors import UsageError
    out = campaign_dir(campaign)
    kind, config = load_campaign(out)
    if kind.name != "fuzz":
        raise UsageError(f"{out.name} is a {kind.name} campaign, not a fuzz campaign")
    found = sorted(p.parent.name for p in (out / "crashes").glob("*/crash.json"))
    if crash not in found:   # a name of the list, never a path: nothing is read outside the campaign
        raise UsageError(f"--crash {crash[:80]!r}: no such finding in {out.name}; its findings: "
                         f"{', '.join(found) or 'none'}")
    board = held_board(config.board)
    ensure_flashed(board, progress)
    return Reproducer(board, load_seeds(), out / "crashes" / crash, progress)


@task(help={"campaign": "campaign id or folder", "crash": "the finding's TITLE-ID (its folder under crashes/)",
            "runs": "how many times to run it (default 10)", "json": "print the result as JSON"})
@guard
def repro(c, campaign, crash, runs=10, json_=False):
    """Run a finding's input again from the ready snapshot RUNS times and print its reliability."""
    reproducer = _reproducer(campaign, crash, lines(json_))
    result = reproducer.reliability(int(runs))
    say(json_, result, f"\n{result['title']}: {result['hits']}/{result['runs']} runs "
                       f"({result['reliability']:.0%}); other outcomes: "
                       f"{ {k: v for k, v in result['titles'].items() if k != result['title']} or 'none'}")
    if not result["hits"]:
        raise Exit(code=1)


@task(help={"campaign": "campaign id or folder", "crash": "the finding's TITLE-ID",
            "cold": "confirm the result on a cold boot (default on)", "json": "print the result as JSON"})
@guard
def minimize(c, campaign, crash, cold=True, json_=False):
    """Delta-debug a finding's mutations and ops to a smallest input with the same title (crashes/ID/minimized/)."""
    reproducer = _reproducer(campaign, crash, lines(json_))
    result = reproducer.minimize(confirm_cold=cold)
    say(json_, result, f"{result['title']}: mutations {result['mutations'][0]} -> {result['mutations'][1]}, "
                       f"ops {result['ops'][0]} -> {result['ops'][1]} in {result['runs']} runs; "
                       f"cold boot: {result['confirmed_cold_boot']}; files in "
                       f"{reproducer.crash_dir / 'minimized'}")


@task(help={"target": "ext4-image, vfs-ops or vfs-paths", "board": "a board whose kernel has KCOV "
            "(default qemu-virt-planted)", "corpus": "corpus folder (default: the one under the state folder)",
            "json": "print the result as JSON"})
@guard
def cmin(c, target, board="qemu-virt-planted", corpus="", json_=False):
    """Keep the fewest corpus inputs of TARGET that reach the same kernel PCs (KCOV); the rest move to removed/."""
    import tempfile
    from pathlib import Path
    from sisctl.board.firstuse import ensure_flashed
    from sisctl.jobs.boards import held_board
    from sisctl.campaign.fuzz.cmin import minimize_corpus
    from sisctl.campaign.fuzz.options import FuzzConfig
    from sisctl.campaign.fuzz.inputs import TARGETS
    from sisctl.campaign.fuzz.seeds import load_seeds
    from sisctl.errors import UsageError
    if target not in TARGETS:
        raise UsageError(f"--target {target!r}: expected one of {', '.join(TARGETS)}")
    root = Path(corpus).resolve() if corpus else FuzzConfig(board).corpus_dir()
    if not (root / target).is_dir():
        raise UsageError(f"--corpus {root}: no {target} folder in it")
    the_board = held_board(board)
    progress = lines(json_)
    ensure_flashed(the_board, progress)
    with tempfile.TemporaryDirectory(prefix="fuzz-cmin-") as work:
        result = minimize_corpus(the_board, root, target, load_seeds(), Path(work), progress)
    say(json_, result, f"\n{target}: {result['before']} -> {result['after']} inputs, same {result['pcs']} kernel PCs "
                       f"({result['measured']} measured on {board}); removed inputs in {result['removed_to']}")


fuzz = Collection("fuzz")
fuzz.add_task(repro)
fuzz.add_task(minimize)
fuzz.add_task(cmin)
