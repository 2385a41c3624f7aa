"""What a command holds through the coordinator, once per process: the hold a Board is given.

`held(board)` wraps every use of a board (flash, sessions); nested uses in one process share
the outer hold. The board's health check, when one is due, is the `health_check` passed in by
the jobs above (fleet never boots a board itself). `select_board('type=rpi4,...')` takes any healthy board with those tags and
keeps it until the process ends. A board that is no place on the coordinator, or any board
when there is no coordinator, is held by the local file lock alone; selecting by tags then is
a clear usage error.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from sisctl.errors import UsageError
from sisctl.duration import parse_duration
from sisctl.fleet.holder import priority_of
from sisctl.labfile import CoordinatorSpec, load_lab
from sisctl.fleet.hold import BoardHold, HealthCheck, NotInFleet


@dataclass
class _Claim:
    hold: BoardHold
    depth: int


_claims: dict[str, _Claim] = {}
_selected: dict[str, str] = {}        # tag selection -> the board it took
HELD_VARIABLE = "SISCTL_HELD"     # boards a parent process holds for the commands it runs ('invoke fleet.hold')
_guard = threading.Lock()
_hold_options: dict[str, float] = {}  # --wait / --priority of this command (over SISCTL_WAIT / SISCTL_PRIORITY)


def _spec() -> CoordinatorSpec:
    return load_lab().coordinator


def _progress(message: str) -> None:
    print(message, file=sys.stderr)


def set_hold_options(wait_s: float | None = None, priority: float | None = None) -> None:
    """How every hold of this process waits for a busy board, and at which priority (the
    command's --wait and --priority); None leaves SISCTL_WAIT / SISCTL_PRIORITY / lab.yaml in force."""
    for key, value in (("wait_s", wait_s), ("priority", priority)):
        if value is not None:
            _hold_options[key] = value


def _waiting(spec: CoordinatorSpec) -> tuple[float, float]:
    """How long to wait for a busy board and at which priority: --wait and --priority, else
    SISCTL_WAIT and SISCTL_PRIORITY, else lab.yaml's coordinator.wait_s and priority 0."""
    if "wait_s" in _hold_options:
        wait_s = _hold_options["wait_s"]
    elif os.environ.get("SISCTL_WAIT"):
        wait_s = parse_duration(os.environ["SISCTL_WAIT"], "SISCTL_WAIT")
    else:
        wait_s = spec.wait_s
    if "priority" in _hold_options:
        return wait_s, _hold_options["priority"]
    return wait_s, priority_of(os.environ.get("SISCTL_PRIORITY") or 0, "SISCTL_PRIORITY")


@contextmanager
def holding(hold: BoardHold, name: str) -> Iterator[None]:
    """Uses of the acquired board `name` share `hold` until the block ends; then it is handed back,
    told of the error that ended the block (an infrastructure error makes its health unknown)."""
    error = None
    try:
        with registered(name, hold):
            yield
    except BaseException as err:
        error = err
        raise
    finally:
        hold.release(error)


@contextmanager
def registered(name: str, hold: BoardHold) -> Iterator[None]:
    """Uses of board `name` in this process (and in commands it runs) share `hold`."""
    with _guard:
        _claims[name] = _Claim(hold, 1)
    inherited = os.environ.get(HELD_VARIABLE, "")
    os.environ[HELD_VARIABLE] = ",".join(filter(None, [inherited, name]))
    try:
        yield
    finally:
        os.environ[HELD_VARIABLE] = inherited
        with _guard:
            _claims.pop(name, None)


def _health_check_under(hold: BoardHold, check: HealthCheck) -> HealthCheck:
    """`check`, run while `hold` has the board (the check's own sessions nest inside)."""
    def checked_under_hold(board: str) -> tuple[bool, str]:
        with registered(hold.place, hold):
            return check(board)
    return checked_under_hold


def new_hold(address: str, spec: CoordinatorSpec, filters: dict[str, str], what: str,
             wait_s: float | None = None, priority: float | None = None,
             health_check: HealthCheck | None = None, **options) -> BoardHold:
    """A hold waiting SISCTL_WAIT at SISCTL_PRIORITY unless told; a due `health_check` runs first."""
    default_wait, default_priority = _waiting(spec)
    hold = BoardHold(address, spec, filters, what, default_wait if wait_s is None else wait_s,
                     default_priority if priority is None else priority, progress=_progress, **options)
    if health_check is not None and not hold.any_health:
        hold.health_check = _health_check_under(hold, health_check)
    return hold


def configured() -> tuple[CoordinatorSpec, str | None]:
    spec = _spec()
    from sisctl.fleet.embedded import coordinator_address   # labgrid's client, only when asked
    return spec, coordinator_address(spec)


def required(what: str) -> tuple[CoordinatorSpec, str]:
    """The coordinator `what` (a tag selection, a fleet task) needs; a usage error if none is configured."""
    spec, address = configured()
    if address is None:
        raise UsageError(f"{what} needs a coordinator, and none is configured: set coordinator.address in "
                         "lab/lab.yaml (or SISCTL_COORDINATOR), or run 'invoke lab.up' for the embedded one")
    return spec, address


@contextmanager
def held(board: str, health_check: HealthCheck | None = None) -> Iterator[None]:
    if board.startswith("tag:") and board[4:] in _selected:   # the board a tag selection took
        board = _selected[board[4:]]
    claim = _claims.get(board)
    if claim is None and board in os.environ.get(HELD_VARIABLE, "").split(","):
        yield                                    # the process that started this command holds it
        return
    if claim is not None:                        # this process holds it already
        claim.depth += 1
        try:
            yield
        finally:
            claim.depth -= 1
        if claim.hold.lost is not None:
            from sisctl.fleet.session import CoordinatorLost
            raise CoordinatorLost(f"{board}: lost the board while the job ran: {claim.hold.lost}")
        return
    spec = _spec()
    from sisctl.fleet.embedded import coordinator_address
    address = coordinator_address(spec)
    if address is None:
        yield
        return
    hold = new_hold(address, spec, {"name": board}, board, health_check=health_check)
    try:
        hold.acquire()
    except NotInFleet as err:        # not shared through the coordinator: the local lock alone holds it
        if address != spec.listen:
            _progress(f"note: {err}; held by this host's lock only")
        yield
        return
    with holding(hold, board):
        yield


def parse_tags(text: str, option: str = "--board") -> dict[str, str]:
    """'type=rpi4,host=lab1' -> {'type': 'rpi4', 'host': 'lab1'}; errors name `option`."""
    tags = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"{option} tag:{text}: expected tag:KEY=VALUE[,KEY=VALUE...], got {pair!r}")
        tags[key] = value
    if not tags:
        raise UsageError(f"{option} tag: names no tag; expected tag:KEY=VALUE[,KEY=VALUE...]")
    return tags


def select_board(tag_text: str, health_check: HealthCheck | None = None) -> str:
    """Hold any healthy board with these tags until this process ends; returns its name (the same
    one however often it is asked in this process)."""
    if tag_text in _selected:
        return _selected[tag_text]
    tags = parse_tags(tag_text)
    spec, address = required(f"--board tag:{tag_text}")
    hold = new_hold(address, spec, tags, f"tag:{tag_text}", health_check=health_check)
    name = hold.acquire()
    with _guard:
        _claims[name] = _Claim(hold, 1)
    os.environ[HELD_VARIABLE] = ",".join(filter(None, [os.environ.get(HELD_VARIABLE, ""), name]))
    atexit.register(_release_at_exit, name)
    _selected[tag_text] = name
    return name


def _release_at_exit(name: str) -> None:
    claim = _claims.pop(name, None)
    if claim is not None:
        from sisctl.fleet.session import CoordinatorLost
        try:
            claim.hold.release()
        except CoordinatorLost as err:
            print(f"error: {err}", file=sys.stderr)
