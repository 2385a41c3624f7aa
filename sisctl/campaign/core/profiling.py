"""Where the kernel spends a campaign's guest phases (`--profile on` of ext4-crash and fuzz): every
command a profiled phase runs (a batch of crash states recovered and checked, a fuzz batch) goes
through the agent's sampler. Its stacks are named at once and added to the phase's folded stacks
on disk (out/phase-profiles/<phase>/<board>.folded), so a killed campaign keeps what it sampled
and a resumed one adds to it (a unit of work redone after a kill is sampled again). At the end
each phase gets a top-functions table and a flame graph over every board's stacks, telemetry gets
a `profile_top` point per function of each board's top list, and the page shows them."""
from __future__ import annotations

import dataclasses
import json
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import Callable

from sisctl import paths
from sisctl.campaign.core.options import Option, on_off

# The kinds' option tables import this module for the command line: the profile side (pyelftools,
# the flame graph writer) is imported where a profile is taken or written.

HZ = 200      # samples a CPU second: a campaign takes many commands, so its profile builds up anyway
FOLDER = "phase-profiles"
TOTALS = ("commands", "samples", "counted", "lost", "dropped", "unresolved")
COMPACT_BYTES = 1 << 20     # a board's folded file past this is rewritten with each stack once


def read_totals(path: Path) -> dict:
    """A board's totals of one phase; zeros where the file is missing or damaged (the stacks are
    what count: a damaged totals file must not cost the campaign its summary)."""
    totals = dict.fromkeys(TOTALS, 0)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return totals
    if isinstance(data, dict):
        totals.update({k: v for k, v in data.items() if k not in TOTALS or (isinstance(v, int) and v >= 0)})
    return totals


def read_stacks(path: Path) -> dict:
    """A board's folded stacks of one phase (damaged lines, such as one cut short by a kill, left out)."""
    from sisctl.profile.folded import read_folded
    return read_folded(path.read_bytes().decode(errors="replace"))


def profile_option(phases: str) -> Option:
    """The `profile` option of a kind whose `phases` (said for the help) are sampled."""
    return Option("profile", on_off("profile"), "off", f"on: sample where the kernel spends {phases} "
                  f"({HZ} Hz, by the agent), for a top-functions table and a flame graph per phase")


def phase_slug(phase: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in phase).strip("-")


class PhaseProfiler:
    """Samples the commands of the phases named in `phases` on one board of a campaign in `out`."""

    def __init__(self, out: Path, board: str, phases: tuple[str, ...], hz: int = HZ):
        self.root, self.board, self.phases, self.hz = out / FOLDER, board, phases, hz
        self._lock = threading.Lock()
        self._named: set[str] = set()       # phases whose folder this profiler has made and named

    def wrap(self, session, current_phase: Callable[[], str | None]) -> "ProfiledSession":
        return ProfiledSession(session, self, current_phase)

    def add(self, phase: str, samples, vmlinux: Path | None) -> None:
        """One command's samples, named, onto the phase's folded stacks and totals on disk."""
        from sisctl.profile.folded import fold, folded_text
        from sisctl.profile.symbols import Resolver
        resolver = Resolver(samples, vmlinux)
        text = folded_text(fold(samples, resolver))
        folder = self.root / phase_slug(phase)
        with self._lock:
            if phase not in self._named:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "phase").write_text(phase)
                self._named.add(phase)
            stacks = folder / f"{self.board}.folded"
            with open(stacks, "ab+") as f:
                if f.seek(0, 2) and (f.seek(-1, 2), f.read(1))[1] != b"\n":
                    f.write(b"\n")       # a line cut short by a kill stays apart (and is not read)
                f.write(text.encode())
                size = f.tell()
            if size > COMPACT_BYTES:      # a long campaign's file stays as large as its distinct stacks
                paths.write_atomic(stacks, folded_text(read_stacks(stacks)))
            totals_path = folder / f"{self.board}.totals.json"
            totals = read_totals(totals_path)
            for key, value in zip(TOTALS, (1, samples.total, samples.counted, samples.lost, samples.dropped,
                                           resolver.unresolved)):
                totals[key] += value
            totals["symbols"] = resolver.source
            totals["vmlinux"] = str(vmlinux) if vmlinux else ""
            paths.write_atomic(totals_path, json.dumps(totals) + "\n")


