"""target.kind shell: a login prompt and a POSIX shell on the serial console, as a board with its own
OS (or a busybox system) offers one; no agent. sisctl logs in, then runs each command framed by
markers the console's echo cannot fake, with its stdout and stderr sent back in base64 with checksums,
so output and exit status come back exactly while the kernel prints to the same console (its lines,
timestamped as printk does by default, are taken out of the stream).

    target:
      kind: shell
      user: lab
      password: {env: LAB_PASSWORD}     # or {file: ~/.config/sisctl/lab-password}; never the secret
      login_regex: "login: *$"           # all optional from here
      password_regex: "[Pp]assword: *$"
      prompt_regex: "[#$] *$"
      login_timeout_s: 30
      image: standin                     # a QEMU board: the initramfs booted ('standin' or a path)

What the shell needs: sh, base64, md5sum and mktemp -d (busybox has them all). A command's
status is the shell's `$?`: a command killed by signal N reads as exit 128+N. The host enforces the
timeout: at its end sisctl sends Ctrl-C and reports the command as timed out.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sisctl.board.agent import CommandResult, check_timeout, shown
from sisctl.board.errors import AgentError, BoardError, BootTimeout, CommandTimeout
from sisctl.board.target import Secret, TargetSettings
from sisctl.board.target.osimage import STANDIN, guest_image as _os_image, require_image
from sisctl.config import Regex, Seconds

if TYPE_CHECKING:
    from sisctl.board.board import BoardSession

SNAPSHOTS = False


def has_agent(spec) -> bool:
    return False

MARK = b"@@SH"
KERNEL_LINE = re.compile(rb"\[ *\d+\.\d+\][^\n]*\n")    # a printk line, wherever it broke in
KERNEL_LINE_BEGUN = re.compile(rb"\[ *\d+\.\d+\][^\n]*\Z")   # one still arriving
TERMINAL_CODE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")   # a line editor's queries (ash asks for the cursor)
CHUNK = 512              # base64 characters per typed line (line editors cut long lines)
REPROMPT_S = 3.0         # a login prompt printed before we listened, or buried under kernel lines
INTERRUPT_GRACE_S = 5.0
FETCH_TRIES = 3


@dataclass(kw_only=True)
class ShellTarget(TargetSettings):
    """kind shell: log in on the serial console and run commands in its shell."""
    user: str = "root"
    password: Secret = field(default_factory=Secret)
    login_regex: Regex = r"login: *$"
    password_regex: Regex = r"[Pp]assword: *$"
    prompt_regex: Regex = r"[#$>] *$"
    failed_regex: Regex = r"Login incorrect|Authentication failure|Permission denied"
    login_timeout_s: Seconds = 30.0
    image: str = ""


def without_kernel_lines(data: bytes) -> bytes:
    """`data` as a prompt is looked for in it: without printk lines, the one still arriving too (the
    kernel's banner has a '#' that a prompt pattern would take for a root prompt)."""
    return KERNEL_LINE_BEGUN.sub(b"", KERNEL_LINE.sub(b"", data))


def check(spec, path) -> None:
    require_image(spec, path)
    spec.target.password.check(path, "target.password")


def guest_image(board, artifact):
    return _os_image(board, artifact)


def prepare(session: BoardSession) -> None:
    """Read the password now: a variable not set or a file not there is found before the boot."""
    session.board.spec.target.password.read(session.name, "the login password")


class LoginFailed(BoardError):
    """The board turned the login down (wrong user or password)."""


class ShellLink:
    """Commands through a shell on the console, framed by markers."""

    def __init__(self, session: BoardSession):
        self.console, self.board = session.console, session.name
        self.spec: ShellTarget = session.board.spec.target
        self._ids = itertools.count(1)
        self._buffer = b""
        self.work = ""          # the folder of each command's files (mktemp -d)

    # --- login ----------------------------------------------------------------------------
    def wait_ready(self, timeout_s: float) -> None:
        """Reach a shell prompt (logging in when a login prompt comes), then prove it runs sh."""
        spec = self.spec
        login, password = _bytes_regex(spec.login_regex), _bytes_regex(spec.password_regex)
        prompt, failed = _bytes_regex(spec.prompt_regex), _bytes_regex(spec.failed_regex)
        seen = self._await([login, prompt], timeout_s, f"login prompt (/{spec.login_regex}/) or shell prompt "
                           f"(/{spec.prompt_regex}/)", BootTimeout)
        if seen is login:
            self._send(spec.user.encode() + b"\n")
            what = f"password prompt (/{spec.password_regex}/) or shell prompt after the user name"
            seen = self._await([password, prompt, failed], spec.login_timeout_s, what, BootTimeout, reprompt=False)
            if seen is password:
                self._send(spec.password.read(self.board, "the login password").encode() + b"\n")
                seen = self._await([prompt, failed, login], spec.login_timeout_s,
                                   f"shell prompt (/{spec.prompt_regex}/) after the password", BootTimeout,
                                   reprompt=False)
            if seen is not prompt:
                hint = "; the stand-in's image holds the password it was flashed with" if spec.image == STANDIN else ""
                raise LoginFailed(self.board, f"login as {spec.user!r} refused: wrong user name or password "
                                  f"(the board said {self._last_line()!r}){hint}")   # that line is all there is to say
        self._probe()

    def _probe(self) -> None:
        """The shell runs POSIX sh, and has a folder of ours for each command's files."""
        self.console.forget_bytes()
        self._buffer = b""
        self._send(b'echo "@@SH""PROBE $((6*7))"\n')
        if self._search(re.compile(MARK + rb"PROBE 42\r?\n"), self.spec.login_timeout_s) is None:
            raise AgentError(self.board, "the console's shell did not answer a POSIX sh command within "
                             f"{self.spec.login_timeout_s:g} s: not the shell expected, or no shell at all "
                             f"(last line: {self._last_line()!r})", self.console.tail_text())
        self._send(b'd=$(mktemp -d) && echo "@@SH""DIR $d"\n')
        found = self._search(re.compile(MARK + rb"DIR (/[^\s]+)\r?\n"), self.spec.login_timeout_s)
        if found is None:
            raise AgentError(self.board, "the shell could not make a folder of its own (mktemp -d): "
                             f"{self._last_line()!r}", self.console.tail_text())
        self.work = found.group(1).decode()

    def _await(self, patterns: list[re.Pattern], timeout_s: float, what: str, error: type, reprompt=True):
        """The first of `patterns` that the console's latest output ends in."""
        deadline = time.monotonic() + timeout_s
        nudge = time.monotonic() + REPROMPT_S
        while time.monotonic() < deadline:
            self._buffer += self.console.read_raw(65536, min(0.2, max(0.0, deadline - time.monotonic())))
            self.console.check_crash()
            text = TERMINAL_CODE.sub(b"", without_kernel_lines(self._buffer))[-4096:]
            for pattern in patterns:
                if pattern.search(text):
                    self._buffer = b""
                    return pattern
            if reprompt and time.monotonic() >= nudge:
                self._send(b"\n")            # a fresh prompt, in case the last one scrolled away
                nudge = time.monotonic() + REPROMPT_S
        raise error(self.board, f"no {what} within {timeout_s:g} s (last line: {self._last_line()!r})",
                    self.console.tail_text())

    def _last_line(self) -> str:
        lines = [line for line in self.console.tail if line.strip()]
        return lines[-1][-120:] if lines else ""

    # --- commands ---------------------------------------------------------------------------
    def after_boot(self) -> None:
        pass

    def run(self, command: str, timeout_s: float = 60.0) -> CommandResult:
        check_timeout(timeout_s)
        started = time.monotonic()
        n = next(self._ids)
        self.console.forget_bytes()
        self._buffer = b""
        encoded = base64.b64encode(command.encode()).decode()
        work = self.work
        for i, at in enumerate(range(0, len(encoded), CHUNK)):    # the command, as a script of ours
            redirect = ">" if i == 0 else ">>"
            self._send(f'echo {encoded[at:at + CHUNK]} {redirect}{work}/c64; echo "@@SH""C {n} {i} $?"\n'.encode())
            took = self._search(re.compile(MARK + rf"C {n} {i} (\d+)\r?\n".encode()), 30)
            if took is None or took.group(1) != b"0":
                raise AgentError(self.board, f"the shell did not take the command {shown(command)} into {work}",
                                 self.console.tail_text())
        self._send((f"base64 -d {work}/c64 >{work}/c && sh {work}/c </dev/null >{work}/o "
                    f'2>{work}/e; echo "@@SH""S {n} $?"\n').encode())
        status = self._search(re.compile(MARK + rf"S {n} (\d+)\r?\n".encode()), timeout_s)
        if status is not None:
            reason, code = "exit", int(status.group(1))
        else:   # the host's timeout: interrupt the command (the shell drops the rest of its line), go on
            self._send(f'\x03\necho "@@SH""I {n}"\n'.encode())
            if self._search(re.compile(MARK + rf"I {n}\r?\n".encode()), INTERRUPT_GRACE_S) is None:
                raise CommandTimeout(self.board, f"no result for {shown(command)} within {timeout_s:g} s, and "
                                     "Ctrl-C did not bring the shell back", self.console.tail_text())
            reason, code = "timeout", -1
        stdout, stderr = self._fetch("o", n), self._fetch("e", n)
        return CommandResult(command, stdout, stderr, reason, code, time.monotonic() - started)

    def _fetch(self, stream: str, n: int) -> bytes:
        """A file the command wrote, in base64 with its md5 sum, asked again when kernel text broke it."""
        for attempt in range(FETCH_TRIES):
            tag = f"{stream}{n}.{attempt}"
            self._send(f'echo "@@SH""B {tag}"; base64 {self.work}/{stream}; echo "@@SH""M {tag} '
                       f'$(md5sum <{self.work}/{stream})"\n'.encode())
            found = self._search(re.compile(MARK + rf"B {tag}\r?\n(.*?)".encode() + MARK
                                            + rf"M {tag} ([0-9a-f]{{32}})".encode(), re.S), 60)
            if found is None:
                break
            data = base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", found.group(1)))
            if hashlib.md5(data).hexdigest().encode() == found.group(2):
                return data
        raise AgentError(self.board, f"the command's std{'out' if stream == 'o' else 'err'} did not come "
                         f"back intact in {FETCH_TRIES} tries", self.console.tail_text())

    def _search(self, pattern: re.Pattern, timeout_s: float) -> re.Match | None:
        """Wait for `pattern` in the console's output since the last command, kernel lines taken out."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.console.check_crash()
            self._buffer = KERNEL_LINE.sub(b"", self._buffer)
            found = pattern.search(self._buffer)
            if found:
                self._buffer = self._buffer[found.end():]
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._buffer += self.console.read_raw(1 << 20, min(0.2, left))

    def _send(self, data: bytes) -> None:
        self.console.write(data)

    def close(self) -> None:
        pass


def attach(session: BoardSession, prepared=None) -> ShellLink:
    return ShellLink(session)


def _bytes_regex(pattern: str) -> re.Pattern:
    return re.compile(pattern.encode())

