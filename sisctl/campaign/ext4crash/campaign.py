"""The ext4 crash-injection campaign: run workloads, crash them, recover each crash state with the
kernel under test, and check it with e2fsck and the durability oracle.

Modes:
- powerloss: every write and flush of the workload is logged (blklogwrites); crash states are
  rebuilt offline from log prefixes at each flush, plus states that lose unflushed writes.
- reset: a hard reset through QMP at a seeded moment inside the workload; the disk is the state.

One board session per run: it first checks crash states still pending (reset mode), then runs
the workload; in powerloss mode the same session then checks that run's states on spare disks.

Sharded across boards, each board takes its share of the (scenario, run) units (core.shards.share)
and keeps its work disks in a folder of its own; the starting image and runs/ are shared.
"""
from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Callable, Iterator

from sisctl.board.board import Board, BoardSession
from sisctl.board.errors import BoardError, KernelCrash
from sisctl.board.qemu import Disk
from sisctl.campaign.ext4crash import blocklog
from sisctl.campaign.ext4crash.disk import make_base_image, read_marks
from sisctl.image.ext4 import e2fsck
from sisctl.campaign.ext4crash.guestfs import check_script, parse_check_output, workload_script
from sisctl.campaign.ext4crash.durability import parse_dump, verify
from sisctl.campaign.core.kind import Context
from sisctl.campaign.core.phases import Phases
from sisctl.campaign.core.profiling import PhaseProfiler
from sisctl.campaign.core.records import read_records
from sisctl.campaign.core.runner import direct_context
from sisctl.campaign.ext4crash.fsworkloads import workload
from sisctl.campaign.ext4crash.ops import FsState, Op, format_ops, simulate
from sisctl.campaign.ext4crash.options import CampaignConfig
from sisctl.campaign.ext4crash.summary import failure_cause
from sisctl.campaign.ext4crash.units import append_record, rate_figures, run_units
from sisctl.image.sparse import copy_image

SLOTS = 8        # crash states recovered per agent round trip
GROUPS = 2       # slot groups: the host checks one group's last states and rebuilds it while the guest recovers the other
WORK = "work"
PROFILED = ("workload", "guest check")   # the phases --profile on samples
_base_made = threading.Lock()     # shards of one campaign share its starting image: made once


@dataclass
class PendingState:
    """A crash state waiting to be checked, and how to rebuild it."""
    scenario: str
    run: int
    name: str
    source: Path                    # the run's write log (powerloss) or crash image (reset)
    upto: int | None = None
    dropped: list[int] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.scenario}/{self.run}/{self.name}"

    def materialize(self, base: Path, out: Path,
                    read_log: Callable[[Path], blocklog.BlockLog] = blocklog.read_log) -> None:
        if self.upto is None:
            copy_image(self.source, out)
        else:
            log = read_log(self.source)
            state = blocklog.CrashState(self.name, self.upto, frozenset(self.dropped))
            blocklog.replay(log, base, out, state)


def run_seed(seed: int, scenario: str, run: int) -> int:
    return int(hashlib.sha256(f"{seed}/{scenario}/{run}".encode()).hexdigest()[:8], 16)


@dataclass
class RunWorkload:
    """One run's workload, and the model's states of it, shared by all of that run's crash states."""
    seed: int
    ops: list[Op]

    @cached_property
    def states(self) -> list[FsState]:
        return simulate(self.ops)


