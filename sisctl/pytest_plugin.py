"""pytest plugin for a lab's own hardware-in-the-loop tests: `pytest --sisctl-board qemu-virt-0 mytests/`.

Fixtures:
  board     the Board named by --sisctl-board (flashed with its default recipe on first use), one per run
  session   a fresh BoardSession booted to the agent for each test (from the ready snapshot on QEMU boards)
  sh        run a command in that session and get its stdout; a non-zero exit fails the test with
            the command, status and stderr
Tests that need particular hardware say so with `@pytest.mark.board_tags(type="rpi4")`: they are
skipped, saying why, on a board whose `lab.tags` do not match. Every test's JUnit record carries
the board, kernel version, kernel sha256, build-id and firmware as properties.
Registered through the `pytest11` entry point, so installing sisctl is all it takes.
"""
from __future__ import annotations

from typing import Callable, Iterator

import pytest

OPTION = "--sisctl-board"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sisctl", "hardware-in-the-loop boards")
    group.addoption(OPTION, action="store", default=None, metavar="NAME",
                    help="board name (boards/NAME.yaml) or path to a board file to run the tests on")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "board_tags(**tags): run only on a board whose lab tags match")
    name = _board_name(config)
    if name and not name.startswith("tag:"):   # a wrong name ends the run before a JUnit file says "0 tests"
        from sisctl.board.spec import find_board
        from sisctl.errors import UsageError
        try:
            find_board(name)
        except UsageError as err:
            pytest.exit(f"sisctl: {err}", returncode=err.exit_code)


def _board_name(config: pytest.Config) -> str | None:
    return config.getoption(OPTION, default=None)


@pytest.fixture(scope="session")
def board(request: pytest.FixtureRequest):
    """The board under test, flashed and ready."""
    from sisctl.board.firstuse import ensure_flashed
    from sisctl.errors import SisctlError
    from sisctl.jobs.boards import held_board
    name = _board_name(request.config)
    if not name:
        pytest.skip(f"no board given: run pytest with {OPTION} NAME")
    try:
        chosen = held_board(name)
        ensure_flashed(chosen, progress=lambda message: None)
    except SisctlError as err:   # a wrong name or an unreachable board: one line, not a traceback
        pytest.exit(f"sisctl: {err}", returncode=err.exit_code)
    return chosen


@pytest.fixture
def session(board, request: pytest.FixtureRequest) -> Iterator:
    """A session booted to the agent, stopped after the test."""
    label = "pytest-" + "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    with board.session(label=label) as live:
        request.node.user_properties.append(("console_log", str(live.run_dir / "console.log")))
        yield live


@pytest.fixture
def sh(session) -> Callable[..., str]:
    """sh("uname -r") -> stdout as text; fails the test when the command does not exit 0."""
    def run(command: str, timeout_s: float = 60.0) -> str:
        result = session.run(command, timeout_s=timeout_s)
        if not result.ok:
            pytest.fail(f"{command!r} ended by {result.reason} {result.code}: "
                        f"{result.stderr.decode(errors='replace').strip()}", pytrace=False)
        return result.text
    return run


def pytest_runtest_setup(item: pytest.Item) -> None:
    wanted = {}
    for mark in item.iter_markers("board_tags"):
        wanted.update({str(k): str(v) for k, v in mark.kwargs.items()})
    name = _board_name(item.config)
    if not wanted or not name:
        return
    from sisctl.jobs.boards import board_spec
    spec = board_spec(name)
    tags = spec.lab.tags if spec.lab else {}
    missing = {k: v for k, v in wanted.items() if tags.get(k) != v}
    if missing:
        pytest.skip(f"board {spec.name} lacks tags {missing} (has {tags or 'none'})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    yield
    if call.when != "setup" or "board" not in getattr(item, "fixturenames", ()):
        return
    chosen = item.funcargs.get("board") if hasattr(item, "funcargs") else None
    if chosen is None or not hasattr(chosen, "flashed"):
        return
    from sisctl.errors import SisctlError
    try:
        origin = chosen.provenance()
    except SisctlError:
        return   # the board fixture itself reports what is wrong
    item.user_properties.extend((key, str(value)) for key, value in origin.items())
