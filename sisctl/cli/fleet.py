"""Fleet tasks: the boards shared through the lab's labgrid coordinator (sisctl/fleet)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from invoke import Collection, Exit, task

from sisctl.cli.common import guard, say, usage
from sisctl.errors import INFRASTRUCTURE, UsageError


def _session():
    from sisctl.fleet.claims import required
    from sisctl.fleet.holder import this_process
    from sisctl.fleet.session import CoordinatorSession
    spec, address = required("a fleet task")
    holder = this_process()
    return spec, CoordinatorSession(address, f"{holder.host}/sisctl-admin-{holder.pid}", spec.connect_timeout_s)


def _place(session, board: str):
    place = session.places().get(board)
    if place is None:
        raise UsageError(f"--board {board}: no such place on the coordinator at {session.address}; "
                         "run 'invoke fleet.export --host HOST' for its lab host")
    return place


@task(name="list", help={"json": "print as JSON"})
@guard
def fleet_list(c, json_=False):
    """Every board: lab host, tags, state (idle/reserved/running), health, holder, last health check."""
    from sisctl.fleet.inventory import inventory, text_line
    _, session = _session()
    with session:
        rows = inventory(session)
    if json_:
        print(json.dumps(rows, indent=1))
    else:
        print("\n".join(text_line(r) for r in rows) or "no boards on the coordinator; run 'invoke fleet.export'")


@task(name="export", help={"host": "the lab host whose boards (lab.host in boards/*.yaml) are exported",
                           "output": "where to write the exporter configuration (default: the state folder)",
                           "boards": "folder of board files (default: boards/)"})
@guard
def fleet_export(c, host, output="", boards=""):
    """Write the labgrid exporter configuration of lab host HOST and create its boards' places and tags."""
    from pathlib import Path

    from sisctl.fleet.embedded import labgrid_tool
    from sisctl.board.spec import load_boards
    from sisctl.fleet.export import boards_of_host, create_places, write_exporter_config
    specs = boards_of_host(host, load_boards(Path(boards) if boards else None))
    if not specs:
        raise UsageError(f"--host {host}: no board names it (lab: {{host: {host}}} in boards/*.yaml)")
    spec, session = _session()
    with session:
        names = create_places(session, host, specs)
    path = write_exporter_config(host, specs, Path(output) if output else None)
    print(f"{host}: places {', '.join(names)}; exporter configuration {path}\n"
          f"run on {host}: {labgrid_tool('labgrid-exporter')} -c {session.address} -n {host} {path}")


@task(name="reap")
@guard
def fleet_reap(c):
    """Free boards whose holder's lease expired, and reservations of waiters that died on this host."""
    from sisctl.fleet.reaper import reap
    spec, session = _session()
    with session:
        done = reap(session, spec.lease_s, print)
    if not done:
        print("nothing to reap")


@task(name="maintenance", help={"board": "board name", "on": "take the board out of service",
                                "off": "put it back (health unknown: it is checked before its next job)",
                                "reason": "why, shown by fleet.list"})
@guard
def fleet_maintenance(c, board, on=False, off=False, reason=""):
    """Take a board out of service (--on) or put it back (--off)."""
    from sisctl.fleet.health import health_tags, record_health
    if on == off:
        raise usage("give exactly one of --on and --off")
    _, session = _session()
    with session:
        host = _place(session, board).tags.get("host", "")
        session.set_tags(board, health_tags("maintenance", reason or "maintenance") if on
                         else health_tags("unknown", reason or "back from maintenance"))
    record_health(board, host, "maintenance" if on else "unknown", "maintenance")
    print(f"{board}: {'in maintenance: it gets no jobs' if on else 'back in service; checked before its next job'}")


@task(name="health", help={"board": "board name", "wait": "how long to wait for the board (90s, 30m, 2h)",
                           "json": "print as JSON"})
@guard
def fleet_health(c, board, wait="30m", json_=False):
    """Run the board's health check (boot to the agent, smoke checks, a disk and e2fsck) and set good or bad."""
    from sisctl.duration import parse_duration
    from sisctl.fleet.claims import holding, new_hold
    from sisctl.fleet.health import checked, health_of, health_tags
    from sisctl.jobs.healthcheck import check_board
    wait_s = parse_duration(wait, "--wait")
    spec, session = _session()
    with session:
        tags = _place(session, board).tags
    current = health_of(tags)
    if current in ("maintenance", "retired"):
        raise UsageError(f"{board} is {current}: take it out with 'invoke fleet.maintenance --board {board} --off' first")
    hold = new_hold(session.address, spec, {"name": board}, board, wait_s=wait_s, any_health=True)
    hold.acquire()
    with holding(hold, board):
        passed, why = checked(board, tags, "manual", check_board)
        hold.session.set_tags(board, health_tags("good" if passed else "bad", why, checked=time.time()))
    say(json_, {"board": board, "health": "good" if passed else "bad", "reason": why},
        f"{board}: health {'good' if passed else 'bad: ' + why}")
    if not passed:
        raise Exit(code=INFRASTRUCTURE)


@task(name="hold", help={"board": "board name, or tag:KEY=VALUE[,...] for any healthy board with those tags",
                         "wait": "how long to wait for a busy board (90s, 30m, 2h)",
                         "priority": "higher is served first among waiters",
                         "seconds": "with no command: hold the board this long"})
@guard
def fleet_hold(c, board, wait="", priority="0", seconds="0"):
    """Hold a board for the command after '--' (SISCTL_BOARD names it), or for --seconds."""
    from sisctl.duration import parse_duration
    from sisctl.fleet.claims import holding, new_hold, parse_tags, required
    from sisctl.fleet.holder import priority_of
    from sisctl.jobs.healthcheck import check_board
    from sisctl.proc import interrupted
    signal.signal(signal.SIGTERM, interrupted)     # a cancelled CI job hands the board over too
    filters = parse_tags(board[4:]) if board.startswith("tag:") else {"name": board}
    wait_s = parse_duration(wait, "--wait") if wait else None
    hold_s = parse_duration(seconds, "--seconds")
    spec, address = required("fleet.hold")
    hold = new_hold(address, spec, filters, board, wait_s=wait_s, priority=priority_of(priority, "--priority"),
                    health_check=check_board)
    started = time.monotonic()
    name = hold.acquire()
    waited, held_from = time.monotonic() - started, time.time()
    status = 0
    with holding(hold, name):
        command = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
        if command:
            status = subprocess.run(command, env={**os.environ, "SISCTL_BOARD": name}).returncode
        else:
            time.sleep(hold_s)
        held_until = time.time()
    print(json.dumps({"board": name, "waited_s": round(waited, 3), "held_from": held_from,
                      "held_until": held_until, "pid": os.getpid(), "status": status}))
    if status:
        raise Exit(code=status)


fleet = Collection("fleet")
for fleet_task in (fleet_list, fleet_export, fleet_reap, fleet_maintenance, fleet_health, fleet_hold):
    fleet.add_task(fleet_task)
