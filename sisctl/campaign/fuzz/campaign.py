"""The fuzz loop: make an input, run it from the ready snapshot, judge it, keep what is new.

Oracles (oracles.py): a kernel report, a guest that stops answering, a wrong errno for a VFS path
case, `e2fsck -fn` failing on a clean seed after a clean unmount. Records: one per batch of execs,
one per finding occurrence, one per minimised finding. When the fuzzing time is spent, each board
minimises the findings it saw first (reproducer.py), unless --minimize off.

Feedback: on a kernel with KCOV (--coverage on, the default) the campaign first replays the seeds
alone (the coverage baseline), then an input joins the corpus when it reaches a kernel PC no input
reached before. On a kernel without KCOV, or with --coverage off, an input joins the corpus when
its outcome signature (seed, mount result, the errnos it got, whether ext4 reported corruption)
is new; the summary says which feedback ran.
"""
from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sisctl.campaign.core.kind import Context
from sisctl.campaign.core.phases import Phases
from sisctl.campaign.core.profiling import PhaseProfiler
from sisctl.campaign.core.records import read_records
from sisctl.campaign.fuzz import coverage as kcov
from sisctl.campaign.fuzz.options import FuzzConfig
from sisctl.campaign.fuzz.crashes import CrashStore, Finding
from sisctl.campaign.fuzz.oracles import judge
from sisctl.campaign.fuzz.reproducer import NotReproduced, Reproducer
from sisctl.campaign.fuzz.executor import ExecResult, Executor
from sisctl.campaign.fuzz.inputs import REPAIR_SHARE, FuzzInput, evolve, generate, seed_inputs
from sisctl.campaign.fuzz.seeds import Seed, load_seeds
from sisctl.telemetry.points import make_point

CORPUS_CAP = 500
EVOLVE_SHARE = 0.3
_STORE_LOCK = threading.Lock()       # shards of one campaign share its crash folder


@dataclass
class Shared:
    """What the shards of one campaign (threads of one process) share."""
    reached: kcov.CoverageSet = field(default_factory=kcov.CoverageSet)   # this campaign's PCs, the seeds' too
    known: kcov.CoverageSet = field(default_factory=kcov.CoverageSet)     # and what the corpus reached before
    seed_pcs: set[int] = field(default_factory=set)
    titles: set[str] = field(default_factory=set)                          # of the findings so far
    corpus_read: bool = False                                              # its coverage files are in `known`


_SHARED: dict[Path, Shared] = {}   # campaign folder -> what its shards share


def signature(fuzz_input: FuzzInput, result: ExecResult) -> str:
    """What an exec did, coarsely: seed, mount result, which errnos came back, whether ext4 complained."""
    errnos = sorted({err for err in result.errnos if err})
    blob = json.dumps([fuzz_input.target, fuzz_input.seed, result.mount, errnos, result.fs_errors > 0])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def input_key(fuzz_input: FuzzInput) -> str:
    """A corpus name for an input kept for its coverage: the hash of the input itself."""
    return hashlib.sha256(fuzz_input.to_json().encode()).hexdigest()[:16]


def next_input(seed: int, index: int, targets: list[str], seeds: dict[str, Seed],
               corpus: "Corpus | None", repair_share: float = REPAIR_SHARE) -> FuzzInput | None:
    """Input number `index` of a campaign: fresh, or (EVOLVE_SHARE of the time) a child of a corpus
    input. Fresh ones depend on the seed and index only; without a corpus, the others are None."""
    rng = random.Random(f"{seed}/{index}")
    target = targets[index % len(targets)]
    if rng.random() < EVOLVE_SHARE:
        if corpus is None:
            return None
        parent = corpus.pick(rng, target)
        if parent:
            return evolve(rng, parent, seeds)
    return generate(rng, target, seeds, repair_share)


