"""sisctl's command line: `invoke --list` shows every task, `invoke --help TASK` its options."""
from __future__ import annotations

import functools
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from invoke import Collection, Exit, task

from sisctl import config, proc
from sisctl.board.errors import BoardError
from sisctl.image.kernel import InvalidKernel
from sisctl.image.modules import ModuleError
from sisctl.telemetry.tsdb import TsdbError

PROJECT = Path(__file__).resolve().parent
CLEAR_ERRORS = (config.ConfigError, BoardError, InvalidKernel, ModuleError, proc.ToolError, TsdbError)


def _guard(fn):
    """Turn the tool's own errors into one clear message and exit code 1, not a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CLEAR_ERRORS as err:
            raise Exit(f"error: {err}", code=1) from None
        except KeyboardInterrupt:
            raise Exit("interrupted; every machine this command started has been stopped", code=130) from None
    return wrapper


def _say(as_json: bool, data: dict, text: str) -> None:
    print(json.dumps(data, indent=1) if as_json else text)


@task
def setup(c):
    """Install what sisctl needs (Debian packages, arm64 multiarch, the venv); safe to repeat."""
    subprocess.run(["bash", str(PROJECT / "lab" / "setup.sh")], check=True)


@task(help={"recipe": "recipe name (firmware/recipes/NAME.yaml) or path", "force": "rebuild even if cached",
            "json": "print the manifest as JSON"})
@_guard
def build(c, recipe="debian-arm64", force=False, json_=False):
    """Build (or fetch) a kernel artifact from a recipe; cached by a hash of the recipe and its inputs."""
    from sisctl.build.builder import build as build_artifact
    from sisctl.build.recipe import find_recipe
    artifact = build_artifact(find_recipe(recipe), force=force, progress=_progress(json_))
    m = artifact.manifest
    _say(json_, {"artifact": str(artifact.root), **{k: v for k, v in m.items() if k != "files"}},
         f"{artifact.root}\n  kernel {m['kernel_version']}  build-id {m['build_id']}  "
         f"modules {m['modules']}  files {len(m['files'])}")


def _progress(quiet: bool):
    return (lambda msg: print(msg, file=sys.stderr)) if quiet else print


@task(help={"board": "board name (boards/NAME.yaml) or path", "recipe": "kernel recipe (default: the board's)",
            "json": "print the result as JSON"})
@_guard
def flash(c, board="qemu-virt-0", recipe="", json_=False):
    """Build the kernel and install it on a board, boot it to the agent's ready marker, save a ready snapshot."""
    from sisctl.board.board import Board
    from sisctl.board.spec import find_board
    from sisctl.build.builder import build as build_artifact
    from sisctl.build.recipe import find_recipe
    spec = find_board(board)
    artifact = build_artifact(find_recipe(recipe or spec.recipe), progress=_progress(json_))
    result = Board(spec).flash(artifact, progress=_progress(json_))
    _say(json_, result, f"{spec.name}: {result['kernel_version']} boots to ready in {result['boot_s']:.2f} s "
                        f"(console log: {result['run_dir']}/console.log)")


@task(help={"board": "board name or path", "timeout": "seconds the command may run",
            "cold": "boot cold instead of from the ready snapshot", "cmd": "command string (instead of -- ARGS)",
            "json": "print the result as JSON (output base64-free, decoded as UTF-8)"})
@_guard
def run(c, board="qemu-virt-0", timeout=60.0, cold=False, cmd="", json_=False):
    """Run a command on the board's flashed kernel: invoke run --board B -- uname -a. Exits with its status."""
    from sisctl.board.board import Board
    from sisctl.board.spec import find_board
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    command = cmd or shlex.join(argv)
    if not command:
        raise Exit("error: give a command after -- (or --cmd)", code=2)
    with Board(find_board(board)).session(fast=not cold, label="run") as session:
        result = session.run(command, timeout_s=float(timeout))
    if json_:
        print(json.dumps({"command": command, "stdout": result.stdout.decode(errors="replace"),
                          "stderr": result.stderr.decode(errors="replace"), "reason": result.reason,
                          "code": result.code, "duration_s": result.duration_s, "boot": session.boot_mode}))
    else:
        sys.stdout.buffer.write(result.stdout)
        sys.stderr.buffer.write(result.stderr)
    if result.reason == "timeout":
        raise Exit(f"error: {command!r} timed out after {timeout} s", code=124)
    raise Exit(code=result.code if result.reason == "exit" else 128 + result.code)


