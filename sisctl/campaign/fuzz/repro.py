"""Reproduce a finding and shrink its input.

- reliability: run the input from the ready snapshot N times; count the runs that give the same title.
- minimisation: delta debugging (ddmin) over the mutation list, then over the op list; a candidate is
  kept when one run of it still gives the same title. The result goes to crashes/<id>/minimized/
  with its image, debugfs script and C program, and is confirmed on a cold boot.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

from sisctl.board.board import Board
from sisctl.campaign.fuzz.campaign import judge
from sisctl.campaign.fuzz.executor import Executor
from sisctl.campaign.fuzz.inputs import FuzzInput
from sisctl.campaign.fuzz.reproducer import write_reproducer
from sisctl.campaign.fuzz.seeds import Seed
from sisctl.errors import UsageError


class Reproducer:
    def __init__(self, board: Board, seeds: dict[str, Seed], crash_dir: Path,
                 progress: Callable[[str], None] = lambda _: None):
        if not (crash_dir / "crash.json").exists():
            raise UsageError(f"{crash_dir}: no crash there (crash.json missing)")
        self.board, self.seeds, self.crash_dir, self.progress = board, seeds, crash_dir, progress
        self.meta = json.loads((crash_dir / "crash.json").read_text())
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

    def reliability(self, runs: int = 10, fuzz_input: FuzzInput | None = None) -> dict:
        """Run the input `runs` times; how often the same title comes back, and what else came."""
        fuzz_input = fuzz_input or self.input
        seen: dict[str, int] = {}
        with Executor(self.board, self.work) as executor:
            for n in range(runs):
                for title in self.titles(executor, fuzz_input) or ["(nothing)"]:
                    seen[title] = seen.get(title, 0) + 1
                self.progress(f"run {n + 1}/{runs}: {seen.get(self.title, 0)} with the title so far")
        result = {"title": self.title, "runs": runs, "hits": seen.get(self.title, 0),
                  "reliability": round(seen.get(self.title, 0) / runs, 2), "titles": seen}
        (self.crash_dir / "repro.json").write_text(json.dumps(result, indent=1) + "\n")
        return result

    def minimize(self, confirm_cold: bool = True) -> dict:
        """Shrink mutations, then ops; write the result to minimized/ and confirm it on a cold boot."""
        original = self.input
        with Executor(self.board, self.work) as executor:
            if not self.hits(executor, original):
                raise UsageError(f"{self.crash_dir.name}: the input did not give '{self.title}' again; "
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
        write_reproducer(out, smallest)
        cold = None
        if confirm_cold:
            with Executor(self.board, self.work, cold=True) as executor:
                cold = self.title in self.titles(executor, smallest)
        result = {"title": self.title, "mutations": [len(original.mutations), len(mutations)],
                  "ops": [len(original.ops), len(ops)], "runs": self.runs, "confirmed_cold_boot": cold,
                  "input": smallest.to_json()}
        (out / "minimized.json").write_text(json.dumps(result, indent=1) + "\n")
        return result


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