class Corpus:
    """Inputs with new coverage (or new outcome signatures), one JSON file each, per target; persists
    across campaigns. An input kept for its coverage has its PCs beside it, per kernel build:
    TARGET/cov-BUILDID/NAME.cov (PCs of one kernel mean nothing on another)."""

    def __init__(self, root: Path, targets: list[str], kernel: str = ""):
        self.root, self.kernel = root, kernel
        self.entries: dict[str, list[Path]] = {}
        self.signatures: set[str] = set()
        for target in targets:
            folder = root / target
            folder.mkdir(parents=True, exist_ok=True)
            self.entries[target] = sorted(folder.glob("*.json"))
            self.signatures |= {p.stem for p in self.entries[target]}

    def pick(self, rng: random.Random, target: str) -> FuzzInput | None:
        files = self.entries.get(target) or []
        return FuzzInput.load(rng.choice(files)) if files else None

    def offer(self, fuzz_input: FuzzInput, sig: str, pcs: list[int] | None = None) -> bool:
        if sig in self.signatures or len(self.entries[fuzz_input.target]) >= CORPUS_CAP:
            return False
        path = self.root / fuzz_input.target / f"{sig}.json"
        path.write_text(fuzz_input.to_json() + "\n")
        if pcs is not None and self.kernel:
            cov = self.coverage_file(path)
            cov.parent.mkdir(exist_ok=True)
            kcov.save(cov, pcs)
        self.entries[fuzz_input.target].append(path)
        self.signatures.add(sig)
        return True

    def coverage_file(self, entry: Path) -> Path:
        return entry.parent / f"cov-{self.kernel[:16]}" / f"{entry.stem}.cov"

    def known_pcs(self) -> set[int]:
        """The PCs of every entry recorded on this kernel."""
        pcs: set[int] = set()
        for entries in self.entries.values():
            for entry in entries:
                pcs |= kcov.load(self.coverage_file(entry)) if self.kernel else set()
        return pcs

    def size(self) -> int:
        return sum(len(v) for v in self.entries.values())


