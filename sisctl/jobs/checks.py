"""The checks that prove a booted board works, shared by the smoke job and the health check: each
takes a live session and returns what it saw, or raises CheckFailed saying what was wrong."""
from __future__ import annotations

import hashlib
import re
from typing import Callable

from sisctl.board.board import BoardSession
from sisctl.board.qemu import mount_script
from sisctl.errors import InfrastructureError


class CheckFailed(InfrastructureError):
    """The board does not work as it must (a board's fault, not a verdict on a kernel test)."""


def expect(condition: bool, problem: object) -> None:
    if not condition:
        raise CheckFailed(str(problem))


def check_release(session: BoardSession, release: str | None) -> str:
    got = session.run("uname -r").text.strip()
    expect(not release or got == release, f"uname -r says {got!r}, the booted artifact is {release!r}")
    return got


def check_arch(session: BoardSession) -> str:
    got = session.run("uname -m").text.strip()
    expect(got == "aarch64", f"uname -m says {got!r}")
    return got


def check_modules(session: BoardSession, wanted: list[str]) -> str:
    names = " ".join(wanted)
    result = session.run(f"for m in {names}; do [ -d /sys/module/$m ] || echo missing $m; done")
    expect(not result.text.strip(), result.text.strip())
    return f"loaded: {names or '(none wanted)'}"


def check_binary_output(session: BoardSession) -> str:
    session.run("head -c 65536 /dev/urandom > /tmp/blob")
    blob = session.run("cat /tmp/blob").stdout
    digest = session.run("sha256sum /tmp/blob").text.split()[0]
    expect(len(blob) == 65536 and hashlib.sha256(blob).hexdigest() == digest,
           f"64 KiB of random bytes came back as {len(blob)} bytes with a different sha256")
    return "64 KiB of random bytes round-tripped exactly"


def check_exit_status(session: BoardSession) -> str:
    result = session.run("echo out; echo err >&2; exit 7")
    expect((result.reason, result.code, result.text, result.stderr) == ("exit", 7, "out\n", b"err\n"), result)
    return "exit 7 with separate stdout/stderr"


def check_disk(session: BoardSession, serial: str) -> str:
    """The disk with `serial` mounts as ext4, takes a file and gives it back."""
    mounted = session.run(mount_script(serial, "/mnt/h") + "echo ok > /mnt/h/probe\nsync\n"
                          "cat /mnt/h/probe\numount /mnt/h\n", timeout_s=60)
    expect(mounted.ok and mounted.text.strip() == "ok", f"disk mount/write failed: {mounted.text.strip()[-200:]}")
    return "an ext4 disk mounted, written and read back"


def check_profile(session: BoardSession, command: str, pattern: str, timeout_s: float) -> str:
    """A command of the target's own smoke profile: it succeeds and its output matches `pattern`."""
    result = session.run(command, timeout_s)
    text = result.text.strip()
    matched = not pattern or re.search(pattern, result.text)
    expect(result.ok and bool(matched), f"{command!r} gave {text[-200:]!r} ({result.reason} {result.code})"
           + (f", not matching /{pattern}/" if not matched else ""))
    return text.splitlines()[0][:120] if text else "(no output)"


def board_checks(session: BoardSession, release: str | None, modules: list[str]) -> list[tuple[str, Callable[[], str]]]:
    """(name, check) for every check of a booted board, in the order they run. A target that brings
    its own smoke profile (a kernel without Linux's userland) is checked by that instead."""
    profile = getattr(session.board.spec.target, "smoke", None)
    if profile is not None:
        return [(f"{c.run}", lambda c=c: check_profile(session, c.run, c.expect, c.timeout_s)) for c in profile]
    return [("kernel release", lambda: check_release(session, release)),
            ("architecture", lambda: check_arch(session)),
            ("modules loaded", lambda: check_modules(session, modules)),
            ("binary-safe output", lambda: check_binary_output(session)),
            ("exit status", lambda: check_exit_status(session))]
