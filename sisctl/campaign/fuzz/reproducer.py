"""Reproduce a finding and shrink its input.

- reliability: run the input from the ready snapshot N times; count the runs that give the same title.
- minimisation: delta debugging (ddmin) over the mutation list, then over the op list; a candidate is
  kept when one run of it still gives the same title. The result goes to crashes/<id>/minimized/
  with its image, debugfs script and C program, and is confirmed on a cold boot.
- the C program: repro.c compiled static for aarch64 and run in the guest after a cold boot, against
  the image it belongs to. Both reach the guest the way fuzz inputs do, as raw virtio disks: the
  image on one, the executable on another (copied out with head -c); no agent support is needed.
  Its console is triaged like a fuzz exec's, and the runs with the same title are counted.
"""
from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from typing import Callable

from sisctl.board.board import Board
from sisctl.board.errors import AgentError, BoardError, KernelCrash
from sisctl.board.qemu import FIND_DISK, Disk
from sisctl.campaign.fuzz.oracles import judge
from sisctl.campaign.fuzz.executor import BOOT_APPEND, DISK_BYTES, Executor, read_from
from sisctl.campaign.fuzz.inputs import FuzzInput
from sisctl.campaign.fuzz.reproducer_files import compile_c_program, write_reproducer
from sisctl.campaign.fuzz.seeds import Seed
from sisctl.campaign.fuzz.triage import triage
from sisctl.errors import UsageError
from sisctl.jsonfile import read_json

IMAGE_DISK, PROGRAM_DISK = "reproimg", "reprobin"   # virtio disk serials in the guest
C_TIMEOUT_S = 30.0
NOT_SHOWN_BY_PROGRAM = ("wrong errno", "fsck")   # the C program shows kernel reports and hangs only


class NotReproduced(UsageError):
    """The finding's input did not give its title again: there is nothing to minimise."""


class Reproducer:
    def __init__(self, board: Board, seeds: dict[str, Seed], crash_dir: Path,
                 progress: Callable[[str], None] = lambda _: None):
        if not (crash_dir / "crash.json").exists():
            raise UsageError(f"{crash_dir}: no crash there (crash.json missing)")
        self.board, self.seeds, self.crash_dir, self.progress = board, seeds, crash_dir, progress
        self.meta = read_json(crash_dir / "crash.json")
        self.title = self.meta["title"]
        self.input = FuzzInput.load(crash_dir / "input.json")
        self.work = crash_dir / "work"
        self.runs = 0

    def titles(self, executor: Executor, fuzz_input: FuzzInput) -> list[str]:
        self.work.mkdir(exist_ok=True)
        image = self.work / "input.img"
        fuzz_input.build_image(self.seeds, image)
        result = executor.run(image, fuzz_input.ops)
        self.runs += 1
        return [f.title for f in judge(fuzz_input, result, self.seeds, self.work)]

    def hits(self, executor: Executor, fuzz_input: FuzzInput) -> bool:
        return self.title in self.titles(executor, fuzz_input)

    def reliability(self, runs: int = 10, fuzz_input: FuzzInput | None = None, c_runs: int = 1) -> dict:
        """Run the input `runs` times from the snapshot, then its C program `c_runs` times after a cold
        boot each; how often the same title comes back, and what else came."""
        fuzz_input = fuzz_input or self.input
        seen: dict[str, int] = {}
        with Executor(self.board, self.work) as executor:
            for n in range(runs):
                for title in self.titles(executor, fuzz_input) or ["(nothing)"]:
                    seen[title] = seen.get(title, 0) + 1
                self.progress(f"run {n + 1}/{runs}: {seen.get(self.title, 0)} with the title so far")
        result = {"title": self.title, "runs": runs, "hits": seen.get(self.title, 0),
                  "reliability": round(seen.get(self.title, 0) / runs, 2), "titles": seen,
                  **self.c_program(self.crash_dir, c_runs)}
        (self.crash_dir / "repro.json").write_text(json.dumps(result, indent=1) + "\n")
        return result

    def c_program(self, folder: Path, runs: int) -> dict:
        """folder/repro.c run `runs` times on folder/image.img, each after a cold boot: the
        `c_program` record of repro.json, and whether it confirmed the title."""
        if runs <= 0:
            return {"c_program": None, "c_program_confirmed": None}
        kind = self.meta.get("kind", "")
        if kind in NOT_SHOWN_BY_PROGRAM:
            return {"c_program": {"skipped": f"a {kind!r} finding is not a kernel report or a hang"},
                    "c_program_confirmed": None}
        record = run_c_program(self.board, folder, self.title, kind, runs, self.work, self.progress)
        return {"c_program": record, "c_program_confirmed": record["same_title"] > 0}

    def minimize(self, confirm_cold: bool = True, c_runs: int = 1) -> dict:
        """Shrink mutations, then ops; write the result to minimized/ and confirm it on a cold boot."""
        original = self.input
        with Executor(self.board, self.work) as executor:
            if not self.hits(executor, original):
                raise NotReproduced(f"{self.crash_dir.name}: the input did not give '{self.title}' again; "
                                 "nothing to minimise (see fuzz.repro for its reliability)")
            mutations = ddmin(original.mutations,
                              lambda m: self.hits(executor, original.with_parts(m, original.ops)))
            ops = ddmin(original.ops, lambda o: self.hits(executor, original.with_parts(mutations, o)))
        smallest = original.with_parts(mutations, ops)
        out = self.crash_dir / "minimized"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        (out / "input.json").write_text(smallest.to_json() + "\n")
        smallest.build_image(self.seeds, out / "image.img")
        checked = write_reproducer(out, smallest, self.seeds[smallest.seed])
        cold, program = None, {"c_program": None, "c_program_confirmed": None}
        if confirm_cold:
            with Executor(self.board, self.work, cold=True) as executor:
                cold = self.title in self.titles(executor, smallest)
            program = self.c_program(out, c_runs)
            (out / "repro.json").write_text(json.dumps({"title": self.title, "runs": 1, "hits": int(cold),
                                                        "boot": "cold", **program}, indent=1) + "\n")
        result = {"title": self.title, "mutations": [len(original.mutations), len(mutations)],
                  "ops": [len(original.ops), len(ops)], "runs": self.runs, "confirmed_cold_boot": cold,
                  "c_program_confirmed": program["c_program_confirmed"], **checked, "input": smallest.to_json()}
        (out / "minimized.json").write_text(json.dumps(result, indent=1) + "\n")
        return result


