"""Tasks that build, flash, use and check one board: setup, build, flash, run, console, smoke, test."""
from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys

from invoke import Exit, task

from sisctl import errors
from sisctl.cli.common import HOLD_HELP, guard, hold_options, lines, say, usage
from sisctl.cli.remote import task_words
from sisctl.duration import parse_duration
from sisctl.jobs.boards import board_spec, fleet_board
from sisctl.paths import PROJECT


@task
def setup(c):
    """Install what sisctl needs (Debian packages, arm64 multiarch, the venv); safe to repeat."""
    subprocess.run(["bash", str(PROJECT / "lab" / "setup.sh")], check=True)


@task(help={"recipe": "recipe name (firmware/recipes/NAME.yaml) or path", "force": "rebuild even if cached",
            "json": "print the manifest as JSON"})
@guard
def build(c, recipe="debian-arm64", force=False, json_=False):
    """Build (or fetch) a kernel artifact from a recipe; cached by a hash of the recipe and its inputs."""
    from sisctl.build.builder import build as build_artifact
    from sisctl.build.recipe import find_recipe
    artifact = build_artifact(find_recipe(recipe), force=force, progress=lines(json_))
    m = artifact.manifest
    say(json_, {"artifact": str(artifact.root), **{k: v for k, v in m.items() if k != "files"}},
        f"{artifact.root}\n  kernel {m['kernel_version']}  build-id {m['build_id']}  "
        f"modules {m['modules']}  files {len(m['files'])}")


def _remote(spec, board_task, given: dict, interactive: bool = False):
    """Run this task (`given`: its arguments) on the lab host the board is attached to, if it is
    another one: exit with its code."""
    from sisctl.fleet.remote import lab_host_of, run_remote
    host = lab_host_of(spec)
    if host is not None:
        words = task_words(board_task, {**given, "board": host.board_ref(spec.name)})
        raise Exit(code=run_remote(host, words, interactive=interactive))


@task(help={"board": "board name (boards/NAME.yaml) or path", "recipe": "kernel recipe (default: the board's)",
            "json": "print the result as JSON", **HOLD_HELP})
@guard
def flash(c, board="qemu-virt-0", recipe="", json_=False, wait="", priority=""):
    """Build the kernel and install it on a board, boot it to the agent's ready marker, save a ready snapshot."""
    from sisctl.board.firstuse import kernel_for
    hold_options(wait, priority)
    spec = board_spec(board)
    _remote(spec, flash, locals())
    target = fleet_board(spec)
    result = target.flash(kernel_for(target, recipe, progress=lines(json_)), progress=lines(json_))
    say(json_, result, f"{spec.name}: {result['kernel_version']} boots to ready in {result['boot_s']:.2f} s "
                       f"(console log: {result['run_dir']}/console.log)")


@task(help={"board": "board name or path", "timeout": "seconds the command may run",
            "cold": "boot cold instead of from the ready snapshot", "cmd": "command string (instead of -- ARGS)",
            "json": "print the result as JSON (output base64-free, decoded as UTF-8)", **HOLD_HELP})
@guard
def run(c, board="qemu-virt-0", timeout="60", cold=False, cmd="", json_=False, wait="", priority=""):
    """Run a command on the board's flashed kernel: invoke run --board B -- uname -a. Exits with its status."""
    from sisctl.board.agent import shown
    from sisctl.board.firstuse import ensure_flashed
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    command = cmd or shlex.join(argv)
    if not command:
        raise usage("give a command after -- (or --cmd)")
    timeout_s = parse_duration(timeout, "--timeout", above=0)
    hold_options(wait, priority)
    spec = board_spec(board)
    _remote(spec, run, {**locals(), "cmd": command})
    target = fleet_board(spec)
    ensure_flashed(target, lines(True))   # a first use flashes the default recipe; stdout stays the command's
    with target.session(fast=not cold, label="run") as session:
        result = session.run(command, timeout_s=timeout_s)
    if json_:
        print(json.dumps({"command": command, "stdout": result.stdout.decode(errors="replace"),
                          "stderr": result.stderr.decode(errors="replace"), "reason": result.reason,
                          "code": result.code, "duration_s": result.duration_s, "boot": session.boot_mode}))
    else:
        sys.stdout.buffer.write(result.stdout)
        sys.stderr.buffer.write(result.stderr)
    if result.reason == "timeout":
        raise Exit(f"error: {shown(command)} timed out after {timeout_s:g} s", code=124)
    raise Exit(code=result.code if result.reason == "exit" else 128 + result.code)


@task(help={"board": "board name or path", "cold": "boot cold instead of from the ready snapshot", **HOLD_HELP})
@guard
def console(c, board="qemu-virt-0", cold=False, wait="", priority=""):
    """Attach to the board's console with a shell in the guest; Ctrl-] detaches and stops the board."""
    from sisctl.board.firstuse import ensure_flashed
    from sisctl.board.interactive import attach
    from sisctl.proc import interrupted
    hold_options(wait, priority)
    signal.signal(signal.SIGHUP, interrupted)   # a closed terminal or lost connection stops the board too
    spec = board_spec(board)
    _remote(spec, console, locals(), interactive=True)
    target = fleet_board(spec)
    ensure_flashed(target)
    with target.session(fast=not cold, label="console") as session:
        attach(session)


@task(help={"board": "board name or path", "recipe": "kernel recipe (default: the board's)",
            "json": "print the summary as JSON", **HOLD_HELP})
@guard
def smoke(c, board="qemu-virt-0", recipe="", json_=False, wait="", priority=""):
    """The main job: build the kernel, flash the board, run the smoke checks, write a report under reports/."""
    from sisctl.jobs.smoke import run_smoke
    hold_options(wait, priority)
    summary = None if board.startswith("tag:") else _remote_smoke(board_spec(board), locals())
    summary = summary or run_smoke(board, recipe, progress=lines(json_))
    say(json_, summary, f"smoke: {summary['passed']} passed, {summary['failed']} failed; "
                        f"report {summary['report']}")
    if summary["failed"]:
        raise Exit(code=errors.TEST_FAILURE)


def _remote_smoke(spec, given: dict) -> dict | None:
    """On the lab host the board is attached to, if it is another one (`given`: smoke's arguments; its
    summary is printed here): its report is copied here."""
    from sisctl.fleet.remote import LabHostError, lab_host_of, remote_campaign
    host = lab_host_of(spec)
    if host is None:
        return None
    done = remote_campaign(host, task_words(smoke, {**given, "board": spec.name}, leave_out=("json_",)),
                           marker="summary.json")
    if done.summary is None and done.code == errors.OK:
        raise LabHostError(f"{host.where}: smoke ended with exit 0 but wrote no report")
    if done.summary is None or done.code not in (errors.OK, errors.TEST_FAILURE):
        raise Exit(code=done.code)   # what went wrong there was printed as it happened
    return done.summary


@task(help={"fast": "unit tests only (no QEMU)", "all": "the slow tests too (about 20 minutes more)",
            "k": "only tests matching this pytest expression"})
def test(c, fast=False, all=False, k=""):
    """Run the test suite (unit + integration with real QEMU, kbuild and e2fsprogs), without the tests
    marked slow unless --all."""
    argv = [sys.executable, "-m", "pytest", "-ra", "--durations=30", str(PROJECT / "tests")]
    if fast:
        argv += ["-m", "not integration and not kbuild"]
    elif not all:
        argv += ["-m", "not slow"]
    if k:
        argv += ["-k", k]
    raise Exit(code=subprocess.run(argv, cwd=PROJECT).returncode)
