"""The ext4 crash campaign's reset mode on a kernel without sisctl's agent: a target of kind prompt
whose profile has a `crash:` entry (the seed kernel's `fsctl stress` and `fsctl verify`).

Two sessions per run: a fresh ext4 disk, the kernel's workload command typed at its prompt, a hard
reset through QMP at a seeded moment inside it (the console read up to then: the workload's
promises); then the kernel's boot again with that disk, and its verify command (it mounts, so the
kernel under test recovers the journal). The host then checks the disk itself: `e2fsck -fn`, and every
file promised before the reset read with debugfs and compared with what was promised.
Records, summary, JUnit, pages and resume are the agent mode's; a run is redone after a kill.
"""
from __future__ import annotations

import random
import re
import time

from sisctl.board.errors import BoardError
from sisctl.board.qemu import Disk
from sisctl.board.target.shell import without_kernel_lines
from sisctl.campaign.core.kind import Context
from sisctl.campaign.core.phases import Phases
from sisctl.campaign.core.records import read_records
from sisctl.campaign.ext4crash.campaign import run_seed
from sisctl.campaign.ext4crash.options import CampaignConfig
from sisctl.campaign.ext4crash.promises import Promises, broken_promises, read_promises
from sisctl.campaign.ext4crash.summary import failure_cause
from sisctl.campaign.ext4crash.units import append_record, rate_figures, run_units
from sisctl.image.ext4 import FsckResult, e2fsck, make_ext4, read_files
from sisctl.image.sparse import copy_image

VERIFY_TIMEOUT_S = 300


def workload_line(profile, scenario: str) -> str:
    """The profile's workload command for `scenario`: {scenario} replaced, any other brace kept."""
    return profile.workload.replace("{scenario}", scenario)


class PromptCrashCampaign:
    def __init__(self, ctx: Context, config: CampaignConfig):
        self.ctx, self.config, self.board = ctx, config, ctx.board
        self.profile = ctx.board.spec.target.crash     # there: runs_without_agent checked it
        self.work = ctx.scratch
        (ctx.out / "runs").mkdir(parents=True, exist_ok=True)
        recorded = list(read_records(ctx.out / "records.jsonl"))   # a run is done once its state is recorded
        self.runs_done = {r["run_key"] for r in recorded if r.get("type") == "run"} | {
            f"{r['scenario']}/{r['run']}" for r in recorded if r.get("type") == "state"}
        self.phases = Phases()
        self.checked = 0
        self.started = time.monotonic()

    def run(self) -> None:
        try:
            run_units(self.ctx, self.config, self.runs_done, self._one_run)
        finally:
            self.ctx.figures.update(rate_figures(self.checked, self.started, self.phases))

    def _one_run(self, scenario: str, run: int) -> None:
        seed = run_seed(self.config.seed, scenario, run)
        delay = random.Random(seed).uniform(0.05, 1.0) * self.profile.duration_s
        image = self.work / "scratch.img"
        with self.phases("disk made"):
            make_ext4(image, self.profile.disk_mib << 20)
        disks = [Disk(self.profile.disk, image)]
        with self.phases.session(self.board.session(fast=False, label=f"{scenario}-{run}", disks=disks)) as session:
            with self.phases("workload until the reset", guest=True):
                said = self._until_reset(session, workload_line(self.profile, scenario), delay)
        with self.phases.session(self.board.session(fast=False, label=f"{scenario}-{run}-verify", disks=disks),
                                 start="boot after the reset") as session:
            reboot_s, log = session.boot_s, session.run_dir / "console.log"
            with self.phases("verify (guest)", guest=True):
                verified = session.run(self.profile.verify, VERIFY_TIMEOUT_S)
        promises = read_promises(said, self.profile.promise_regex, self.profile.changing_regex)
        with self.phases("e2fsck"):
            fsck = e2fsck(image)
        with self.phases("promised files read"):
            files = read_files(image, promises.paths, self.work / "files")
        state = f"{scenario}/{run}/reset"
        record = self._record(state, scenario, run, seed, delay, said, promises, files, fsck, verified, reboot_s, log)
        keep = record["outcome"] != "ok" or self.config.keep_all
        if keep:
            copy_image(image, self.ctx.out / "runs" / f"{scenario}-{run}.img")
        append_record(self.ctx, "reset", {"type": "run", "run_key": f"{scenario}/{run}", "kept": keep,
                                          "board": self.board.name})
        self.ctx.progress.advance()

    def _until_reset(self, session, command: str, delay: float) -> str:
        """Start `command`, read the console for `delay` seconds, reset: what the console said till then."""
        console = session.console
        console.drain()
        session.target.start(command)
        said = b""
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            said += console.read_raw(1 << 20, min(0.1, left))
            console.check_crash()
        try:
            session.reset()      # the machine stops (QEMU runs with -no-reboot): the disk is the crash state
        except BoardError:
            pass                 # it had stopped already
        return without_kernel_lines(said).decode(errors="replace")

    def _record(self, state: str, scenario: str, run: int, seed: int, delay: float, said: str, promises: Promises,
                files: dict, fsck: FsckResult, verified, reboot_s: float, log) -> dict:
        violations = broken_promises(promises, files)
        recovered = re.search(self.profile.recovery_regex, verified.text)
        failure = self.board.spec.target.failure_regex
        refused = re.search(failure, said) if failure else None   # a workload that never ran promises nothing
        if refused:
            problem = f"the workload said {said[refused.start():].splitlines()[0][:200]!r}"
        else:
            problem = "" if verified.ok else f"{self.profile.verify!r}: {verified.text.strip()[-300:]}"
        outcome = ("violation" if violations else "fsck" if not fsck.clean else "sanity" if problem else "ok")
        record = {
            "type": "state", "state_key": state, "scenario": scenario, "run": run, "mode": "reset",
            "seed": self.config.seed, "run_seed": seed,
            "crash_point": {"state": "reset", "delay_s": round(delay, 3), "log_entries": None, "dropped": [],
                            "persistence_calls_completed": len(promises), "last_completed_op": None,
                            "workload_ended": said.rstrip().endswith(self.board.spec.target.prompt.strip())},
            "outcome": outcome, "recovery_ms": float(recovered["ms"]) if recovered else None,
            "reboot_s": round(reboot_s, 3), "sanity": not problem, "guest_problem": problem,
            "e2fsck": {"code": fsck.code, "meaning": fsck.meaning, "output": fsck.output if not fsck.clean else ""},
            "violations": violations, "facts_checked": len(promises),
            "reproduce": f"invoke campaign --kind ext4-crash --mode reset --board {self.board.name} "
                         f"--scenario {scenario} --runs {run + 1} --seed {self.config.seed}",
            "checked_at": round(time.time(), 3), "console": {"log": str(log), "from": 0, "to": 0},
            **self.ctx.origin,
        }
        append_record(self.ctx, "reset", record)
        self.checked += 1
        self.ctx.progress(f"\r{state:40.40s} {outcome:12s} {len(promises)} promises, reset {delay:.2f} s in")
        if outcome != "ok":
            self.ctx.progress(f"FAIL {state} {outcome}: {failure_cause(record)}")
        return record

