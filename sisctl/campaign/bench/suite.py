"""Benchmark suites: YAML files naming workloads, so a lab adds one without Python.

A workload is either an agent workload (`agent: [NAME, ARGS...]`, run as `sisagent bench ...`)
or a shell command whose output is parsed (`command:` with `metrics:`, each a regular
expression with one group capturing a number). `{dir}` in agent arguments, and $BENCH_DIR in
commands, is the mount point of a fresh ext4 on a virtio disk; a command without $BENCH_DIR
needs no disk and is typed as it is, so a kernel's own prompt (target kind prompt) runs it too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sisctl import config
from sisctl.config import ConfigError
from sisctl.errors import UsageError

SUITES_DIR = Path(__file__).parent / "suites"
FAMILIES = ("work", "time")
# agent workload -> whether it needs the ext4 directory ({dir}); the same list as firmware/agent/bench.c
AGENT_WORKLOADS = {"pipe_pingpong": False, "pipe_pingpong_cross": False, "null_syscall": False,
                   "fork_exit": False, "exec": False, "mmap_touch": False, "create_unlink": True,
                   "fsync_4k": True, "seq_write": True, "seq_read": True, "jbd2": True}
DISK_WORKLOADS = {name for name, in_a_dir in AGENT_WORKLOADS.items() if in_a_dir}   # they work on the ext4 disk
# Workloads that wait for the disk. Under -icount sleep=off an idle vCPU jumps its clock to the next
# timer deadline, so a device wait reads as anything from microseconds to seconds of guest time
# (seen: fsync p99 of 22 s): they are measured in the time family only.
DEVICE_WAIT_WORKLOADS = {"fsync_4k", "seq_write", "seq_read", "jbd2"}
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
ARG = re.compile(r"[A-Za-z0-9_.{}/-]+")


@dataclass
class ShellMetric:
    name: str
    pattern: str              # a regular expression with one group capturing a number
    better: str = "lower"     # lower or higher
    unit: str = ""


@dataclass
class Workload:
    name: str
    agent: list[Any] | None = None      # [agent workload, args...]
    command: str | None = None          # a shell command run in the guest
    metrics: list[ShellMetric] = field(default_factory=list)
    min_effect: dict[str, float] = field(default_factory=dict)   # per family, overrides the suite's
    timeout_s: float = 120.0
    families: list[str] | None = None   # default: the suite's (without work for workloads that wait on a disk)

    @property
    def needs_disk(self) -> bool:
        if self.command is not None:
            return "BENCH_DIR" in self.command
        return self.agent[0] in DISK_WORKLOADS

    def runs_in(self, family: str, suite_families: list[str]) -> bool:
        if self.families is not None:
            return family in self.families
        waits = self.agent is not None and self.agent[0] in DEVICE_WAIT_WORKLOADS
        return family in suite_families and not (waits and family == "work")


@dataclass
class Suite:
    workloads: list[Workload]
    families: list[str] = field(default_factory=lambda: list(FAMILIES))
    reps: int = 3
    min_blocks: int = 3
    max_blocks: int = 12
    min_effect: dict[str, float] = field(default_factory=lambda: {"work": 0.02, "time": 0.05})
    icount_shift: int = 0
    disk_mib: int = 64
    name: str = ""

    @property
    def needs_disk(self) -> bool:
        return any(w.needs_disk for w in self.workloads)

    def min_effect_for(self, workload: str, family: str) -> float:
        own = next(w for w in self.workloads if w.name == workload).min_effect
        return own.get(family, self.min_effect.get(family, 0.05))

    def only(self, names: set[str]) -> "Suite":
        """The same suite with only the named workloads (bisecting one metric)."""
        kept = [w for w in self.workloads if w.name in names]
        return Suite(kept, self.families, self.reps, self.min_blocks, self.max_blocks, dict(self.min_effect),
                     self.icount_shift, self.disk_mib, self.name)


def suite_path(name_or_path: str) -> Path:
    return config.named_file(name_or_path, SUITES_DIR, "suite")


def load_suite(name_or_path: str) -> Suite:
    path = suite_path(name_or_path)
    suite = config.load(Suite, path)
    suite.name = path.stem
    check_suite(suite, path)
    return suite


def check_suite(suite: Suite, path: Path | str) -> None:
    """What the types alone do not say; each problem names the file and the key."""
    def bad(key: str, problem: str) -> None:
        raise ConfigError(path, key, problem)

    if not suite.workloads:
        bad("workloads", "a suite needs at least one workload")
    for key, value, lo in (("reps", suite.reps, 1), ("min_blocks", suite.min_blocks, 2),
                           ("max_blocks", suite.max_blocks, suite.min_blocks), ("disk_mib", suite.disk_mib, 16),
                           ("icount_shift", suite.icount_shift, 0)):
        if value < lo:
            bad(key, f"expected a whole number >= {lo}, got {value}")
    if suite.icount_shift > 10:
        bad("icount_shift", f"expected 0..10, got {suite.icount_shift}")
    if not suite.families or any(f not in FAMILIES for f in suite.families) or len(set(suite.families)) < len(
            suite.families):
        bad("families", f"expected a list of distinct families from {', '.join(FAMILIES)}, got {suite.families}")
    _check_effects(suite.min_effect, "min_effect", bad)
    seen: set[str] = set()
    for i, w in enumerate(suite.workloads):
        key = f"workloads[{i}]"
        if not NAME.fullmatch(w.name):
            bad(f"{key}.name", f"expected a lower-case name (a-z, 0-9, _; up to 40), got {w.name!r}")
        if w.name in seen:
            bad(f"{key}.name", f"workload {w.name!r} is named twice")
        seen.add(w.name)
        _check_effects(w.min_effect, f"{key}.min_effect", bad)
        if w.timeout_s <= 0:
            bad(f"{key}.timeout_s", f"expected seconds > 0, got {w.timeout_s}")
        if (w.agent is None) == (w.command is None):
            bad(key, "give exactly one of 'agent' (an agent workload and its arguments) or 'command'")
        if w.agent is not None:
            _check_agent(w, key, bad)
        else:
            _check_command(w, key, bad)
        if w.families is not None and (not set(w.families) <= set(suite.families) or not w.families):
            bad(f"{key}.families", f"expected some of the suite's families ({', '.join(suite.families)}), "
                f"got {w.families}")
        if not any(w.runs_in(f, suite.families) for f in suite.families):
            bad(key, f"{w.name} waits on the disk, which only the time family measures (under -icount a "
                "device wait warps guest time); add time to the suite's families")


def _check_effects(effects: dict[str, float], key: str, bad) -> None:
    for family, value in effects.items():
        if family not in FAMILIES:
            bad(f"{key}.{family}", f"unknown family; expected {', '.join(FAMILIES)}")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < 1:
            bad(f"{key}.{family}", f"expected a fraction between 0 and 1 (0.05 = 5 %), got {value!r}")


def _check_agent(w: Workload, key: str, bad) -> None:
    if not w.agent or w.agent[0] not in AGENT_WORKLOADS:
        bad(f"{key}.agent", f"the first item names an agent workload: {', '.join(AGENT_WORKLOADS)}")
    for j, arg in enumerate(w.agent):
        if isinstance(arg, bool) or not isinstance(arg, (str, int)) or not ARG.fullmatch(str(arg)):
            bad(f"{key}.agent[{j}]", f"expected a word or a whole number, got {arg!r}")
    count = w.agent[1] if len(w.agent) > 1 else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:   # the agent refuses it after the boot
        bad(f"{key}.agent[1]", f"expected how many operations {w.agent[0]} runs, a whole number >= 1, "
            f"got {'nothing' if count is None else repr(count)}")
    if AGENT_WORKLOADS[w.agent[0]] and "{dir}" not in map(str, w.agent):
        bad(f"{key}.agent", f"{w.agent[0]} works in a directory: give \"{{dir}}\" (the ext4 mount) as an argument")
    if w.metrics:
        bad(f"{key}.metrics", "agent workloads report their own metrics; 'metrics' is for commands")


def _check_command(w: Workload, key: str, bad) -> None:
    if not w.command.strip():
        bad(f"{key}.command", "empty command")
    if not w.metrics:
        bad(f"{key}.metrics", "a command needs at least one metric (name, pattern with one group)")
    names: set[str] = set()
    for j, m in enumerate(w.metrics):
        mkey = f"{key}.metrics[{j}]"
        if not NAME.fullmatch(m.name) or m.name in names:
            bad(f"{mkey}.name", f"expected a distinct lower-case name, got {m.name!r}")
        names.add(m.name)
        if m.better not in ("lower", "higher"):
            bad(f"{mkey}.better", f"expected lower or higher, got {m.better!r}")
        try:
            groups = re.compile(m.pattern).groups
        except re.error as err:
            bad(f"{mkey}.pattern", f"not a valid regular expression ({err})")
        if groups != 1:
            bad(f"{mkey}.pattern", f"expected exactly one group capturing the number, found {groups}")


def parse_metric(text: str) -> tuple[str | None, str, str]:
    """(family or None, workload, metric) of [FAMILY:]WORKLOAD.METRIC."""
    family, _, name = str(text).rpartition(":")
    workload, _, metric = name.partition(".")
    if family and family not in FAMILIES:
        raise UsageError(f"--metric {text!r}: unknown family {family!r}; expected {', '.join(FAMILIES)}")
    if not workload or not metric:
        raise UsageError(f"--metric {text!r}: expected [FAMILY:]WORKLOAD.METRIC, e.g. work:fork_exit.instructions_per_op")
    return family or None, workload, metric
