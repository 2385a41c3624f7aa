"""Host end of the console protocol spoken by firmware/agent/sisagent.c (its header documents it)."""
from __future__ import annotations

import base64
import binascii
import itertools
import math
import os
import re
import time
import zlib
from dataclasses import dataclass, field

from sisctl.board.console import Console
from sisctl import errors
from sisctl.board.errors import AgentError, BootTimeout, CommandTimeout
from sisctl.errors import UsageError, cut

MARK = "@@SIS "
READY = re.compile(r"@@SIS READY (\S+) (\d+)$")
RESENDS = 3
FRAME_GAP_S = 5.0
OUTPUT_CAP = 16 << 20      # bytes per stream the agent keeps (firmware/agent/sisagent.c)
RESULT_GRACE_S = 30.0      # the guest enforces the timeout; this is for the frame to arrive
LINE_MAX = 65536           # the longest request line the agent reads; it drops longer ones (sisagent.c)
COMMAND_MAX = (LINE_MAX - 64) // 4 * 3   # bytes of command whose RUN line fits, id and timeout included


@dataclass
class CommandResult:
    command: str
    stdout: bytes
    stderr: bytes
    reason: str          # exit | signal | timeout
    code: int
    duration_s: float
    resends: int = 0

    @property
    def ok(self) -> bool:
        return self.reason == "exit" and self.code == 0

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace")


def shown(command: str, limit: int = 120) -> str:
    """A command as an error line quotes it: cut to a readable length, its size said."""
    return cut(command, limit, repr)


def framed(line: str) -> str | None:
    """The protocol body of a console line if its CRC holds, else None.

    Text the kernel printed before the marker on the same line is cut off."""
    at = line.find(MARK)
    if at < 0:
        return None
    body, _, crc = line[at:].rstrip().rpartition(" ")
    try:
        return body if int(crc, 16) == zlib.crc32(body.encode()) else None
    except ValueError:
        return None


@dataclass
class _Frame:
    """The pieces of one result frame seen so far."""
    chunks: dict[tuple[str, int], bytes] = field(default_factory=dict)
    end: tuple[str, int, int, int, int, int] | None = None
    damaged: bool = False

    def complete(self) -> bool:
        if not self.end:
            return False
        _, _, n_out, n_err, _, _ = self.end
        need = {("O", i) for i in range(n_out)} | {("E", i) for i in range(n_err)}
        return need <= self.chunks.keys()

    def stream(self, tag: str, count: int) -> bytes:
        return b"".join(self.chunks[(tag, i)] for i in range(count))


class OutputCut(AgentError):
    """A command printed more than the agent carries back: failed, never silently cut.
    Asking again will not help, so it is bad input rather than an infrastructure error."""
    exit_code, kind = errors.USAGE, "usage"


def check_timeout(timeout_s: float) -> float:
    """A command's timeout: a finite number of seconds > 0 (the agent takes 0 as 'none')."""
    if not (isinstance(timeout_s, (int, float)) and math.isfinite(timeout_s) and timeout_s > 0):
        raise UsageError(f"a command timeout must be a number of seconds > 0, got {timeout_s!r}")
    return float(timeout_s)


