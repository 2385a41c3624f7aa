"""Progress of long jobs: a live bar on a terminal, plain periodic lines in a CI log, nothing for --json.

The calling convention every job uses: a Progress is callable,
    progress("\\rstate 12 ok ...")   updates the live status (not a line of its own in a log)
    progress("text")                 prints a line
and, when the job knows how much work there is,
    progress.total(14, "runs")       sets the amount (again on resume, with .advance(done))
    progress.advance()               one unit done: the bar, rate and ETA follow it.
Plain callables (print, a lambda) given to a job are wrapped with as_progress(); totals then do nothing.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, ProgressColumn,
                           SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

LINE_EVERY_S = 10.0      # a log gets the live status at most this often ...
LINE_EVERY_FRACTION = 0.1   # ... and at every tenth of the work


class Progress:
    """Counts work and says nothing; the base of the other kinds, and what --json gets."""

    def __init__(self):
        self.units, self.unit, self.done = None, "", 0
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        if message.startswith("\r"):
            self._status(" ".join(message.split()))   # columns padded for a bare live line waste the width
        else:
            self._line(message)

    def total(self, units: int | None, unit: str = "") -> None:
        self.units, self.unit = units, unit or self.unit

    def advance(self, units: int = 1) -> None:
        self.done += units

    def close(self) -> None:
        pass

    def _status(self, text: str) -> None:
        pass

    def _line(self, text: str) -> None:
        pass

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def counts(self) -> str:
        """"3/14 runs, 21%, 1.2 runs/min, ETA 9m05s" (as much as is known)."""
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed * 60 if elapsed > 0 else 0.0
        unit = f" {self.unit}" if self.unit else ""
        if not self.units:
            return f"{self.done}{unit}" if self.done else ""
        parts = [f"{self.done}/{self.units}{unit}", f"{self.done / self.units:.0%}"]
        if self.done:
            parts.append(f"{rate:.1f}{unit}/min")
            if self.done < self.units:
                parts.append(f"ETA {_duration((self.units - self.done) / rate * 60)}")
        return ", ".join(parts)


class CallbackProgress(Progress):
    """A plain callable behind the Progress interface (what jobs got before there were totals)."""

    def __init__(self, show: Callable[[str], None]):
        super().__init__()
        self.show = show

    def __call__(self, message: str) -> None:
        self.show(message)


class LineProgress(Progress):
    """For logs: lines as they come, and the live status as a line every LINE_EVERY_S or tenth of the work."""

    def __init__(self, stream: TextIO):
        super().__init__()
        self.stream = stream
        self.pending = ""               # the latest status not yet written
        self.last_at = float("-inf")
        self.last_tenth = 0

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _status(self, text: str) -> None:
        self.pending = text
        tenth = int(self.done / self.units / LINE_EVERY_FRACTION) if self.units else 0
        if time.monotonic() - self.last_at >= LINE_EVERY_S or tenth > self.last_tenth:
            self._flush_status()
            self.last_tenth = tenth

    def advance(self, units: int = 1) -> None:
        super().advance(units)
        if self.units and int(self.done / self.units / LINE_EVERY_FRACTION) > self.last_tenth:
            self._status(self.pending)

    def _flush_status(self) -> None:
        counts = self.counts()
        text = f"[{counts}] {self.pending}" if counts else self.pending
        if text.strip():
            self._line(text.rstrip())
        self.pending, self.last_at = "", time.monotonic()

    def close(self) -> None:
        if self.pending:
            self._flush_status()


class RatePerMinute(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "")
        return Text(f"{speed * 60:.1f} {unit}/min" if speed else "", style="progress.data.speed")


class LiveProgress(Progress):
    """For a terminal: a bar with count, rate and ETA under the lines, the live status beside it."""

    def __init__(self, console: Console):
        super().__init__()
        self.console = console
        self.bar = RichProgress(SpinnerColumn(), TextColumn("{task.description}", markup=False),
                                BarColumn(bar_width=24), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
                                TaskProgressColumn(), RatePerMinute(), TimeRemainingColumn(compact=True),
                                TimeElapsedColumn(), console=console, transient=True, redirect_stdout=False,
                                redirect_stderr=False)
        self.task = self.bar.add_task("", total=None, unit="")
        self.bar.start()

    def total(self, units: int | None, unit: str = "") -> None:
        super().total(units, unit)
        self.bar.update(self.task, total=units, unit=self.unit)

    def advance(self, units: int = 1) -> None:
        super().advance(units)
        self.bar.advance(self.task, units)

    def _status(self, text: str) -> None:
        width = max(20, self.console.width - 70)
        self.bar.update(self.task, description=text if len(text) <= width else text[:width - 1] + "…")

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        self.bar.stop()


def progress_for(quiet: bool = False, stream: TextIO | None = None) -> Progress:
    """The right progress for where output goes: nothing when quiet (--json), a live bar on a
    terminal, periodic lines otherwise. Use it in a `with` block so a live bar is always taken down."""
    stream = stream or sys.stderr
    if quiet:
        return Progress()
    console = Console(file=stream)
    if console.is_terminal and not console.is_dumb_terminal:
        return LiveProgress(console)
    return LineProgress(stream)


def as_progress(progress: Progress | Callable[[str], None]) -> Progress:
    return progress if isinstance(progress, Progress) else CallbackProgress(progress)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
