"""target.kind prompt: a kernel that offers only a command prompt on its console, no agent and no
POSIX shell (a research kernel's `sis>` monitor, a bare-metal test image). sisctl waits for its
ready line and prompt, types one command line at a time, and reads what comes before the next
prompt as the output; the kernel's own log lines (printk-style timestamps) are taken out. Such a
prompt gives no exit status: a command counts as failed when its output matches `failure_regex`,
or, where the prompt can tell one, by `status_command`'s answer (a number).

    target:
      kind: prompt
      ready_regex: "SIS kernel shell ready"
      prompt: "sis> "
      failure_regex: "(?i)\\b(error|fail(ed)?|unknown command)\\b"
      status_command: ""              # e.g. "status": prints the last command's status
      echo: true                      # the prompt echoes what is typed
      smoke:                          # the smoke job's checks for this kernel
        - run: memctl
          expect: "MemTotal: +[0-9]+ kB"
      crash:                          # ext4-crash --mode reset without an agent (docs/targets.md)
        workload: "fsctl stress {scenario}"
        verify: "fsctl verify"
        duration_s: 4
      image: /path/to/initramfs       # a QEMU board: what it boots beside the kernel, if anything
                                      # ('seed-standin': sisctl's stand-in, sisctl/image/seedos.py)

The host enforces every timeout: at its end sisctl sends Ctrl-C, waits for the prompt, and reports
the command as timed out.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sisctl import config
from sisctl.board.agent import CommandResult, check_timeout, shown
from sisctl.board.errors import AgentError, BootTimeout, CommandTimeout
from sisctl.board.target import TargetSettings
from sisctl.board.target.osimage import is_qemu
from sisctl.board.target.shell import without_kernel_lines
from sisctl.config import Regex, Seconds
from sisctl.errors import UsageError
from sisctl.image.seedos import build_seedos

if TYPE_CHECKING:
    from sisctl.board.board import BoardSession

SNAPSHOTS = False
STANDIN = "seed-standin"
INTERRUPT_GRACE_S = 5.0
REPROMPT_S = 3.0
SETTLE_S = 1.0


def has_agent(spec) -> bool:
    return False


@dataclass
class SmokeCheck:
    run: str
    expect: Regex = ""        # a regex the output must match ('' : any output, as long as none failed)
    timeout_s: Seconds = 30.0


@dataclass
class CrashProfile:
    """How the kernel's own commands drive an ext4 crash campaign (reset mode, checked on the host).
    The workload prints `promise PATH MD5` once a file is durable and `changing PATH` before it
    changes a promised file in place; the disk it works on has the virtio serial `disk`."""
    workload: str                     # a command line; {scenario} is replaced by the scenario's name (only that)
    verify: str                       # run after the reset's boot: mounts (recovers) and reads back
    duration_s: Seconds = 5.0         # about how long the workload runs: resets fall inside it
    disk: str = "scratch"
    disk_mib: int = 64
    promise_regex: Regex = r"^promise (?P<path>\S+) (?P<md5>[0-9a-f]{32})\r?$"
    changing_regex: Regex = r"^changing (?P<path>\S+)\r?$"
    recovery_regex: Regex = r"recovered in (?P<ms>[0-9.]+) ms"


@dataclass(kw_only=True)
class PromptTarget(TargetSettings):
    """kind prompt: a kernel's own command prompt on the console."""
    ready_regex: Regex = ""
    prompt: str = "> "
    failure_regex: Regex = r"(?i)\b(error|fail(ed)?|unknown command)\b"
    status_command: str = ""
    echo: bool = True
    prompt_timeout_s: Seconds = 30.0    # from the ready line to the prompt
    smoke: list[SmokeCheck] = field(default_factory=list)
    crash: CrashProfile | None = None
    image: str = ""


def check(spec, path) -> None:
    target: PromptTarget = spec.target
    if not target.prompt:
        raise config.ConfigError(path, "target.prompt", "the prompt the kernel prints, such as 'sis> '")
    if target.image and target.image != STANDIN and not Path(target.image).expanduser().is_file():
        raise config.ConfigError(path, "target.image", f"no file {target.image}")
    if target.image and not is_qemu(spec):
        raise config.ConfigError(path, "target.image", "for QEMU boards only")


def guest_image(board, artifact):
    image = board.spec.target.image
    if not image:
        raise UsageError(f"{board.name}: a QEMU board with target kind prompt boots target.image beside the "
                         "kernel; the board file names none")
    if image == STANDIN:
        return build_seedos(artifact, board.spec.boot.modules)
    return Path(image).expanduser()


def prepare(session: BoardSession) -> None:
    return None


