"""Run a benchmark campaign: blocks of interleaved boots of baseline (A) and candidate (B) on one board.

Each block boots A B B A or B A A B (the first block's order drawn from the seed, then
alternating), once per metric family: `work` under `-icount shift=N,sleep=off` (guest time and
instruction counts do not depend on the host's load), `time` without it (wall clock). In every
boot the suite runs once as a discarded warm-up, then `reps` measured times, on a fresh ext4.
After each block the comparisons are recomputed; the campaign stops when every gate metric is
decided (after min_blocks), when max_blocks is reached, or before a block would overrun the budget.

Every boot also gets a `sisctl.layout=` word of random length (0-63 characters, from the seed). The
kernel command line shifts the kernel's early allocations, and with them the instruction counts of
allocation-heavy workloads by a few percent (fork+exit moved 2-6 % with the line's length alone, the
same on every boot of one line): without it, the few extra characters of a candidate's boot option
would be a fixed bias read as that option's effect. Randomised per boot, the layout is noise both
sides share, and the interval accounts for it. (The module-style name keeps it away from init.)
"""
from __future__ import annotations

import random
import shlex
import time
import uuid
from pathlib import Path

from sisctl import proc
from sisctl.board.qemu import Disk, mount_script
from sisctl.build.artifact import Artifact
from sisctl.build.variant import Variant, parse_variant
from sisctl.campaign.bench.analysis import SIDES, comparisons
from sisctl.campaign.bench.metrics import OutputError, kernel_identity, skipped_reason, workload_metrics
from sisctl.campaign.bench.options import BenchConfig
from sisctl.campaign.bench.stats import all_decided
from sisctl.campaign.bench.suite import Suite, Workload
from sisctl.campaign.core.kind import Context
from sisctl.campaign.core.phases import Phases
from sisctl.campaign.core.records import read_records
from sisctl.errors import InfrastructureError
from sisctl.telemetry.points import bench_sample_points

DISK = "bench"
MOUNT = "/mnt/bench"
MOUNT_SCRIPT = mount_script(DISK, MOUNT)
MOUNT_TRIES = 3   # boots in a row whose benchmark disk may fail to mount before the campaign stops


class WorkloadFailed(InfrastructureError):
    kind = "infrastructure"


def block_order(seed: int, block: int) -> tuple[str, ...]:
    """ABBA or BAAB: drawn from the seed for block 0, alternating after it."""
    first = random.Random(f"bench/{seed}").choice((0, 1))
    a, b = SIDES
    return (a, b, b, a) if (first + block) % 2 == 0 else (b, a, a, b)


def layout_word(seed: int, block: int, family: str, slot: int) -> str:
    """The boot's random-length command-line word that randomises the kernel's early layout."""
    return "sisctl.layout=" + "x" * random.Random(f"layout/{seed}/{block}/{family}/{slot}").randrange(64)


def guest_command(workload: Workload) -> str:
    if workload.agent is not None:
        args = [str(a).replace("{dir}", MOUNT) for a in workload.agent]
        return "sisagent bench " + " ".join(shlex.quote(a) for a in args)
    if not workload.needs_disk:
        return workload.command
    return f"BENCH_DIR={MOUNT}; export BENCH_DIR; {workload.command}"


def make_disk(path: Path, mib: int) -> None:
    """A fresh, fully initialised ext4 image: every boot starts from the same file system."""
    path.unlink(missing_ok=True)
    with open(path, "wb") as f:
        f.truncate(mib << 20)
    proc.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", path], timeout=60)


