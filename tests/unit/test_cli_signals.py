"""SIGTERM ends a task wherever Python happens to run its handler: also inside an after-fork
callback or a __del__, where an exception is only printed and the task would run on."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from sisctl.paths import PROJECT

PROGRAM = textwrap.dedent("""
    import os, signal, sys, time
    from invoke import Exit
    from sisctl.cli.common import guard

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

    try:
        task()
    except Exit as done:
        print(done.message, file=sys.stderr)
        sys.exit(done.code)
""")


@pytest.mark.parametrize("where", ["fork", "finaliser"])
def test_sigterm_handled_where_exceptions_are_only_printed_still_ends_the_task(where):
    done = subprocess.run([sys.executable, "-c", PROGRAM.format(where=where)], cwd=PROJECT,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 128 + 15, (done.stdout, done.stderr)
    assert "the task ran on" not in done.stdout
    assert "SIGTERM received" in done.stderr and "Exception ignored" not in done.stderr
