"""Corpus minimisation: the fewest corpus inputs of a target that still reach every kernel PC the
whole corpus reaches (greedy set cover: each step keeps the input adding the most PCs not yet
reached). Inputs without recorded coverage for the board's kernel are run on it first (KCOV).
What is dropped moves to CORPUS/removed/TARGET/, with its coverage, so nothing is lost.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from sisctl.board.board import Board
from sisctl.campaign.fuzz import coverage as kcov
from sisctl.campaign.fuzz.campaign import Corpus
from sisctl.campaign.fuzz.executor import Executor
from sisctl.campaign.fuzz.inputs import FuzzInput
from sisctl.campaign.fuzz.seeds import Seed
from sisctl.errors import UsageError

SLOTS = 4


def cover(entries: dict[str, set[int]]) -> list[str]:
    """Names of a small subset of `entries` whose PCs together equal those of all of them."""
    remaining = {name: set(pcs) for name, pcs in entries.items() if pcs}
    kept: list[str] = []
    while remaining:
        best = max(sorted(remaining), key=lambda name: len(remaining[name]))
        gained = remaining.pop(best)
        kept.append(best)
        for name in list(remaining):
            remaining[name] -= gained
            if not remaining[name]:
                del remaining[name]
    return kept


def measure(board: Board, corpus: Corpus, entries: list[Path], seeds: dict[str, Seed], work: Path,
            progress: Callable[[str], None]) -> None:
    """Run the entries that have no coverage for this kernel yet and record it beside them."""
    with Executor(board, work, slots=SLOTS, coverage=True) as executor:
        ran = executor.run_inputs([FuzzInput.load(entry) for entry in entries], seeds, work)
        for done, (entry, (_, _, result)) in enumerate(zip(entries, ran), 1):
            if result.kcov is not None and result.kcov < 0:
                raise UsageError(f"board {board.name}: its kernel has no KCOV (errno {-result.kcov}); "
                                 "corpus minimisation needs coverage")
            if result.pcs is not None and not result.crashed:
                path = corpus.coverage_file(entry)
                path.parent.mkdir(exist_ok=True)
                kcov.save(path, result.pcs)
            progress(f"\rmeasured {done}/{len(entries)} inputs")


def minimize_corpus(board: Board, corpus_root: Path, target: str, seeds: dict[str, Seed], work: Path,
                    progress: Callable[[str], None]) -> dict:
    kernel = board.flashed().build_id
    if not kernel:
        raise UsageError(f"board {board.name}: its kernel has no build id to key coverage by")
    corpus = Corpus(corpus_root, [target], kernel)
    entries = corpus.entries[target]
    if not entries:
        raise UsageError(f"--target {target}: the corpus {corpus_root / target} is empty")
    unmeasured = [e for e in entries if not corpus.coverage_file(e).exists()]
    if unmeasured:
        measure(board, corpus, unmeasured, seeds, work, progress)
    pcs = {e.stem: kcov.load(corpus.coverage_file(e)) for e in entries}
    kept = set(cover(pcs))
    removed = corpus_root / "removed" / target
    for entry in entries:
        if entry.stem not in kept:
            removed.mkdir(parents=True, exist_ok=True)
            shutil.move(entry, removed / entry.name)
            cov = corpus.coverage_file(entry)
            if cov.exists():
                shutil.move(cov, removed / f"{entry.stem}.{kernel[:16]}.cov")
    union = set().union(*pcs.values())
    return {"target": target, "before": len(entries), "after": len(kept), "pcs": len(union),
            "measured": len(unmeasured), "removed_to": str(removed)}
