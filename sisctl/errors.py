"""The one distinction every task, report and CI job reads: what kind of failure this was.

Exit codes (the same for every task, so CI can retry only infrastructure errors):
  0  ok
  1  test failure: a violation, a crash found, a regression
  2  usage or bad input: a wrong option, a malformed file, a name that is not known
  75 infrastructure error (EX_TEMPFAIL): board, console, power, SSH, database, coordinator
"""
from __future__ import annotations

OK = 0
TEST_FAILURE = 1
USAGE = 2
INFRASTRUCTURE = 75
INTERRUPTED = 130


class SisctlError(Exception):
    """Base of the tool's own errors: each reaches the user as one line and an exit code."""
    exit_code = INFRASTRUCTURE
    kind = "infrastructure"


class UsageError(SisctlError):
    """Bad input: an option, a file or a name the user can fix."""
    exit_code = USAGE
    kind = "usage"


class InfrastructureError(SisctlError):
    """Something the test depends on failed: not a verdict on the kernel."""
    exit_code = INFRASTRUCTURE
    kind = "infrastructure"


class BoardError(InfrastructureError):
    """A board failed: its name, what went wrong and the end of its console log (kinds in board/errors.py)."""

    def __init__(self, board: str, message: str, log_tail: str = ""):
        self.board, self.message, self.log_tail = board, message, log_tail
        text = f"{board}: {message}"
        if log_tail:
            text += "\n--- console (last lines) ---\n" + log_tail
        super().__init__(text)


class BoardBusy(BoardError):
    """Someone else holds the board."""


class TestFailure(SisctlError):
    """The kernel under test failed a check."""
    __test__ = False   # not a pytest class
    exit_code = TEST_FAILURE
    kind = "failure"


def exit_code_of(err: BaseException) -> int:
    if isinstance(err, KeyboardInterrupt):
        return INTERRUPTED
    return getattr(err, "exit_code", INFRASTRUCTURE)


def cut(text: str, limit: int = 120, show=str) -> str:
    """A long value as an error line quotes it (`show`: str or repr): cut to `limit` characters, its size said."""
    return show(text) if len(text) <= limit else f"{show(text[:limit])}... ({len(text)} characters)"