class Ext4CrashCampaign:
    def __init__(self, ctx: Context, config: CampaignConfig, cold_sessions: bool = False, base: Path | None = None):
        """One board's share of the campaign (ctx.shard), its work disks in ctx.scratch. `base`: the
        starting image of the runs (default: a fresh one in ctx.out). `cold_sessions` boots every
        session cold and checks one state per session: the naive method, for benchmarks."""
        self.ctx, self.config, self.cold_sessions = ctx, config, cold_sessions
        self.board, self.out, self.progress, self.records = ctx.board, ctx.out, ctx.progress, ctx.records
        self.shard, self.work = ctx.shard, ctx.scratch
        (self.out / "runs").mkdir(parents=True, exist_ok=True)
        (self.work / "slots").mkdir(parents=True, exist_ok=True)
        self.base = base or self.out / "base.img"
        with _base_made:
            if not self.base.exists():   # made aside and renamed: a kill never leaves half an image
                partial = self.base.with_name(self.base.name + ".partial")
                make_base_image(partial)
                partial.rename(self.base)
        recorded = list(read_records(self.out / "records.jsonl"))
        self.done = {r["state_key"] for r in recorded if r.get("type") == "state"}
        self.runs_done = {r["run_key"] for r in recorded if r.get("type") == "run"}
        self.pending: list[PendingState] = []
        self._workloads: dict[tuple[str, int], RunWorkload] = {}
        self.checked = 0
        self.started = time.monotonic()
        self.phases = Phases()
        if config.profile == "on":
            self.phases.profiler = PhaseProfiler(ctx.out, ctx.board.name, PROFILED)
        self._read_log = lru_cache(maxsize=4)(blocklog.read_log)   # a run's states share its log

    @classmethod
    @contextmanager
    def direct(cls, board: Board, config: CampaignConfig, out: Path, progress: Callable[[str], None] = lambda _: None,
               **options) -> Iterator["Ext4CrashCampaign"]:
        """The campaign on one board outside the runner (a replay, a benchmark, a test): its folder `out`
        as the runner's would be, without a summary (`resume(out)` writes that)."""
        with direct_context("ext4-crash", config, board, out, progress) as ctx:
            yield cls(ctx, config, **options)

    # --- the run loop -------------------------------------------------------------
    def run(self) -> None:
        """This board's runs, then the states still pending; the checking rate goes to ctx.figures."""
        try:
            run_units(self.ctx, self.config, self.runs_done, self._one_run)
            self._check_leftovers()
        finally:
            self.ctx.figures.update(rate_figures(self.checked, self.started, self.phases))

    def run_checks_only(self) -> None:
        """Check the states already pending (a replay), in a session of their own."""
        self._check_leftovers()

    def _check_leftovers(self) -> None:
        size = 1 if self.cold_sessions else max(1, len(self.pending))
        while self.pending:
            self.ctx.check_stop()
            batch, self.pending = self.pending[:size], self.pending[size:]
            with self._session("check") as session:
                self._check_states(session, batch)

    def _disks(self, logged: bool) -> list[Disk]:
        work = Disk(WORK, self.work / "work.img", self.work / "work.log" if logged else None)
        return [work] + [Disk(f"slot{i}", self.work / "slots" / f"slot{i}.img", flushes=False) for i in range(SLOTS * GROUPS)]

    def _session(self, label: str, logged: bool = False):
        disks = self._disks(logged)
        size = self.base.stat().st_size
        for disk in disks:   # QEMU sizes a disk once, at start: one cut short by a kill must be redone
            if not disk.image.exists() or disk.image.stat().st_size != size:
                copy_image(self.base, disk.image)
        return self.phases.session(self.board.session(label=label, disks=disks, fast=not self.cold_sessions))

    def _workload(self, scenario: str, run: int) -> RunWorkload:
        key = (scenario, run)
        if key not in self._workloads:
            seed = run_seed(self.config.seed, scenario, run)
            self._workloads[key] = RunWorkload(seed, workload(scenario, seed))
        return self._workloads[key]

    def _one_run(self, scenario: str, run: int) -> None:
        current = self._workload(scenario, run)
        seed, ops = current.seed, current.ops
        runs = self.out / "runs"
        if self.config.mode == "reset":
            image = runs / f"{scenario}-{run}.img"
            if not image.exists():   # else: crashed before a kill, still to be checked
                delay = random.Random(seed).uniform(0.05, 1.0) * self._expected_duration(scenario, ops)
                copy_image(self.base, self.work / "work.img")
                with self._session(f"{scenario}-{run}") as session:
                    self._check_pending(session)
                    self._reset_during_workload(session, ops, delay)
                copy_image(self.work / "work.img", image)
                self.progress(f"{scenario} run {run}: reset {delay:.2f} s into the workload")
            self.pending.append(PendingState(scenario, run, "reset", image))
            return
        log = runs / f"{scenario}-{run}.log"
        complete = log.with_suffix(".done")
        if not complete.exists():
            copy_image(self.base, self.work / "work.img")
        with self._session(f"{scenario}-{run}", logged=not complete.exists()) as session:
            self._check_pending(session)
            if not complete.exists():
                with self.phases("workload", guest=True):
                    self._run_workload(session, ops, scenario, run)
                with self.phases("write log copy"):
                    copy_image(self.work / "work.log", log)
                complete.touch()
            with self.phases("crash states chosen"):
                self.pending += self._powerloss_states(scenario, run, log, seed)
            self._check_pending(session)
        self._finish_run(scenario, run, [log, complete])

    def _run_workload(self, session: BoardSession, ops, scenario: str, run: int, device: str | None = None) -> None:
        result = session.run(workload_script(WORK, format_ops(ops), unmount=True, device=device), timeout_s=600)
        if not result.ok:
            raise BoardError(self.board.name, f"workload {scenario} run {run} failed: "
                             f"{result.text.strip()} {result.stderr.decode(errors='replace').strip()}")

    def _reset_during_workload(self, session: BoardSession, ops, delay: float) -> None:
        """Start the workload and hard-reset the machine `delay` seconds later."""
        session.agent.start(workload_script(WORK, format_ops(ops), unmount=False), timeout_s=600)
        time.sleep(delay)
        try:
            session.reset()
        except BoardError:
            pass   # the workload ended and QEMU already stopped: the state is its end

    def _expected_duration(self, scenario: str, ops) -> float:
        """Measured once per scenario: the workload's full duration in a session of its own."""
        return self._measured_once("durations.json", scenario, lambda: self._time_workload(scenario, ops))

    def _measured_once(self, file: str, scenario: str, measure):
        """What `measure()` gives for a scenario, kept in the campaign's work folder (a resumed
        campaign measures nothing again)."""
        cache = self.work / file
        known = json.loads(cache.read_text()) if cache.exists() else {}
        if scenario not in known:
            known[scenario] = measure()
            cache.write_text(json.dumps(known))
        return known[scenario]

    def _time_workload(self, scenario: str, ops) -> float:
        copy_image(self.base, self.work / "work.img")
        with self._session(f"{scenario}-timing") as session:
            started = time.monotonic()
            self._run_workload(session, ops, scenario, -1)
            elapsed = time.monotonic() - started
        copy_image(self.base, self.work / "work.img")
        return elapsed

    def _powerloss_states(self, scenario: str, run: int, log_path: Path, seed: int) -> list[PendingState]:
        log = self._read_log(log_path)
        states = blocklog.prefix_states(log) + blocklog.reorder_states(
            log, random.Random(seed), self.config.reorder_per_epoch)
        return [PendingState(scenario, run, s.name, log_path, s.upto, sorted(s.dropped)) for s in states]

    # --- checking ------------------------------------------------------------------
    def _check_pending(self, session: BoardSession) -> None:
        states, self.pending = self.pending, []
        self._check_states(session, states)

    def _check_states(self, session: BoardSession, states: list[PendingState]) -> None:
        """Recover the states in batches of SLOTS, alternating between the slot groups: while the
        guest recovers one batch, a host thread runs e2fsck and the oracle on the batch before and
        rebuilds the one after from the write log."""
        todo = [p for p in states if p.key not in self.done]
        batches = [todo[start:start + SLOTS] for start in range(0, len(todo), SLOTS)]
        if not batches:
            return
        groups = [[f"slot{g * SLOTS + i}" for i in range(SLOTS)] for g in range(GROUPS)]
        with ThreadPoolExecutor(1, thread_name_prefix=f"{self.board.name}-host") as host:
            rebuilt = host.submit(self._host_turn, None, batches[0], groups[0])
            recovered = None
            for n, batch in enumerate(batches):
                marks = rebuilt.result()
                self.ctx.check_stop()
                slots = groups[n % GROUPS][:len(batch)]
                following = batches[n + 1] if n + 1 < len(batches) else []
                rebuilt = host.submit(self._host_turn, recovered, following, groups[(n + 1) % GROUPS])
                try:
                    recovered = (batch, slots, marks, *self._recover(session, slots))
                except KernelCrash as crash:
                    raise BoardError(self.board.name, f"kernel crashed while recovering one of "
                                     f"{[p.key for p in batch]}: {crash.title}", crash.log_tail) from None
            rebuilt.result()
            host.submit(self._host_turn, recovered, [], []).result()

    def _host_turn(self, recovered: tuple | None, batch: list[PendingState], slots: list[str]) -> list:
        """The host's side of one round: check and record the states the guest recovered (e2fsck,
        the oracle), then write the next batch's crash images; returns their persistence marks."""
        if recovered:
            done, done_slots, marks, reports, window = recovered
            for slot, state, state_marks in zip(done_slots, done, marks):
                with self.phases("e2fsck"):
                    fsck = e2fsck(self.work / "slots" / f"{slot}.img")
                self._record(state, state_marks, reports[slot], fsck, {**window, "slot": slot})
        next_marks = []
        for slot, state in zip(slots, batch):
            image = self.work / "slots" / f"{slot}.img"
            with self.phases("image from write log"):
                state.materialize(self.base, image, self._read_log)
            with self.phases("marks read"):
                next_marks.append(read_marks(image))
        return next_marks

    def _recover(self, session: BoardSession, slots: list[str]) -> tuple[dict, dict]:
        """The guest mounts (recovers), dumps and exercises each slot's image: its reports, and
        where in the console log this happened (for a report's excerpt)."""
        output, console, wall_s = self._guest_check(session, check_script(slots), 300)
        reports = parse_check_output(output, slots)
        self._guest_steps(reports.values(), wall_s)
        return reports, console

    def _guest_check(self, session: BoardSession, script: str, timeout_s: float) -> tuple[str, dict, float]:
        """Run a check script in the 'guest check' phase: its output, the part of the console log
        written meanwhile, and its wall time."""
        log = session.run_dir / "console.log"
        start = log.stat().st_size if log.exists() else 0
        with self.phases("guest check", guest=True) as check:
            output = session.run(script, timeout_s=timeout_s).text
        return output, {"log": str(log), "from": start, "to": log.stat().st_size if log.exists() else 0}, check.wall_s

    def _guest_steps(self, reports, wall_s: float) -> None:
        """The guest's own times of each step of a check, as parts of the 'guest check' phase; the
        rest of its wall time is the agent's round trip and the output's way over the console."""
        steps = 0.0
        for report in reports:
            timed = {"mount and journal recovery (guest)": report.recovery_ms,
                     **{f"{step} (guest)": ms for step, ms in report.step_ms.items()}}
            for step, ms in timed.items():
                if ms is not None:
                    self.phases.add(step, ms / 1000, within="guest check")
                    steps += ms / 1000
        self.phases.add("command and output transfer", max(0.0, wall_s - steps), within="guest check")

    def _record(self, state: PendingState, marks, report, fsck, console: dict | None = None,
                extra: dict | None = None) -> None:
        run = self._workload(state.scenario, state.run)
        with self.phases("oracle"):
            verdict = (verify(run.ops, len(marks), parse_dump("\n".join(report.dump)), run.states)
                       if report.mounted else None)
        outcome = ("mount-failed" if not report.mounted else "violation" if not verdict.ok
                   else "fsck" if not fsck.clean else "sanity" if not report.sanity else "ok")
        record = {
            "type": "state", "state_key": state.key, "scenario": state.scenario, "run": state.run,
            "mode": self.config.mode, "seed": self.config.seed,
            "run_seed": run.seed,
            "crash_point": {"state": state.name, "log_entries": state.upto, "dropped": state.dropped,
                            "source": str(state.source), "base": str(self.base),
                            "persistence_calls_completed": len(marks),
                            "last_completed_op": marks[-1].op_index if marks else None},
            "outcome": outcome, "recovery_ms": report.recovery_ms, "sanity": report.sanity,
            "guest_problem": report.problem,
            "e2fsck": {"code": fsck.code, "meaning": fsck.meaning,
                       "output": fsck.output if not fsck.clean else ""},
            "violations": [asdict(v) for v in verdict.violations] if verdict else [],
            "facts_checked": verdict.checked if verdict else 0,
            "reproduce": f"invoke campaign.replay --campaign {self.out} --state {state.key}",
            "checked_at": round(time.time(), 3), "console": console,
            **(extra or {}), **self.ctx.origin,
        }
        with self.phases("record write"):
            self._append(record)
        self.done.add(state.key)
        self.checked += 1
        rate = self.checked / max(1e-9, time.monotonic() - self.started) * 60
        self.progress(f"\r{state.key:40.40s} {outcome:12s} checked {self.checked}  ({rate:.0f} states/min)")
        if outcome != "ok":
            self.progress(f"FAIL {state.key} {outcome}: {failure_cause(record)}")
            self._keep(state)
        if self.config.mode == "reset":
            self._finish_run(state.scenario, state.run, [state.source])

    def _keep(self, state: PendingState) -> None:
        (self.out / "runs" / f"{state.scenario}-{state.run}.keep").touch()

    def _finish_run(self, scenario: str, run: int, files: list[Path]) -> None:
        keep = (self.out / "runs" / f"{scenario}-{run}.keep").exists() or self.config.keep_all
        if not keep:
            for f in files:
                f.unlink(missing_ok=True)
        self._append({"type": "run", "run_key": f"{scenario}/{run}", "kept": keep, "board": self.board.name})
        self.progress.advance()

    def _append(self, record: dict) -> None:
        append_record(self.ctx, self.config.mode, record)