def run_c_program(board: Board, folder: Path, title: str, kind: str, runs: int, work: Path,
                  progress: Callable[[str], None] = lambda _: None) -> dict:
    """Compile folder/repro.c and run it on folder/image.img after a cold boot, `runs` times."""
    work.mkdir(parents=True, exist_ok=True)
    program = compile_c_program(folder / "repro.c", work / "repro")
    size = program.stat().st_size
    carrier, image = work / "repro-program.img", work / "repro-image.img"
    _disk_file(carrier, program.read_bytes())
    command = (f"{FIND_DISK}d=$(disk {PROGRAM_DISK}) && head -c {size} \"$d\" > /tmp/repro && "
               f"chmod +x /tmp/repro && /tmp/repro {shlex.quote(IMAGE_DISK)}")
    outcomes: dict[str, int] = {}
    for n in range(runs):
        _disk_file(image, (folder / "image.img").read_bytes(), DISK_BYTES)
        got = _one_c_run(board, image, carrier, command, kind)
        outcomes[got] = outcomes.get(got, 0) + 1
        progress(f"C program run {n + 1}/{runs} (cold boot): {got}")
    return {"runs": runs, "same_title": outcomes.get(title, 0) + (outcomes.get("hang", 0) if kind == "hang" else 0),
            "titles": outcomes, "boot": "cold", "program_bytes": size}


def _one_c_run(board: Board, image: Path, carrier: Path, command: str, kind: str) -> str:
    """What one run gave: a kernel report's title, "hang", or "(nothing)" (with its exit status)."""
    disks = [Disk(IMAGE_DISK, image), Disk(PROGRAM_DISK, carrier)]
    hang = ""
    with board.session(fast=False, append=BOOT_APPEND, disks=disks, label="fuzz-c-repro") as session:
        log = session.run_dir / "console.log"
        offset = log.stat().st_size if log.exists() else 0
        status = ""
        try:
            done = session.run(command, timeout_s=C_TIMEOUT_S)
            status = f"exit {done.code}" if done.reason != "timeout" else ""
            hang = "" if status else "timeout"
        except KernelCrash:
            pass
        except AgentError:
            hang = "the agent stopped answering"
        except BoardError:
            hang = "lost the guest"
        text = read_from(log, offset)
    found = triage(text)
    if found and found.is_bug:
        return found.title
    return "hang" if hang else f"(nothing: {status})"


def _disk_file(path: Path, data: bytes, size: int = 0) -> None:
    """A raw disk holding `data`, padded with zeros to `size` and to whole sectors."""
    path.write_bytes(data + bytes(max(size, -(-len(data) // 512) * 512) - len(data)))


def ddmin(items: list, still_fails: Callable[[list], bool]) -> list:
    """A smallest-found sublist of `items` for which `still_fails` holds (Zeller's ddmin, complements only)."""
    items, parts = list(items), 2
    while items:
        if len(items) == 1:
            return [] if still_fails([]) else items
        size = -(-len(items) // parts)
        for start in range(0, len(items), size):
            rest = items[:start] + items[start + size:]
            if still_fails(rest):
                items, parts = rest, max(parts - 1, 2)
                break
        else:
            if parts >= len(items):
                return items
            parts = min(len(items), parts * 2)
    return items
