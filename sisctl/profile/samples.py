"""What `sisagent profile` reports (firmware/agent/profile.c): counted kernel stacks, the names of
the processes sampled, the kallsyms functions the stacks name, and the totals."""
from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass, field

KERNEL, USER = "K", "U"     # marks in a stack: kernel frames follow, user frames stood here


@dataclass
class Stack:
    count: int
    pid: int
    frames: list[int | str]     # leaf first: addresses, and the K and U marks


@dataclass
class Samples:
    stacks: list[Stack] = field(default_factory=list)
    comms: dict[int, str] = field(default_factory=dict)
    kallsyms: dict[int, tuple[str, str]] = field(default_factory=dict)   # start -> (function, module or "")
    ktext: int | None = None                   # the running kernel's _stext (KASLR moves it)
    total: int = 0
    lost: int = 0                              # samples the kernel could not hand over in time
    dropped: int = 0                           # samples of stacks the agent's table had no room for
    unsupported_errno: int | None = None
    command_stderr: str = ""                   # the command's own stderr, the report taken out
    exit_code: int | None = None
    stopped_s: float = 0.0                     # host sampling: time the guest stood stopped
    deadline_s: float | None = None            # the command outlived this and was killed

    @property
    def counted(self) -> int:
        return sum(stack.count for stack in self.stacks)


def profile_command(command: str, hz: int, mark: str = "", seconds: float | None = None) -> str:
    """The guest command that runs `command` (a shell string) sampled `hz` times a CPU second; with
    `mark`, the agent's report lines carry it and the command's own lines cannot; with `seconds`,
    the command is killed once it has run that long and its samples still come back."""
    prefix = f"SISAGENT_PROFILE_MARK={shlex.quote(mark)} " if mark else ""
    prefix += f"SISAGENT_PROFILE_SECONDS={float(seconds):g} " if seconds else ""
    return f"{prefix}sisagent profile {int(hz)} /bin/sh -c {shlex.quote(command)}"


def new_mark() -> str:
    return secrets.token_hex(8)


def parse_samples(stderr: str, mark: str = "") -> tuple[Samples, str]:
    """The samples, and the command's own stderr (every line that is not the agent's)."""
    samples, rest = Samples(), []
    tag = f"profile:{mark}" if mark else "profile"
    for line in stderr.splitlines(keepends=True):
        parts = line.split()
        if len(parts) < 3 or parts[0] != tag:
            rest.append(line)
            continue
        try:
            _take(samples, parts)
        except ValueError:            # not the agent's after all: the command's own line
            rest.append(line)
    named = list(samples.kallsyms)    # a frame @N is the Nth sym line's function
    for stack in samples.stacks:
        stack.frames = [_named(f, named) for f in stack.frames]
    return samples, "".join(rest)


def _frame(text: str) -> int | str | tuple[str, int]:
    """A frame of a stack line: a mark, an address, or ('@', N) until the sym lines are read."""
    if text in (KERNEL, USER):
        return text
    return ("@", int(text[1:], 16)) if text.startswith("@") else int(text, 16)


def _named(frame, named: list[int]) -> int | str:
    """A frame with its number replaced by the function's address; '@N' kept where no sym line says."""
    if not isinstance(frame, tuple):
        return frame
    number = frame[1]
    return named[number] if number < len(named) else f"@{number:x}"


def _take(samples: Samples, parts: list[str]) -> None:
    """One report line of the agent (split), into `samples`; ValueError if it is not one."""
    kind = parts[1]
    if kind == "stack" and len(parts) == 5:
        frames = [_frame(f) for f in parts[4].split(",") if f]
        samples.stacks.append(Stack(int(parts[2]), int(parts[3]), frames))
    elif kind == "comm" and len(parts) >= 4:
        samples.comms[int(parts[2])] = " ".join(parts[3:])
    elif kind == "sym" and len(parts) >= 4:
        module = parts[4].strip("[]") if len(parts) > 4 else ""
        samples.kallsyms[int(parts[2], 16)] = (parts[3], module)
    elif kind == "ktext":
        samples.ktext = int(parts[2], 16)
    elif kind == "total" and len(parts) == 6:
        samples.total, samples.lost, _, samples.dropped = (int(p) for p in parts[2:])
    elif kind == "deadline":
        samples.deadline_s = float(parts[2])
    elif kind == "unsupported":
        samples.unsupported_errno = int(parts[2])
    elif kind in ("exit", "signal"):
        samples.exit_code = int(parts[2]) if kind == "exit" else 128 + int(parts[2])
    else:
        raise ValueError(f"not a report line: {kind}")