class FuzzCampaign:
    def __init__(self, ctx: Context, config: FuzzConfig):
        self.ctx, self.config = ctx, config
        self.seeds = load_seeds()
        self.store = CrashStore(ctx.out / "crashes", self.seeds)
        self.shard, self.shards = ctx.shard
        flashed = ctx.board.flashed()      # asked once: the record may change under a long campaign
        self.kernel, self.vmlinux = flashed.build_id or "", flashed.load_artifact().vmlinux
        self.corpus = Corpus(config.corpus_dir(), config.targets, self.kernel)
        self.feedback = "off" if config.coverage == "off" else "pending"   # then "kcov" or "none"
        with _STORE_LOCK:
            self.shared = _SHARED.setdefault(ctx.out, Shared())
        self.reached, self.known, self.seed_pcs, self.titles = (
            self.shared.reached, self.shared.known, self.shared.seed_pcs, self.shared.titles)
        self.reached.add(kcov.load(ctx.scratch / "coverage.bin"))
        self.truncated = 0
        self.work = ctx.scratch / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        done = [r for r in read_records(ctx.out / "records.jsonl") if r.get("type") == "batch"
                and (self.shards == 1 or r.get("board") == ctx.board.name)]
        self.execs = sum(r["execs"] for r in done)          # resume: go on where the records end
        self.elapsed = sum(r["seconds"] for r in done)
        self.unique = self.store.known()
        with _STORE_LOCK:    # for --stop-on after a resume
            self.titles.update(json.loads((self.store.folder(u) / "crash.json").read_text())["title"]
                               for u in self.unique)
        self.restore_s: list[float] = []
        self.phases = Phases()   # the executor's, once it runs

    def run(self) -> None:
        with Executor(self.ctx.board, self.work, slots=self.config.slots,
                      coverage=self.feedback == "pending") as executor:
            self.phases = executor.phases
            if self.config.profile == "on":
                executor.phases.profiler = PhaseProfiler(self.ctx.out, self.ctx.board.name, ("guest run",))
            if executor.coverage:
                self._seed_baseline(executor)
            while self.elapsed < self.config.duration_s and not self.stopped():
                self.ctx.check_stop()
                self._batch(executor)
        self.ctx.figures["sessions"] = executor.sessions
        self.ctx.figures["phases"] = executor.phases.as_dict()
        self.ctx.figures["coverage"] = self.coverage_figures()
        if self.config.minimize == "on":
            self._minimize_findings()

    def _minimize_findings(self) -> None:
        """Each finding this board saw first, once (a resume goes on with the rest): delta-debugged to
        a smallest input with the same title and confirmed on a cold boot. One whose input does not
        give its title again is recorded as such."""
        records = list(read_records(self.ctx.out / "records.jsonl"))
        done = {r["title_id"] for r in records if r.get("type") == "minimized"}
        for crash in records:
            if crash.get("type") != "crash" or not crash.get("new") or crash["title_id"] in done \
                    or (self.shards > 1 and crash.get("board") != self.ctx.board.name):
                continue
            self.ctx.check_stop()
            self.ctx.progress(f"\nminimising {crash['title']}")
            record = {"type": "minimized", "title": crash["title"], "title_id": crash["title_id"]}
            try:
                result = Reproducer(self.ctx.board, self.seeds, self.store.folder(crash["title_id"]),
                                    self.ctx.progress).minimize()
                record.update({k: result[k] for k in ("mutations", "ops", "runs", "confirmed_cold_boot",
                                                      "c_program_confirmed")})
            except NotReproduced as err:
                record["error"] = str(err)
            self.ctx.records.append({**record, **self.ctx.origin})

    def stopped(self) -> bool:
        """--stop-on TEXT: a finding with TEXT in its title has been recorded (in this run or before a
        resume; by any shard of the campaign)."""
        if not self.config.stop_on:
            return False
        with _STORE_LOCK:       # another shard may be adding a title
            return any(self.config.stop_on in title for title in self.titles)

    def next_input(self, index: int) -> FuzzInput:
        return next_input(self.config.seed, self.global_index(index), self.config.targets, self.seeds,
                          self.corpus, self.config.checksum_repair)

    def global_index(self, index: int) -> int:
        """The campaign-wide number of this board's exec `index`: shards take turns, so each has its own
        stream of inputs and one board gives the same inputs as before sharding."""
        return index * self.shards + self.shard

    def _seed_baseline(self, executor: Executor) -> None:
        """Replay the seeds alone once per campaign (kept for a resume): the coverage to grow from.
        A kernel without KCOV says so on the first input; the campaign then runs without coverage."""
        saved = self.ctx.scratch / "coverage-seeds.bin"
        if saved.exists():
            self.seed_pcs.update(kcov.load(saved))
            self.feedback = "kcov"
        else:
            for _, _, result in executor.run_inputs(seed_inputs(self.config.targets, self.seeds), self.seeds,
                                                    self.work):
                if result.kcov is not None and result.kcov < 0:
                    self.feedback, executor.coverage = "none", False
                    self.ctx.progress(f"coverage: none, this kernel has no KCOV (errno {-result.kcov})")
                    return
                if result.pcs is not None and not result.crashed:
                    self.seed_pcs.update(result.pcs)
            if not self.seed_pcs:
                self.feedback, executor.coverage = "none", False
                self.ctx.progress("coverage: none, the agent returned no PCs for the seeds")
                return
            kcov.save(saved, self.seed_pcs)
            self.feedback = "kcov"
        self.reached.add(self.seed_pcs)
        with _STORE_LOCK:    # the corpus's coverage files are read once per campaign, not per shard
            if not self.shared.corpus_read:
                self.known.add(self.corpus.known_pcs())
                self.shared.corpus_read = True
        self.known.add(self.reached.pcs)
        self.ctx.progress(f"coverage: the seeds alone reach {len(self.seed_pcs)} kernel PCs")

    def coverage_figures(self) -> dict:
        """Coverage of the seeds alone and of the campaign, per subsystem when vmlinux has symbols."""
        figures = {"feedback": self.feedback, "truncated_execs": self.truncated}
        if self.feedback != "kcov":
            return figures
        figures["seeds"] = {"total": {"pcs": len(self.seed_pcs)}}
        figures["campaign"] = {"total": {"pcs": len(self.reached)}}
        if self.vmlinux:
            from sisctl.campaign.fuzz.symbols import SymbolMap
            symbols = SymbolMap(self.vmlinux)
            figures["seeds"], figures["campaign"] = symbols.by_subsystem(self.seed_pcs), \
                symbols.by_subsystem(self.reached.pcs)
        return figures

    def _batch(self, executor: Executor) -> None:
        stats = {"execs": 0, "mounted": 0, "fs_errors": 0, "findings": 0, "corpus_added": 0, "crash_execs": 0,
                 "new_pcs": 0}
        started, first = time.monotonic(), self.execs
        while self.execs - first < self.config.batch:
            if self.elapsed + time.monotonic() - started >= self.config.duration_s or self.stopped():
                break
            self._slots(executor, stats, min(self.config.slots, self.config.batch - (self.execs - first)))
        seconds = time.monotonic() - started
        self.elapsed += seconds
        record = {"type": "batch", "first_exec": first, "seconds": round(seconds, 3),
                  "restore_ms": round(1000 * sum(self.restore_s) / max(1, len(self.restore_s)), 1),
                  "corpus": self.corpus.size(), "feedback": self.feedback,
                  "coverage": len(self.reached) if self.feedback == "kcov" else None,
                  "ended_at": time.time(), **stats, **self.ctx.origin}
        self.restore_s.clear()
        if self.feedback == "kcov":
            kcov.save(self.ctx.scratch / "coverage.bin", set(self.reached.pcs))
        self.ctx.records.append(record)
        self.ctx.write_points([make_point(
            "fuzz_batch", {"board": self.ctx.board.name, "campaign": self.ctx.out.name, "target": self.config.target},
            {"execs": stats["execs"], "execs_per_s": stats["execs"] / seconds if seconds else 0.0,
             "mounted": stats["mounted"], "findings": stats["findings"], "unique_crashes": len(self.unique),
             "coverage": len(self.reached), "corpus": self.corpus.size()},
            time.time_ns())])

    def _slots(self, executor: Executor, stats: dict, count: int) -> None:
        """`count` inputs after one snapshot restore."""
        made = [self.next_input(self.execs + slot) for slot in range(count)]
        for fuzz_input, image, result in executor.run_inputs(made, self.seeds, self.work):
            self._judge(fuzz_input, image, result, stats)

    def _judge(self, fuzz_input: FuzzInput, image: Path, result: ExecResult, stats: dict) -> None:
        index = self.execs
        if not result.crashed and not result.booted:
            self.restore_s.append(result.restore_s)
        self.execs += 1
        stats["execs"] += 1
        stats["mounted"] += int(result.mount == 0)
        stats["fs_errors"] += result.fs_errors
        stats["crash_execs"] += int(result.crashed)
        with self.phases("oracles and findings"):
            findings = judge(fuzz_input, result, self.seeds, self.work)
        for finding in findings:
            stats["findings"] += 1
            self._record_finding(finding, fuzz_input, image, result, index)
        if not result.crashed:
            stats["corpus_added"] += int(self._keep(fuzz_input, result, stats))
        rate = self.execs / max(1e-9, self.elapsed + result.seconds)
        self.ctx.progress(f"\r{self.execs} execs  {rate:.2f}/s  unique crashes {len(self.unique)}  "
                          f"corpus {self.corpus.size()}  {self.coverage_line()}")

    def _keep(self, fuzz_input: FuzzInput, result: ExecResult, stats: dict) -> bool:
        """Offer the input to the corpus: kept for new PCs (KCOV) or a new outcome signature."""
        if self.feedback != "kcov":
            return self.corpus.offer(fuzz_input, signature(fuzz_input, result))
        if result.pcs is None:
            return False
        self.truncated += int(result.kcov_truncated)
        stats["new_pcs"] += self.reached.add(result.pcs)
        return self.known.add(result.pcs) > 0 and self.corpus.offer(fuzz_input, input_key(fuzz_input), result.pcs)

    def coverage_line(self) -> str:
        if self.feedback == "kcov":
            return f"coverage {len(self.reached)} PCs (seeds {len(self.seed_pcs)})"
        return "coverage: off" if self.feedback == "off" else "coverage: none (no KCOV)"

    def _record_finding(self, finding: Finding, fuzz_input: FuzzInput, image: Path, result: ExecResult,
                        index: int) -> None:
        index = self.global_index(index)
        with _STORE_LOCK:
            new = self.store.add(finding, fuzz_input, image, result.log, index)
            self.titles.add(finding.title)
        self.unique.add(finding.title_id)
        record = {"type": "crash", "title": finding.title, "title_id": finding.title_id, "kind": finding.kind,
                  "usable_stack": finding.usable_stack, "new": new, "exec": index, "target": fuzz_input.target,
                  "input": str(self.store.folder(finding.title_id) / "input.json") if new else "",
                  "reproduce": f"invoke fuzz.repro --campaign {self.ctx.out.name} --crash {finding.title_id}",
                  **self.ctx.origin}
        self.ctx.records.append(record)
        self.ctx.write_points([make_point("fuzz_crash", {"board": self.ctx.board.name, "campaign": self.ctx.out.name,
                                                         "title_id": finding.title_id, "kind": finding.kind},
                                          {"count": 1, "new": int(new)}, time.time_ns())])
        if new:
            self.ctx.progress(f"new finding: {finding.title} (exec {index})")