class ProfiledSession:
    """A board session whose commands run under the sampler while a profiled phase is on; every
    other command, and everything else of the session, as it is."""

    def __init__(self, session, profiler: PhaseProfiler, current_phase: Callable[[], str | None]):
        self._session, self._profiler, self._current_phase = session, profiler, current_phase

    def __getattr__(self, name: str):
        return getattr(self._session, name)

    def run(self, command: str, timeout_s: float = 60.0):
        phase = self._current_phase()
        if phase not in self._profiler.phases:
            return self._session.run(command, timeout_s=timeout_s)
        from sisctl.jobs.profile import sample_command
        samples, result = sample_command(self._session, command, self._profiler.hz, timeout_s)
        self._profiler.add(phase, samples, self._booted_vmlinux)
        return dataclasses.replace(result, stderr=samples.command_stderr.encode())

    @cached_property
    def _booted_vmlinux(self) -> Path | None:
        session = self._session
        return (session.artifact or session.board.flashed().load_artifact()).vmlinux


def _phase_folders(out: Path) -> list[tuple[str, Path]]:
    """Each profiled phase's name and folder (a folder that lost its name file goes by its own)."""
    root = out / FOLDER
    if not root.is_dir():
        return []
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    return [(_phase_name(p), p) for p in folders]


def _phase_name(folder: Path) -> str:
    try:
        return (folder / "phase").read_text().strip() or folder.name
    except (OSError, UnicodeDecodeError):
        return folder.name


def _merged(folder: Path, boards: list[str] | None = None) -> tuple[dict, dict]:
    """The folded stacks of `boards` (None: every board's) in one phase's folder, and their totals."""
    folded: dict = {}
    totals = dict.fromkeys(TOTALS, 0)
    for path in sorted(folder.glob("*.folded")):
        board = path.name[:-len(".folded")]
        if boards is not None and board not in boards:
            continue
        for stack, count in read_stacks(path).items():
            folded[stack] = folded.get(stack, 0) + count
        for key, value in read_totals(folder / f"{board}.totals.json").items():
            totals[key] = totals.get(key, 0) + value if key in TOTALS else value
    return folded, totals


def write_phase_profiles(out: Path, title: str) -> dict:
    """Each profiled phase's top.json and flame.svg over every board's stacks; its figures by phase."""
    from sisctl.jobs.profile import write_top_and_flame
    figures = {}
    for phase, folder in _phase_folders(out):
        folded, totals = _merged(folder)
        vmlinux = Path(totals["vmlinux"]) if totals.get("vmlinux") and Path(totals["vmlinux"]).exists() else None
        top = write_top_and_flame(folder, folded, vmlinux, f"{title}: {phase}")
        figures[phase] = {**totals, "stacks": len(folded), "folder": f"{FOLDER}/{folder.name}", "top": top}
    return figures


def phase_profile_points(out: Path, board: str, campaign: str) -> list:
    """A `profile_top` point per function of this board's top list in each profiled phase."""
    from sisctl.jobs.profile import TOP
    from sisctl.profile.folded import top_functions
    from sisctl.telemetry.points import make_point
    now, points = time.time_ns(), []
    for phase, folder in _phase_folders(out):
        folded, _ = _merged(folder, [board])
        for top in top_functions(folded, TOP):
            points.append(make_point("profile_top", {"board": board, "campaign": campaign, "phase": phase,
                                                     "function": top["function"]},
                                     {"self_share": top["self_share"], "total_share": top["total_share"],
                                      "samples": top["self"]}, now))
    return points


def phase_profile_sections(summary: dict) -> list:
    """The page's top-functions table and flame graph of each profiled phase."""
    from sisctl.jobs.profile import top_table
    from sisctl.profile.flame import static_copy
    from sisctl.report.page import Figure, Group, Link, Paragraph, Table
    out, sections = Path(summary["report"]), []
    for phase, figures in (summary.get("phase_profiles") or {}).items():
        svg = (out / figures["folder"] / "flame.svg").read_text()
        sections.append(Group(f"Where the kernel spent '{phase}'", [
            Paragraph(f"{figures['counted']} samples of {figures['commands']} commands in {figures['stacks']} "
                      f"distinct stacks; symbols from {figures.get('symbols', '?')}; {figures['lost']} lost, "
                      f"{figures['dropped']} dropped."),
            top_table(figures["top"]),
            Table("", [], [["zoomable flame graph", Link("flame.svg", f"{figures['folder']}/flame.svg")],
                           ["folded stacks, per board", Link(figures["folder"], figures["folder"])]]),
            Figure("Flame graph", static_copy(svg), "callers below, callees above")]))
    return sections