@task(help={"board": "board name or path", "cold": "boot cold instead of from the ready snapshot"})
@_guard
def console(c, board="qemu-virt-0", cold=False):
    """Attach to the board's console with a shell in the guest; Ctrl-] detaches and stops the board."""
    from sisctl.board.board import Board
    from sisctl.board.interactive import attach
    from sisctl.board.spec import find_board
    with Board(find_board(board)).session(fast=not cold, label="console") as session:
        attach(session)


@task(help={"board": "board name or path", "recipe": "kernel recipe (default: the board's)",
            "json": "print the summary as JSON"})
@_guard
def smoke(c, board="qemu-virt-0", recipe="", json_=False):
    """The main job: build the kernel, flash the board, run the smoke checks, write a report under reports/."""
    from sisctl.smoke import run_smoke
    summary = run_smoke(board, recipe, progress=_progress(json_))
    _say(json_, summary, f"smoke: {summary['passed']} passed, {summary['failed']} failed; "
                         f"report {summary['report']}")
    if summary["failed"]:
        raise Exit(code=1)


@task(help={"fast": "unit tests only (no QEMU)", "k": "only tests matching this pytest expression"})
def test(c, fast=False, k=""):
    """Run the test suite (unit + integration with real QEMU, kbuild and e2fsprogs)."""
    argv = [sys.executable, "-m", "pytest", "-ra", str(PROJECT / "tests")]
    if fast:
        argv += ["-m", "not integration and not kbuild"]
    if k:
        argv += ["-k", k]
    raise Exit(code=subprocess.run(argv, cwd=PROJECT).returncode)


@task(name="boot", help={"board": "board name or path", "runs": "boots of each kind"})
@_guard
def bench_boot(c, board="qemu-virt-0", runs=3):
    """Benchmark: cold boot-to-ready vs snapshot-restore-to-ready, and their ratio."""
    subprocess.run([sys.executable, str(PROJECT / "benchmarks" / "boot.py"), "--board", board,
                    "--runs", str(runs)], check=True)


@task(name="run", default=True,
      help={"kind": "campaign kind (ext4-crash)", "board": "board name or path",
            "scenario": "scenario name, comma list, 'all', or generated-N", "mode": "powerloss or reset",
            "runs": "runs per scenario", "seed": "campaign seed (same seed, same workloads)",
            "resume": "campaign id or folder to continue after a kill", "json": "print the summary as JSON"})
@_guard
def campaign_run(c, kind="ext4-crash", board="qemu-virt-0", scenario="all", mode="powerloss", runs=2, seed=1,
                 resume="", json_=False):
    """Run a campaign: invoke campaign --kind ext4-crash --board B --scenario all --mode powerloss --runs N."""
    from sisctl.campaign import runner
    progress = _live_progress(json_)
    summary = (runner.resume(resume, progress) if resume else
               runner.start(kind, board, scenario, mode, int(runs), int(seed), progress))
    if json_:
        print(json.dumps(summary, indent=1))
    else:
        print(f"report: {summary['report']}  ({summary['states_per_minute']} states/min)")
    if summary["failed"]:
        raise Exit(code=1)


def _live_progress(quiet: bool):
    def show(message: str) -> None:
        if quiet:
            return
        stream = sys.stderr
        stream.write(message if message.startswith("\r") else f"\r{message}\n")
        stream.flush()
    return show


@task(help={"campaign": "campaign id or folder", "state": "state key from a record: SCENARIO/RUN/STATE"})
@_guard
def replay(c, campaign, state):
    """Rebuild one recorded crash state and check it again (the record's 'reproduce' command)."""
    from sisctl.campaign import runner
    record = runner.replay(campaign, state, progress=print)
    raise Exit(code=0 if record["outcome"] == "ok" else 1)


@task(name="up")
@_guard
def lab_up(c):
    """Start the embedded lab database (VictoriaMetrics, InfluxDB write API) on loopback."""
    from sisctl.telemetry.lab import embedded_tsdb, load_lab
    db = embedded_tsdb(load_lab())
    print(f"lab database running at {db.url} (pid {db.start()}, data in {db.data_dir})")


@task(name="down")
@_guard
def lab_down(c):
    """Stop the embedded lab database; its data stays."""
    from sisctl.telemetry.lab import embedded_tsdb, load_lab
    embedded_tsdb(load_lab()).stop()
    print("lab database stopped")