class PromptLink:
    """Command lines typed at a kernel's prompt; their output read up to the next prompt."""

    def __init__(self, session: BoardSession):
        self.console, self.board = session.console, session.name
        self.spec: PromptTarget = session.board.spec.target
        self.prompt_end = re.compile(rb"(?:^|\n)" + re.escape(self.spec.prompt.encode()) + rb"$")
        self.prompt_anywhere = re.compile(re.escape(self.spec.prompt.encode()) + rb"$")
        self.failure = re.compile(self.spec.failure_regex) if self.spec.failure_regex else None
        self._buffer = b""

    def wait_ready(self, timeout_s: float) -> None:
        if self.spec.ready_regex and self.console.expect(self.spec.ready_regex, timeout_s) is None:
            raise BootTimeout(self.board, f"no ready line (/{self.spec.ready_regex}/) within {timeout_s:g} s",
                              self.console.tail_text())
        # Enter, again every few seconds: a key pressed before the prompt read its line may be
        # taken without an echo, leaving "sis> sis> " with no line start before the second one
        deadline = time.monotonic() + self.spec.prompt_timeout_s
        self.console.forget_bytes()
        self._buffer = b""
        while time.monotonic() < deadline:
            self.console.write(b"\r")
            if self._until_prompt(min(REPROMPT_S, max(0.1, deadline - time.monotonic())), anywhere=True) is not None:
                self._settle(deadline)
                return
        raise BootTimeout(self.board, f"no prompt {self.spec.prompt!r} within {self.spec.prompt_timeout_s:g} s "
                          "of pressing Enter", self.console.tail_text())

    def _settle(self, deadline: float) -> None:
        """Wait until the console has been quiet for SETTLE_S after a prompt: an Enter typed while
        the kernel was not reading yet may still be answered by another prompt, which the first
        command would otherwise take for the end of its output."""
        while time.monotonic() < deadline:
            quiet_until, more = time.monotonic() + SETTLE_S, b""
            while (left := quiet_until - time.monotonic()) > 0:
                more += self.console.read_raw(1 << 20, left)
            if not without_kernel_lines(more).strip():   # the kernel's own lines do not count
                return
            self._buffer = more
            self._until_prompt(max(0.1, deadline - time.monotonic()), anywhere=True)

    def _until_prompt(self, timeout_s: float, anywhere: bool = False) -> bytes | None:
        """Everything up to the next prompt (kernel lines taken out), or None at the timeout.
        `anywhere`: a prompt need not start its line."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.console.check_crash()
            text = without_kernel_lines(self._buffer)
            found = (self.prompt_anywhere if anywhere else self.prompt_end).search(text)
            if found:
                self._buffer = b""
                return text[:found.start() + text[found.start():found.start() + 1].count(b"\n")]
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._buffer += self.console.read_raw(1 << 20, min(0.2, left))

    def after_boot(self) -> None:
        pass

    def run(self, command: str, timeout_s: float = 60.0) -> CommandResult:
        check_timeout(timeout_s)
        started = time.monotonic()
        output = self._type(command, timeout_s)
        if output is None:
            self.console.write(b"\x03\r")
            if self._until_prompt(INTERRUPT_GRACE_S) is None:
                raise CommandTimeout(self.board, f"no prompt after {shown(command)} within {timeout_s:g} s, and "
                                     "Ctrl-C did not bring it back", self.console.tail_text())
            return CommandResult(command, b"", b"", "timeout", -1, time.monotonic() - started)
        code = self._status(output)
        return CommandResult(command, output, b"", "exit", code, time.monotonic() - started)

    def start(self, command: str) -> None:
        """Type `command` and return at once (a workload the host will cut short)."""
        if "\n" in command or "\r" in command:
            raise UsageError(f"{self.board}: a kernel prompt takes one line at a time, not {shown(command)}")
        self.console.forget_bytes()
        self._buffer = b""
        self.console.write(command.encode() + b"\r")

    def _type(self, line: str, timeout_s: float) -> bytes | None:
        self.start(line)
        output = self._until_prompt(timeout_s)
        if output is None:
            return None
        output = output.replace(b"\r\n", b"\n")
        if self.spec.echo:   # the echoed line comes first
            output = output.split(b"\n", 1)[1] if b"\n" in output else b""
        return output

    def _status(self, output: bytes) -> int:
        if self.spec.status_command:
            answer = self._type(self.spec.status_command, 10)
            if answer is None or not answer.strip().isdigit():
                raise AgentError(self.board, f"{self.spec.status_command!r} did not answer with a number "
                                 f"(got {answer!r})", self.console.tail_text())
            return int(answer.strip())
        if self.failure and self.failure.search(output.decode(errors="replace")):
            return 1
        return 0

    def close(self) -> None:
        pass


def attach(session: BoardSession, prepared=None) -> PromptLink:
    return PromptLink(session)
