"""SIGTERM ends a task wherever Python happens to run its handler: also inside an after-fork
callback or a __del__, where an exception is only printed and the task would run on; and a second
signal while the task stops lets the stop finish (its summary and JUnit written)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from sisctl.paths import PROJECT

HEAD = "import os, signal, sys, time\nfrom invoke import Exit\nfrom sisctl.cli.common import guard\n"
TAIL = "try:\n    task()\nexcept Exit as done:\n    print(done.message, file=sys.stderr)\n    sys.exit(done.code)\n"

LOST = textwrap.dedent("""
    def terminate_here():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)             # the handler runs here, inside the callback

    class Finalised:
        def __del__(self):
            terminate_here()

    @guard
    def task():
        if {where!r} == "fork":
            os.register_at_fork(after_in_parent=terminate_here)
            if os.fork() == 0:
                os._exit(0)
        else:
            Finalised()
        time.sleep(60)              # a long wait the signal must end, not outlast
        print("the task ran on", flush=True)
""")

TWICE = textwrap.dedent("""
    @guard
    def task():
        try:
            os.kill(os.getpid(), signal.SIG{first})
            time.sleep(60)
        finally:                    # the stop: a second signal arrives while it writes its summary
            os.kill(os.getpid(), signal.SIG{second})
            time.sleep(0.2)
            print("summary written", flush=True)
""")


def run_task(body: str) -> subprocess.CompletedProcess:
    """A guarded task in a Python of its own, as the command line runs it."""
    return subprocess.run([sys.executable, "-c", HEAD + body + TAIL], cwd=PROJECT, capture_output=True,
                          text=True, timeout=30)


@pytest.mark.parametrize("where", ["fork", "finaliser"])
def test_sigterm_handled_where_exceptions_are_only_printed_still_ends_the_task(where):
    done = run_task(LOST.format(where=where))
    assert done.returncode == 128 + 15, (done.stdout, done.stderr)
    assert "the task ran on" not in done.stdout
    assert "SIGTERM received" in done.stderr and "Exception ignored" not in done.stderr


@pytest.mark.parametrize("first, second, code", [("TERM", "TERM", 143), ("INT", "INT", 130), ("TERM", "INT", 143)])
def test_a_second_signal_while_stopping_lets_the_stop_finish(first, second, code):
    done = run_task(TWICE.format(first=first, second=second))
    assert done.returncode == code, (done.stdout, done.stderr)
    assert done.stdout == "summary written\n" and "still stopping" in done.stderr, done.stderr
