"""One folder per unique finding under reports/<campaign>/crashes/<title-id>/:

  crash.json     title, kind, first and last seen, count, whether the stack was usable, whether
                 repro.debugfs gives image.img exactly, and the commands that reproduce and minimise it
  input.json     the input (seed, mutations, ops) that first gave it
  image.img      the mutated image it ran on; seed.img the seed it was made from
  console.log    the console during that input; report.txt the report itself
  repro.debugfs, repro.c, ops.txt, mutations.json   reproducer files (reproducer_files.py)
  repro.json     written by fuzz.repro: reliability from the snapshot, the C program on a cold boot
  minimized/     written at the campaign's end (unless --minimize off) or by fuzz.minimize: the
                 smallest input with the same title, its files, minimized.json and repro.json
                 (confirmation on a cold boot, by the input and the C program)
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from sisctl.campaign.fuzz.inputs import FuzzInput
from sisctl.campaign.fuzz.reproducer_files import write_reproducer
from sisctl.campaign.fuzz.seeds import Seed, load_seeds
from sisctl.campaign.fuzz.triage import title_id
from sisctl.jsonfile import read_json


@dataclass
class Finding:
    title: str
    kind: str                 # crash kind ("WARNING", "hang", "wrong errno", "fsck", ...)
    usable_stack: bool
    report: str

    @property
    def title_id(self) -> str:
        return title_id(self.title)


class CrashStore:
    def __init__(self, root: Path, seeds: dict[str, Seed] | None = None):
        """`seeds`: the seeds inputs are made from (default: the cached seed set)."""
        self.root, self.seeds = root, seeds
        root.mkdir(parents=True, exist_ok=True)

    def folder(self, crash_id: str) -> Path:
        return self.root / crash_id

    def known(self) -> set[str]:
        return {p.name for p in self.root.iterdir() if (p / "crash.json").exists()}

    def add(self, finding: Finding, fuzz_input: FuzzInput, image: Path, log: str, exec_index: int) -> bool:
        """Count one occurrence; the first one also keeps the input, image and log. True if new."""
        folder = self.folder(finding.title_id)
        meta_path = folder / "crash.json"
        if meta_path.exists():
            meta = read_json(meta_path)
            meta["count"] += 1
            meta["last_seen"], meta["last_exec"] = now(), exec_index
            _write(meta_path, json.dumps(meta, indent=1) + "\n")
            return False
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        (partial / "input.json").write_text(fuzz_input.to_json() + "\n")
        shutil.copyfile(image, partial / "image.img")
        (partial / "console.log").write_text(log)
        (partial / "report.txt").write_text(finding.report + "\n")
        seed = (self.seeds or load_seeds())[fuzz_input.seed]
        checked = write_reproducer(partial, fuzz_input, seed)
        campaign = self.root.parent.name
        meta = {"title": finding.title, "title_id": finding.title_id, "kind": finding.kind,
                "usable_stack": finding.usable_stack, "first_seen": now(), "first_exec": exec_index,
                "last_seen": now(), "last_exec": exec_index, "count": 1, "seed": fuzz_input.seed, **checked,
                "reproduce": f"invoke fuzz.repro --campaign {campaign} --crash {finding.title_id}",
                "minimize": f"invoke fuzz.minimize --campaign {campaign} --crash {finding.title_id}"}
        (partial / "crash.json").write_text(json.dumps(meta, indent=1) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
        return True


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)
