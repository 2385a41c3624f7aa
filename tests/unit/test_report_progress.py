"""Progress: a live bar on a terminal, periodic plain lines in a log, nothing for --json."""
from __future__ import annotations

import io

import pytest
from rich.console import Console

from sisctl import progress as progress_module
from sisctl.progress import CallbackProgress, LineProgress, LiveProgress, Progress, as_progress, progress_for


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", fake)
    return fake


def test_a_log_gets_lines_and_the_status_now_and_then_never_a_carriage_return(clock):
    out = io.StringIO()
    with progress_for(stream=out) as progress:
        assert isinstance(progress, LineProgress)
        progress.total(100, "runs")
        progress("starting")
        for n in range(1, 60):
            clock.now += 0.5                  # 30 s in all: a status line every 10 s, not 59 of them
            progress(f"\rstate {n} ok")
        progress("FAIL state 7: e2fsck: clean")
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0] == "starting" and "FAIL state 7: e2fsck: clean" in lines
    status = [line for line in lines if "state " in line and "FAIL" not in line]
    assert 3 <= len(status) <= 5, lines
    assert status[-1].endswith("state 59 ok")     # the last status is written when the job ends
    assert status[0].startswith("[0/100 runs, 0%]")


def test_every_tenth_of_the_work_is_a_line_with_rate_and_eta(clock):
    out = io.StringIO()
    progress = LineProgress(out)
    progress.total(20, "runs")
    for _ in range(20):
        clock.now += 3.0                       # 1 unit per 3 s: 20 units/min
        progress("\rworking")
        progress.advance()
    progress.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 11, lines             # the first status and one per tenth
    assert lines[5].startswith("[10/20 runs, 50%, 20.0 runs/min, ETA 30s]")
    assert lines[-1].startswith("[20/20 runs, 100%, 20.0 runs/min]")


def test_json_output_gets_no_progress_at_all(capsys):
    with progress_for(quiet=True) as progress:
        progress.total(3)
        progress("a line")
        progress("\ra status")
        progress.advance()
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""


def test_a_terminal_gets_a_live_bar_and_the_lines_above_it():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with LiveProgress(console) as progress:
        progress.total(4, "runs")
        progress("FAIL generated-1/0/e3 violation: lost 'a'")
        progress("\rgenerated-1/0/e4 ok")
        progress.advance(2)
    text = out.getvalue()
    assert "FAIL generated-1/0/e3 violation: lost 'a'" in text
    assert "2/4" in text and "\x1b[" in text             # drawn with terminal controls
    assert progress.bar.live.is_started is False         # taken down when the job ends


def test_a_plain_callable_keeps_working_and_totals_do_nothing():
    seen = []
    progress = as_progress(seen.append)
    assert isinstance(progress, CallbackProgress) and as_progress(progress) is progress
    progress.total(5)
    progress("\rlive")
    progress("line")
    progress.advance()
    assert seen == ["\rlive", "line"]


def test_counts_say_what_is_known(clock):
    progress = Progress()
    assert progress.counts() == ""
    progress.advance(3)
    assert progress.counts() == "3"
    progress.total(10, "states")
    clock.now += 60
    assert progress.counts() == "3/10 states, 30%, 3.0 states/min, ETA 2m20s"
