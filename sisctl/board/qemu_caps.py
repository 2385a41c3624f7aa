"""What a QEMU binary supports, asked of the binary itself (once per binary per process)."""
from __future__ import annotations

import functools
import os
import select
import shutil
import subprocess
import time


def find_binary(binary: str) -> str | None:
    """Full path of `binary` (a name on PATH or a path), or None if there is no such executable."""
    if "/" in binary:
        return binary if os.path.isfile(binary) and os.access(binary, os.X_OK) else None
    return shutil.which(binary)


@functools.lru_cache(maxsize=8)
def machines(binary: str) -> frozenset[str]:
    """Machine names `binary -machine help` lists (aliases included); None if it did not answer in time."""
    listed = _help(binary, "-machine")
    return None if listed is None else frozenset(line.split()[0] for line in listed[1:] if line.strip())


@functools.lru_cache(maxsize=8)
def cpus(binary: str) -> frozenset[str]:
    """CPU models `binary -cpu help` lists; None if it did not answer in time."""
    listed = _help(binary, "-cpu")
    return None if listed is None else frozenset(line.split()[0] for line in listed[1:]
                                                 if line.startswith(" ") and line.strip())


def _help(binary: str, option: str) -> list[str] | None:
    """What `binary OPTION help` prints; None if it could not be asked in time (then nothing is judged)."""
    try:
        out = subprocess.run([binary, option, "help"], capture_output=True, text=True, timeout=20,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None
    except OSError:
        return []
    return out.stdout.splitlines() if out.returncode == 0 else []


DRY_START_TIMEOUT_S = 20.0


@functools.lru_cache(maxsize=32)
def refusal(binary: str, args: tuple[str, ...]) -> str | None:
    """QEMU's complaint about a command line it will not start with, or None once it starts.

    A paused start without a kernel: QEMU answers monitor commands only from its main loop, after it
    has checked its options and built the machine, so an answer to query-status means the line is
    good; QEMU is then stopped."""
    try:
        process = subprocess.Popen([binary, *args, "-S", "-qmp", "stdio", "-serial", "none", "-monitor", "none"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
    except OSError as err:
        return str(err)
    try:
        process.stdin.write(b'{"execute": "qmp_capabilities"}\n{"execute": "query-status"}\n')
        process.stdin.flush()
        deadline = time.monotonic() + DRY_START_TIMEOUT_S
        while select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
            line = process.stdout.readline()
            if not line:
                break            # it is exiting
            if b'"status"' in line:
                return None      # its main loop answered
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return None          # too slow to tell: the real start will say
        lines = process.stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"it exited with code {process.returncode}"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            stream.close()