@task(name="status", help={"json": "print as JSON"})
@_guard
def telemetry_status(c, json_=False):
    """Telemetry spool depth, last successful write and last error."""
    from sisctl.telemetry.lab import load_lab, open_sink
    sink = open_sink(load_lab())
    time.sleep(1.0)   # one delivery attempt
    status = sink.status()
    sink.close(drain_s=0)
    _say(json_, status, f"{status['url']}: {status['spool_depth']} points spooled; last success "
                        f"{time.ctime(status['last_success']) if status['last_success'] else 'never (this process)'}"
                        + (f"; last error: {status['last_error']}" if status["last_error"] else ""))


@task(name="dashboards")
def lab_dashboards(c):
    """Regenerate the Grafana provisioning files in lab/grafana/ from the telemetry schema."""
    from sisctl.telemetry.dashboards import write_all
    for path in write_all(PROJECT / "lab" / "grafana"):
        print(path.relative_to(PROJECT))


@task(name="calibrate", help={"board": "board name or path (its power_meter must be tasmota or http)",
                               "seconds": "length of the idle and of the busy phase"})
@_guard
def power_calibrate(c, board="qemu-virt-0", seconds=20.0):
    """Fit the board's power model (idle_w, cpu_w) to its real meter over an idle and a busy phase."""
    from sisctl.board.board import Board
    from sisctl.board.spec import find_board
    from sisctl.telemetry.calibrate import BUSY, calibrate
    from sisctl.telemetry.power import PowerError, read_power
    spec = find_board(board)
    if spec.power_meter.model not in ("tasmota", "http"):
        raise Exit(f"error: {spec.name}: calibration needs a host-side meter (power_meter.model tasmota or "
                   f"http), not {spec.power_meter.model!r}", code=1)
    with Board(spec).session(label="calibrate") as session:
        try:
            idle, cpu = calibrate(lambda: read_power(spec.power_meter).watts,
                                  start_busy=lambda s: session.agent.start(BUSY.format(s=int(s) + 2), s + 10),
                                  wait_idle=lambda s: None, seconds=float(seconds))
        except PowerError as err:
            raise Exit(f"error: {err}", code=1) from None
    print(f"{spec.name}: put this in {spec.source}:\npower_meter:\n  idle_w: {idle:.2f}\n  cpu_w: {cpu:.2f}")


@task(name="switch", help={"board": "board name or path", "action": "on, off, cycle or status"})
@_guard
def power_switch(c, board, action="status"):
    """Switch a real board's power (tasmota, http, uhubctl, gpio, manual): on, off, cycle, status."""
    from sisctl.board.power import PowerSwitchError, power_cycle, power_get, power_set
    from sisctl.board.spec import find_board
    spec = find_board(board)
    if spec.power.model == "qmp":
        raise Exit(f"error: {spec.name} is a QEMU board: its power is its QEMU process (flash/run/console)", code=1)
    try:
        if action in ("on", "off"):
            power_set(spec.power, action == "on")
        elif action == "cycle":
            power_cycle(spec.power)
        elif action != "status":
            raise Exit("error: --action is one of on, off, cycle, status", code=2)
        state = power_get(spec.power)
    except PowerSwitchError as err:
        raise Exit(f"error: {spec.name}: {err}", code=1) from None
    print(f"{spec.name}: power {'unknown' if state is None else 'on' if state else 'off'}")


power = Collection("power")
power.add_task(power_switch)
power.add_task(power_calibrate)
lab = Collection("lab")
lab.add_task(lab_dashboards)
lab.add_task(lab_up)
lab.add_task(lab_down)
telemetry = Collection("telemetry")
telemetry.add_task(telemetry_status)
campaign = Collection("campaign")
campaign.add_task(campaign_run, default=True)
campaign.add_task(replay)
@task(name="crash", help={"board": "board name or path", "runs": "workload runs per scenario"})
@_guard
def bench_crash(c, board="qemu-virt-0", runs=2):
    """Benchmark: verified ext4 crash states per minute, fast path vs a cold boot per state, and the ratio."""
    subprocess.run([sys.executable, str(PROJECT / "benchmarks" / "crash.py"), "--board", board,
                    "--runs", str(runs)], check=True)


@task(name="telemetry", help={"board": "board name or path"})
@_guard
def bench_telemetry(c, board="qemu-virt-0"):
    """Benchmark: points/s into the local database, and the overhead of periodic PMU sampling."""
    subprocess.run([sys.executable, str(PROJECT / "benchmarks" / "telemetry.py"), "--board", board], check=True)


bench = Collection("bench")
bench.add_task(bench_telemetry)
bench.add_task(bench_boot)
bench.add_task(bench_crash)
ns = Collection(setup, build, flash, run, console, smoke, test, campaign, bench, lab, telemetry, power)