class BenchCampaign:
    def __init__(self, ctx: Context, config: BenchConfig, suite: Suite, families: list[str], gate: set[str]):
        self.ctx, self.config, self.suite, self.families, self.gate = ctx, config, suite, families, gate
        self.variants: dict[str, Variant] = {"baseline": parse_variant(config.baseline, "--baseline"),
                                             "candidate": parse_variant(config.candidate, "--candidate")}
        self.records = list(read_records(ctx.out / "records.jsonl"))
        self.attempt = uuid.uuid4().hex[:8]
        self.stopped = ""
        self.phases = Phases()   # per benchmark boot (figures['phases'])

    def run(self) -> None:
        artifacts = {side: v.build(progress=self.ctx.progress) for side, v in self.variants.items()}
        sides = {side: {"variant": self.variants[side].text, "kernel_version": a.manifest.get("kernel_version"),
                        "build_id": a.build_id, "kernel_sha256": a.sha256,
                        **({"source": a.manifest["source"]} if a.manifest.get("source") else {})}
                 for side, a in artifacts.items()}
        self.ctx.figures["booted"] = {   # the two kernels compared, not the board's flashed one
            "kernel_version": " vs ".join(str(k["kernel_version"]) for k in sides.values()),
            "build_id": "/".join(str(k["build_id"])[:12] for k in sides.values()), "sides": sides}
        guests = {side: (a, self.ctx.board.guest_image(a)) for side, a in artifacts.items()}
        try:
            self._blocks(guests)
        finally:
            (self.ctx.out / "bench-disk.img").unlink(missing_ok=True)

    def _blocks(self, guests: dict) -> None:
        done = [r for r in self.records if r.get("type") == "block"]
        block, spent = len(done), sum(r["seconds"] for r in done)
        last_s = done[-1]["seconds"] if done else 0.0
        while True:
            if block >= self.suite.max_blocks:
                self.stopped = f"max_blocks ({self.suite.max_blocks}) reached"
                break
            if block and spent + last_s > self.config.budget_s:
                self.stopped = f"budget ({self.config.budget_s:g} s) would be overrun by another block"
                break
            started = time.monotonic()
            order = block_order(self.config.seed, block)
            for family in self.families:
                for slot, side in enumerate(order):
                    self._boot(block, family, slot, side, *guests[side])
            last_s = time.monotonic() - started
            spent += last_s
            letters = "".join("A" if side == "baseline" else "B" for side in order)
            self._append({"type": "block", "block": block, "attempt": self.attempt, "order": letters,
                          "families": self.families, "seconds": round(last_s, 2)})
            block += 1
            gate = [c for c in self.current() if c.gate and c.supported]
            decided = sum(c.verdict != "inconclusive" for c in gate)
            self.ctx.progress(f"block {block}: {decided}/{len(gate)} gate metrics decided "
                              f"({spent:.0f} s of {self.config.budget_s:g} s)")
            if block >= self.suite.min_blocks and all_decided(gate):
                self.stopped = "every gate metric decided"
                break

    def current(self):
        return comparisons(self.records, self.suite.min_effect_for, self.gate)

    def _append(self, record: dict) -> None:
        self.ctx.records.append(record)
        self.records.append(record)

    def _boot(self, block: int, family: str, slot: int, side: str, artifact: Artifact, initrd: Path) -> None:
        qemu_args = ["-icount", f"shift={self.suite.icount_shift},sleep=off"] if family == "work" else []
        self.ctx.progress(f"\rblock {block + 1} {family} boot {slot + 1}/4: {side} {self.variants[side].text}")
        for tries_left in reversed(range(MOUNT_TRIES)):
            disks = []
            if self.suite.needs_disk:   # a fresh file system every boot, a retried one too
                image = self.ctx.out / "bench-disk.img"
                with self.phases("benchmark disk made"):
                    make_disk(image, self.suite.disk_mib)
                disks = [Disk(DISK, image)]
            if self._boot_once(block, family, slot, side, artifact, initrd, qemu_args, disks, tries_left):
                return

    def _boot_once(self, block: int, family: str, slot: int, side: str, artifact: Artifact, initrd: Path,
                   qemu_args: list[str], disks: list[Disk], tries_left: int) -> bool:
        """One boot and its measurements; False when the benchmark disk did not mount and the boot
        is to be tried again (under -icount a guest-side wait for the device can time out early:
        an emulator hiccup, not the kernel's verdict, and nothing was measured yet)."""
        variant, board = self.variants[side], self.ctx.board
        append = f"{variant.append} {layout_word(self.config.seed, block, family, slot)}".strip()
        with self.phases.session(board.session(fast=False, append=append, label=f"bench-{block}-{family}-{slot}",
                                               disks=disks, artifact=artifact, initrd=initrd, qemu_args=qemu_args),
                                 start="cold boot") as session:
            boot = {"block": block, "attempt": self.attempt, "family": family, "slot": slot, "side": side,
                    "variant": variant.text, "build_id": artifact.build_id,
                    "kernel_version": artifact.manifest.get("kernel_version"), "kernel_sha256": artifact.sha256,
                    "cmdline": session.machine.launch.cmdline if session.machine else append,
                    "qemu_args": qemu_args, "boot_s": round(session.boot_s, 3), "run_dir": str(session.run_dir),
                    "board": board.name, "firmware": self.ctx.origin.get("firmware"),
                    "sisctl_version": self.ctx.origin.get("sisctl_version")}
            with self.phases("kernel identity", guest=True):
                boot["booted"] = self._booted_kernel(session, artifact, boot)
            if disks:
                with self.phases("benchmark disk mount", guest=True):
                    mounted = session.run(MOUNT_SCRIPT, 60)
                if not mounted.ok and tries_left:
                    self.ctx.progress(f"{board.name}: the benchmark disk did not mount "
                                      f"({mounted.text.strip()[-120:]}); booting again")
                    return False
                if not mounted.ok:
                    raise WorkloadFailed(f"mount the benchmark disk failed on {board.name} {MOUNT_TRIES} boots in "
                                         f"a row: {mounted.text.strip()[-200:]}")
            workloads = [w for w in self.suite.workloads if w.runs_in(family, self.suite.families)]
            for rep in range(self.suite.reps + 1):
                for workload in workloads:
                    with self.phases(f"workload {workload.name}", guest=True):
                        self._measure(session, boot, rep, workload)
            if disks:
                with self.phases("benchmark disk unmount", guest=True):
                    session.run(f"umount {MOUNT}", 60)
        return True

    def _booted_kernel(self, session, artifact: Artifact, boot: dict) -> dict:
        """What the board really booted, as its agent reports it: the kernel's build id (from
        /sys/kernel/notes), release, online CPUs and command line. A board that fell back to
        another kernel (a Pi whose tryboot failed boots its known-good OS) stops the campaign."""
        if not self.ctx.board.has_agent:   # a kernel's own prompt: nothing reads its identity from inside
            return {"identity": "not read (no sisctl agent on this target)"}
        found = kernel_identity(self._must(session, "sisagent bench kernel", "name the running kernel", 30).text)
        found["cmdline"] = self._must(session, "cat /proc/cmdline", "read the kernel command line", 30).text.strip()
        if artifact.build_id and found.get("build_id") not in (None, artifact.build_id):
            raise WorkloadFailed(f"{session.name} booted kernel build id {found['build_id']}, not the "
                                 f"{boot['side']} {boot['variant']} ({artifact.build_id}), block {boot['block']}")
        return found

    def _measure(self, session, boot: dict, rep: int, workload: Workload) -> None:
        result = self._must(session, guest_command(workload), workload.name, workload.timeout_s)
        skipped = skipped_reason(str(workload.agent[0]), result.text) if workload.agent else ""
        try:
            metrics = [] if skipped else workload_metrics(workload, result.text)
        except OutputError as err:
            raise WorkloadFailed(f"{err} ({boot['side']} {boot['variant']}, block {boot['block']})") from None
        record = {"type": "run", **boot, "rep": rep, "warmup": rep == 0, "workload": workload.name,
                  "command": result.command, "stdout": result.text, "duration_s": round(result.duration_s, 3),
                  "metrics": {m.name: {"value": m.value, "unit": m.unit, "better": m.better} for m in metrics}}
        if skipped:
            record["skipped"] = skipped
        self._append(record)
        if rep:
            self.ctx.write_points(bench_sample_points(record, self.ctx.out.name, time.time_ns()))

    def _must(self, session, command: str, what: str, timeout_s: float):
        result = session.run(command, timeout_s)
        if not result.ok:
            err = result.stderr.decode(errors="replace").strip().splitlines()
            raise WorkloadFailed(f"{what} failed on {session.name} ({result.reason} {result.code}): "
                                 f"{err[-1] if err else result.text.strip()[-200:]}")
        return result

