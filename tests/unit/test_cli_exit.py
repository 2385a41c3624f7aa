"""A task that loaded grpc leaves with its own exit code even when the interpreter's teardown
would hang (as grpc's core can): the command line skips the teardown after every exit step."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from sisctl.paths import PROJECT

PROGRAM = textwrap.dedent("""
    import atexit, sys, time
    from invoke import Exit
    from sisctl.cli.common import guard, leave_without_teardown_at_exit
    if {command_line}:
        leave_without_teardown_at_exit()
    import grpc

    class HangsInTeardown:
        def __del__(self):
            time.sleep(3600)

    keep = HangsInTeardown()            # a module global: dropped only by the teardown
    atexit.register(lambda: print("exit step ran", flush=True))

    @guard
    def task():
        raise Exit(code={code})

    try:
        task()
    except Exit as done:
        sys.exit(done.code)
""")


def run(command_line: bool, code: int, timeout_s: float = 20) -> subprocess.CompletedProcess:
    source = PROGRAM.format(command_line=command_line, code=code)
    return subprocess.run([sys.executable, "-c", source], cwd=PROJECT, capture_output=True, text=True,
                          timeout=timeout_s)


def test_the_command_line_leaves_with_the_tasks_code_after_every_exit_step():
    for code in (0, 1, 75):
        done = run(True, code)
        assert done.returncode == code and done.stdout == "exit step ran\n", done.stderr


def test_without_it_the_same_teardown_hangs():
    try:
        run(False, 75, timeout_s=5)
    except subprocess.TimeoutExpired:
        return
    raise AssertionError("the teardown did not hang: this test no longer shows what the exit step is for")


def test_an_option_invoke_does_not_know_is_a_usage_error():
    invoke = [sys.executable, "-m", "invoke"]
    for args in (["campaign", "--kind", "ext4-crash", "--bogus"], ["campaign", "--mode", "a", "--mode", "b"],
                 ["no-such-task"]):
        done = subprocess.run(invoke + args, cwd=PROJECT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and done.stderr.startswith("error: No idea what"), (args, done.stderr)
