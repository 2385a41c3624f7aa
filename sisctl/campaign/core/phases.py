"""Where a campaign's time goes: wall and CPU seconds per named phase of its work.

Host CPU is this thread's own plus that of the child processes reaped meanwhile (e2fsck, debugfs);
with several threads in one process a child's CPU may land on another thread's phase. Guest CPU is
the emulator's (its threads' run time), taken for the phases that ask for it (the guest at work).
Phases timed by the guest itself (a mount inside `sisagent check`) come in with `add` and carry
wall time only. Phases of different threads may overlap, so their walls can add up to more than
the run's. Summaries keep `as_dict()` under figures['phases']; benchmarks print `table()`.
"""
from __future__ import annotations

import resource
import sys
import threading
import time
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator


@dataclass
class Totals:
    count: int = 0
    wall_s: float = 0.0
    host_cpu_s: float | None = None
    guest_cpu_s: float | None = None
    within: str | None = None       # a part of that phase (counted there too, so not in the shares)

    def add(self, wall_s: float, host_cpu_s: float | None, guest_cpu_s: float | None, count: int = 1) -> None:
        self.count += count
        self.wall_s += wall_s
        if host_cpu_s is not None:
            self.host_cpu_s = (self.host_cpu_s or 0.0) + host_cpu_s
        if guest_cpu_s is not None:
            self.guest_cpu_s = (self.guest_cpu_s or 0.0) + guest_cpu_s


def host_cpu_s() -> float:
    """This thread's CPU seconds and those of every child process reaped so far."""
    own, children = resource.getrusage(resource.RUSAGE_THREAD), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Phases:
    """Totals per phase name, in the order phases were first seen."""

    def __init__(self) -> None:
        self.totals: dict[str, Totals] = {}
        self._lock = threading.Lock()
        self.guest_cpu: Callable[[], float | None] = lambda: None   # the running emulator's CPU seconds
        self.profiler = None         # a PhaseProfiler (core/profiling.py): sessions sample its phases' commands
        self.guest_phase: str | None = None     # the guest phase under way

    def reset(self) -> None:
        """Forget the totals so far (a benchmark's warm-up)."""
        with self._lock:
            self.totals.clear()

    @contextmanager
    def __call__(self, name: str, guest: bool = False) -> Iterator[Totals]:
        """Time the block as one `name`; what it yields holds that block's own figures once it ends."""
        guest_cpu = self.guest_cpu if guest else lambda: None
        guest_before, host_before, started = guest_cpu(), host_cpu_s(), time.monotonic()
        timed = Totals()
        outer = self.guest_phase
        if guest:
            self.guest_phase = name
        try:
            yield timed
        finally:
            self.guest_phase = outer
            guest_after = guest_cpu()
            guest = guest_after - guest_before if guest_before is not None and guest_after is not None else None
            timed.add(time.monotonic() - started, host_cpu_s() - host_before, guest)
            self.add(name, timed.wall_s, timed.host_cpu_s, timed.guest_cpu_s)

    @contextmanager
    def session(self, opening: AbstractContextManager, start: str = "session start",
                end: str = "session end") -> Iterator[Any]:
        """Enter a board session (`opening`: Board.session(...)) timed as `start`, follow its emulator's
        CPU while it lasts, and time its end as `end`. The emulator's CPU from its start on goes to
        `start` and to the phases that ask for it; QEMU is reaped at the end, so what that adds to the
        host's children is taken off `end`'s host CPU. With a profiler, the session yielded samples
        the commands of its phases."""
        with self(start):
            session = opening.__enter__()
        self.add(start, 0.0, guest_cpu=session.guest_cpu_s(), count=0)
        self.guest_cpu = session.guest_cpu_s
        try:
            yield self.profiler.wrap(session, lambda: self.guest_phase) if self.profiler else session
        except BaseException:
            self.guest_cpu = lambda: None
            if not opening.__exit__(*sys.exc_info()):
                raise
        else:
            self.guest_cpu = lambda: None
            lifetime = session.guest_cpu_s() or 0.0
            with self(end):
                opening.__exit__(None, None, None)
            self.add(end, 0.0, host_cpu=-lifetime, count=0)

    def add(self, name: str, wall_s: float, host_cpu: float | None = None, guest_cpu: float | None = None,
            count: int = 1, within: str | None = None) -> None:
        with self._lock:
            self.totals.setdefault(name, Totals(within=within)).add(wall_s, host_cpu, guest_cpu, count)

    def as_dict(self) -> dict:
        return {name: {"count": t.count, "wall_s": round(t.wall_s, 4),
                       "host_cpu_s": None if t.host_cpu_s is None else round(t.host_cpu_s, 4),
                       "guest_cpu_s": None if t.guest_cpu_s is None else round(t.guest_cpu_s, 4),
                       **({"within": t.within} if t.within else {})}
                for name, t in self.totals.items()}


def by_board(figures: dict) -> dict:
    """The phases of each board of a campaign (its figures as `findings` gets them), for summary.json."""
    return {board: f["phases"] for board, f in (figures.get("by_board") or {}).items() if f.get("phases")}


def table(phases: dict, units: int, unit: str) -> str:
    """A text table of `as_dict()` output: milliseconds per `unit` (of `units` in all) and shares."""
    if units <= 0:
        return f"no {unit}s: no table"
    wall = sum(p["wall_s"] for p in phases.values() if not p.get("within"))
    width = max([len(n) for n in phases] + [5])
    lines = [f"{'phase':{width + 2}s}  {'count':>6s}  {'wall ms/' + unit:>16s}  {'share':>6s}  "
             f"{'host cpu ms':>11s}  {'guest cpu ms':>12s}"]

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value / units * 1000:.1f}"

    ordered = [(name, p) for name, p in phases.items() if not p.get("within")]
    ordered = [row for name, p in ordered
               for row in [(name, p)] + [(n, c) for n, c in phases.items() if c.get("within") == name]]
    for name, p in ordered:
        share = f"{p['wall_s'] / wall * 100:5.1f}%" if wall and not p.get("within") else "      "
        label = f"  {name}" if p.get("within") else name
        lines.append(f"{label:{width + 2}s}  {p['count']:6d}  {ms(p['wall_s']):>16s}  {share}  "
                     f"{ms(p['host_cpu_s']):>11s}  {ms(p['guest_cpu_s']):>12s}")
    return "\n".join(lines)