class Agent:
    def __init__(self, console: Console, board: str):
        self.console, self.board = console, board
        self._ids = itertools.count(1)
        self.version: str | None = None

    def _next_id(self) -> str:
        return f"{int(time.time()) % 100000}-{next(self._ids)}"

    def wait_ready(self, timeout_s: float) -> None:
        """Wait for the agent's ready line after a boot."""
        deadline = time.monotonic() + timeout_s
        while (line := self.console.next_line(deadline)) is not None:
            body = framed(line)
            if body and (m := READY.match(body)):
                self.version = m.group(1)
                return
        raise BootTimeout(self.board, f"no ready marker from the agent within {timeout_s:.0f} s",
                          self.console.tail_text())

    def _ask(self, verb: str, args: str, reply: str, timeout_s: float) -> str:
        """Send one short request; the rest of the agent's reply line `@@SIS <reply> <id>`."""
        request = self._next_id()
        self._send(f"{verb} {request}{args}")
        deadline = time.monotonic() + timeout_s
        expected = f"@@SIS {reply} {request}"
        while (line := self.console.next_line(deadline)) is not None:
            body = framed(line)
            if body and (body == expected or body.startswith(expected + " ")):
                return body[len(expected):].strip()
        raise AgentError(self.board, f"agent did not answer {verb} within {timeout_s:.0f} s",
                         self.console.tail_text())

    def ping(self, timeout_s: float = 5.0) -> float:
        """Round-trip time of a PING; raises AgentError if no PONG comes."""
        started = time.monotonic()
        self._ask("PING", "", "PONG", timeout_s)
        return time.monotonic() - started

    def set_clock(self, timeout_s: float = 5.0) -> None:
        """Set the guest's wall clock to the host's. A guest without an RTC starts in 1970 and one
        restored from a snapshot at the snapshot's time: file times (and e2fsck, which reads a
        zero deletion time as damage) need the real one."""
        now = time.time_ns()
        errno = self._ask("CLOCK", f" {now // 10**9} {now % 10**9}", "CLOCK", timeout_s)
        if errno != "0":
            raise AgentError(self.board, f"the agent could not set the guest's clock ({os.strerror(int(errno))})"
                             if errno.isdigit() else f"the agent answered CLOCK with {errno!r}")

    def run(self, command: str, timeout_s: float = 60.0) -> CommandResult:
        """Run `command` with /bin/sh -c in the guest; returns its output and status exactly."""
        started = time.monotonic()
        return self.result(self.start(command, timeout_s), command, timeout_s, started)

    def result(self, request: str, command: str, timeout_s: float, started: float) -> CommandResult:
        """The result of a request start() sent at `started` (time.monotonic())."""
        deadline = started + timeout_s + RESULT_GRACE_S
        frame, resends = _Frame(), 0
        while True:
            line = self.console.next_line(deadline)
            if line is not None:
                body = framed(line)
                if body and READY.match(body):   # the init started a new agent: ours died with the command
                    raise AgentError(self.board, f"the agent restarted while {shown(command)} ran: the command "
                                     "killed it, or it crashed; no result will come", self.console.tail_text())
                self._collect(line, request, frame)
                if frame.chunks or frame.damaged:
                    deadline = time.monotonic() + FRAME_GAP_S   # a frame arrives in one burst
                if frame.end is None or frame.complete():
                    if frame.complete():
                        break
                    continue
            elif frame.end is None and not frame.chunks and not frame.damaged:
                raise CommandTimeout(self.board, f"no result for {shown(command)} within {timeout_s:g} s",
                                     self.console.tail_text())
            # Damaged or incomplete: keep the good chunks and ask for the frame again.
            if resends == RESENDS:
                raise AgentError(self.board, f"result of {shown(command)} stayed damaged after {RESENDS} resends",
                                 self.console.tail_text())
            resends += 1
            frame.end, frame.damaged = None, False
            deadline = time.monotonic() + FRAME_GAP_S
            self._send(f"RESEND {request}")
        reason, code, n_out, n_err, printed_out, printed_err = frame.end
        for stream, printed in (("stdout", printed_out), ("stderr", printed_err)):
            if printed > OUTPUT_CAP:
                raise OutputCut(self.board, f"{shown(command)} printed {printed} bytes on {stream}, more than the "
                                f"agent carries ({OUTPUT_CAP >> 20} MiB per stream); nothing was returned: "
                                "write it to a file in the guest and read that in parts")
        return CommandResult(command, frame.stream("O", n_out), frame.stream("E", n_err), reason, code,
                             time.monotonic() - started, resends)

    def start(self, command: str, timeout_s: float = 60.0) -> str:
        """Send a RUN request without waiting for its result; returns the request id."""
        check_timeout(timeout_s)
        size = len(command.encode())
        if size > COMMAND_MAX:
            raise UsageError(f"{self.board}: the command {shown(command)} is {size} bytes, more than the agent "
                             f"reads in one request ({COMMAND_MAX}); send long data in parts or on a disk")
        request = self._next_id()
        encoded = base64.b64encode(command.encode()).decode()
        self._send(f"RUN {request} {timeout_s:g} {encoded}")
        return request

    def _collect(self, line: str, request: str, frame: _Frame) -> None:
        body = framed(line)
        if body is None:
            # A protocol line broken by kernel output: damaged if it was ours.
            if MARK in line and f" {request} " in line[line.find(MARK):]:
                frame.damaged = True
            return
        parts = body.split(" ")
        if len(parts) < 3 or parts[2] != request:
            return
        try:
            if parts[1] == "D" and len(parts) == 6:
                frame.chunks[(parts[3], int(parts[4]))] = base64.b64decode(parts[5], validate=True)
            elif parts[1] == "END" and len(parts) == 9:
                frame.end = (parts[3], *(int(p) for p in parts[4:9]))
        except (ValueError, binascii.Error):
            frame.damaged = True

    def shell(self) -> None:
        """Switch the console to an interactive shell; the agent returns when it exits."""
        self._send(f"SHELL {self._next_id()}")

    def _send(self, request: str) -> None:
        self.console.write(f"{MARK}{request}\n".encode())
