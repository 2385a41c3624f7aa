"""What every task shares: one-line errors with the exit code of their kind, JSON or text output."""
from __future__ import annotations

import atexit
import contextlib
import errno
import functools
import gc
import io
import json
import logging
import os
import signal
import sys
import threading

from invoke import Exit
from invoke.parser.argument import Argument

from sisctl import errors


def _usage_on_bad_number(set_value):
    """invoke casts `--seed abc` with int() while parsing, before any task runs, and a ValueError
    there becomes a traceback: make it the usage error every other bad option is (exit 2)."""
    @functools.wraps(set_value)
    def wrapper(self, value, cast=True):
        try:
            return set_value(self, value, cast)
        except ValueError:
            kind = {int: "a whole number", float: "a number"}.get(self.kind, self.kind.__name__)
            raise Exit(f"error: --{self.name.replace('_', '-')} takes {kind}, got {value!r}",
                       code=errors.USAGE) from None
    return wrapper


Argument.set_value = _usage_on_bad_number(Argument.set_value)


_exit_code: list[int] = []     # the code the last guarded task ended with


def usage_errors_exit_2() -> None:
    """An option invoke's parser does not know (a typo, a value given twice) is a usage error: exit 2,
    as sisctl's own usage errors, not invoke's 1 (which means a test failure here)."""
    from invoke.exceptions import Exit, ParseError
    from invoke.program import Program
    parse = Program.parse_tasks

    def parse_tasks(self) -> None:
        try:
            parse(self)
        except ParseError as err:
            raise Exit(f"error: {err}", code=errors.USAGE) from None
    Program.parse_tasks = parse_tasks


def leave_without_teardown_at_exit() -> None:
    """For the command line only: grpc's core can deadlock while the interpreter tears itself
    down (a fleet.hold that had printed its result never exited). Registered before any other
    exit step, this runs after them all; a task that used the coordinator then leaves with its
    own exit code, skipping the teardown."""
    atexit.register(_leave_without_teardown)


def _leave_without_teardown() -> None:
    if _exit_code and "grpc" in sys.modules:
        gc.collect()                # files kept only by reference cycles are closed, flushing them
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_code[-1])


class Terminated(KeyboardInterrupt):
    """SIGTERM (a cancelled CI job) or SIGHUP (a closed terminal): a task ends as after Ctrl-C,
    its summary and JUnit written, its machines stopped, and exits 128 + the signal's number."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_handling: list[bool] = []             # set while a task runs with the handlers below
_stopping: list[bool] = []             # set once an interrupt was raised: the task is stopping
_in_unraisable_hook: list[bool] = []   # set while the hook below runs


def _interrupt_again_soon(signum: int) -> None:
    """The signal again, sent to the main thread from another one (so that a wait it is in ends)
    once it has left the line that lost the interrupt."""
    def send():
        if _handling:
            signal.pthread_kill(threading.main_thread().ident, signum)
    threading.Timer(0.05, send).start()


def _interrupted(signum, frame):
    if _in_unraisable_hook:      # raised here, it would be printed and lost
        _interrupt_again_soon(signum)
        return
    if _stopping:                # a second Ctrl-C, or a CI runner signalling twice: the stop goes on
        print(f"{signal.Signals(signum).name} again: still stopping (summary, JUnit, machines)",
              file=sys.stderr, flush=True)
        return
    _stopping.append(True)
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)


def _raise_again_if_swallowed(unraisable, previous=sys.unraisablehook) -> None:
    """Python runs a signal handler at whatever line the main thread is on; where that line's
    exceptions are only printed (an after-fork callback while subprocess starts a program, a
    __del__) the interrupt would be lost and the task run on. It is raised once more instead,
    a moment later, until it lands where it can end the task."""
    err = unraisable.exc_value
    if not isinstance(err, KeyboardInterrupt):
        return previous(unraisable)
    _in_unraisable_hook.append(True)
    _stopping.clear()            # it did not stop anything
    try:
        _interrupt_again_soon(err.signum if isinstance(err, Terminated) else signal.SIGINT)
    finally:
        _in_unraisable_hook.clear()


INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _signals_as_interrupts():
    """Ctrl-C, SIGTERM and SIGHUP interrupt the main thread while a task runs, and none is lost
    where Python would only print it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _interrupted) for sig in INTERRUPTS}
    previous_hook, sys.unraisablehook = sys.unraisablehook, \
        functools.partial(_raise_again_if_swallowed, previous=sys.unraisablehook)
    _handling.append(True)
    try:
        yield
    finally:
        _handling.clear()
        _stopping.clear()
        sys.unraisablehook = previous_hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def guard(fn):
    """The tool's own errors become one line on stderr and their exit code (0/1/2/75), never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _exit_code.clear()
        try:
            with _signals_as_interrupts():
                result = fn(*args, **kwargs)
            _exit_code.append(0)
            return result
        except Exit as done:
            _exit_code.append(done.code)
            raise
        except errors.SisctlError as err:
            first, _, detail = str(err).partition("\n")
            if detail:   # a board's console tail goes first, so the last line says what failed
                print(detail, file=sys.stderr)
            for note in getattr(err, "__notes__", ()):   # cleanup steps that failed after it
                print(note, file=sys.stderr)
            _exit_code.append(err.exit_code)
            raise Exit(f"error: {first}", code=err.exit_code) from None
        except OSError as err:   # a full or read-only disk, a folder that vanished: name the path
            filename = err.filename or _path_written(err)
            where = f"{errors.cut(str(filename), 200)}: " if filename else ""
            code = errors.USAGE if err.errno in NAMES_GIVEN_WRONG else errors.INFRASTRUCTURE
            _exit_code.append(code)
            raise Exit(f"error: {where}{err.strerror or err}", code=code) from None
        except KeyboardInterrupt as err:
            code, why = (128 + err.signum, f"{err} received") if isinstance(err, Terminated) else \
                (errors.INTERRUPTED, "interrupted")
            _exit_code.append(code)
            raise Exit(f"{why}; every machine this command started has been stopped", code=code) from None
    return wrapper


# a path given that cannot name a file (too long, a loop of links, a folder for a file): bad input
NAMES_GIVEN_WRONG = (errno.ENAMETOOLONG, errno.ELOOP, errno.EISDIR, errno.ENOTDIR)


def _path_written(err: OSError) -> str | None:
    """The file a failed write was for, when the error does not say (a flush on close raises
    ENOSPC without a filename): a path or open file in the frame that raised it."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    for value in (tb.tb_frame.f_locals.values() if tb else ()):
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, io.IOBase) and isinstance(getattr(value, "name", None), str):
            return value.name
    return None


def say(as_json: bool, data: dict, text: str) -> None:
    print(json.dumps(data, indent=1) if as_json else text)


def lines(quiet: bool):
    """Progress lines: to stderr when stdout carries JSON."""
    return (lambda msg: print(msg, file=sys.stderr)) if quiet else print


def usage(message: str):
    """Exit for a wrong option."""
    return Exit(f"error: {message}", code=errors.USAGE)


HOLD_HELP = {"wait": "how long to wait for a busy board, e.g. 90s, 30m, 2h (default: SISCTL_WAIT, "
                     "else lab.yaml coordinator.wait_s)",
             "priority": "higher is served first among jobs waiting for a board (default: SISCTL_PRIORITY, else 0)"}


def hold_options(wait: str = "", priority: str = "") -> None:
    """A task's --wait and --priority: checked (a usage error naming the option), and in force for every
    board this process holds (a remote sisctl gets them with the task's other options: cli/remote.py)."""
    from sisctl.fleet.claims import set_hold_options
    from sisctl.fleet.holder import priority_of
    from sisctl.duration import parse_duration
    wait_s = parse_duration(wait, "--wait") if str(wait).strip() else None
    rank = priority_of(priority, "--priority") if str(priority).strip() else None
    set_hold_options(wait_s, rank)
