"""The fuzz campaign end to end on real kernels: a kbuild kernel with a planted ext4 bug is fuzzed; the
campaign finds it, triages it to exactly one title and, at its end, minimises it to one mutation and
one op, confirmed on a cold boot; fuzz.repro reproduces it at least 9 times in 10. Its clean twin (linux-kbuild-debug:
the same detectors and KCOV, no planted bug) under the same campaign reports nothing.

The search itself is measured by benchmarks/fuzz.py (time to find, median over seeds); here the
campaign seed is the first whose fresh inputs reach the planted condition within MAX_INDEX execs,
so the test stays within a few minutes while every other part runs for real.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sisctl.board.board import Board
from sisctl.board.spec import find_board
from sisctl.build.builder import build
from sisctl.build.recipe import find_recipe
from sisctl.campaign.core import runner
from sisctl.campaign.fuzz.planted import TITLE, first_planted_hit
from sisctl.campaign.fuzz.seeds import load_seeds
from sisctl.campaign.fuzz.triage import title_id

pytestmark = pytest.mark.kbuild   # compiles the planted kernel on first run (minutes), cached after

MAX_INDEX = 16
DURATION = "30s"
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def planted_board(lab_dirs) -> Board:
    board = Board(find_board("qemu-virt-planted"))
    board.flash(build(find_recipe("linux-kbuild-planted")), progress=lambda _: None)
    return board


@pytest.fixture(scope="module")
def clean_board(lab_dirs) -> Board:
    """The planted kernel's twin without the bug: same detectors, symbols and KCOV."""
    board = Board(find_board("qemu-virt-tiny"))
    board.flash(build(find_recipe("linux-kbuild-debug")), progress=lambda _: None)
    return board


@pytest.fixture(scope="module")
def campaign_seed() -> tuple[int, int]:
    seeds = load_seeds()
    for seed in range(1, 2000):
        index = first_planted_hit(seed, ["ext4-image"], seeds, MAX_INDEX)
        if index is not None:
            return seed, index
    pytest.fail("no campaign seed reaches the planted condition early")


def fuzz(board: str, seed: int, corpus: Path, **options) -> dict:
    return runner.start("fuzz", board, {"target": "ext4-image", "duration": DURATION, "corpus": str(corpus),
                                        **options}, seed, progress=lambda _: None)


def test_planted_bug_is_found_triaged_reproduced_and_minimised(planted_board, clean_board, campaign_seed,
                                                               tmp_path):
    seed, index = campaign_seed
    summary = fuzz("qemu-virt-planted", seed, tmp_path / "corpus-planted", stop_on="ext4_setattr")
    assert summary["execs"] > index, f"the campaign stopped before exec {index}: {summary['execs']} execs"
    assert summary["execs"] <= index + 16, "--stop-on: fuzzing goes on past the batch that found it"
    assert summary["status"] == "failed" and runner.exit_code(summary) == 1
    assert [u["title"] for u in summary["unique_crashes"]] == [TITLE]
    crash = summary["unique_crashes"][0]
    assert crash["usable_stack"] and crash["first_exec"] <= index
    phases = summary["phases"]["qemu-virt-planted"]   # where the time went, per phase of an exec
    assert phases["image build (mutation, debugfs)"]["count"] >= summary["execs"]
    assert phases["oracles and findings"]["count"] >= summary["execs"]
    assert phases["guest run"]["guest_cpu_s"] > 0 and phases["mount (guest)"]["within"] == "guest run"

    out = Path(summary["report"])
    folder = out / "crashes" / title_id(TITLE)
    meta = json.loads((folder / "crash.json").read_text())
    assert meta["count"] == crash["count"] and meta["title"] == TITLE
    for name in ("input.json", "image.img", "console.log", "report.txt", "repro.c", "repro.debugfs", "ops.txt"):
        assert (folder / name).stat().st_size > 0, name
    assert "ext4_setattr" in (folder / "report.txt").read_text()
    failing = [c for c in ET.parse(out / "junit.xml").getroot().iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failing] == [f"fuzz: {TITLE}"]
    assert TITLE in (out / "index.html").read_text()

    done = subprocess.run([sys.executable, "-m", "invoke", "fuzz.repro", "--campaign", out.name, "--crash",
                           folder.name, "--runs", "10", "--json"], capture_output=True, text=True,
                          cwd=PROJECT, timeout=300)
    assert done.returncode == 0, done.stderr
    reliability = json.loads(done.stdout)
    assert reliability["hits"] >= 9, reliability

    minimized = json.loads((folder / "minimized" / "minimized.json").read_text())   # by the campaign, at its end
    assert minimized["mutations"][1] == 1 and minimized["ops"][1] == 1, minimized
    assert minimized["confirmed_cold_boot"] is True
    assert crash["minimized"] == {k: minimized[k] for k in ("mutations", "ops", "confirmed_cold_boot",
                                                             "c_program_confirmed")}
    assert "minimised to 1 mutation(s) and 1 op(s), confirmed on a cold boot" in failing[0].find("failure").text
    small = json.loads((folder / "minimized" / "input.json").read_text())
    assert small["mutations"][0][2] == "flags" and small["ops"][0][0] in ("truncate", "open")

    clean = fuzz("qemu-virt-tiny", seed, tmp_path / "corpus-clean")
    assert clean["execs"] > index
    assert clean["status"] == "passed" and clean["unique_crashes"] == [], clean["unique_crashes"]


def test_killed_campaign_resumes_without_losing_its_crash(planted_board, campaign_seed, lab_dirs, tmp_path):
    seed, index = campaign_seed
    argv = [sys.executable, "-m", "invoke", "campaign", "--kind", "fuzz", "--board", "qemu-virt-planted",
            "--target", "ext4-image", "--duration", DURATION, "--seed", str(seed), "--corpus", str(tmp_path / "c"),
            "--minimize", "off"]
    before = set(lab_dirs["reports"].glob("fuzz-ext4-image-*"))
    controller = subprocess.Popen(argv, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        records = None
        while time.monotonic() < deadline and controller.poll() is None:
            folders = set(lab_dirs["reports"].glob("fuzz-ext4-image-*")) - before
            records = next(iter(folders)) / "records.jsonl" if folders else None
            if records and records.exists() and '"type": "crash"' in records.read_text():
                break
            time.sleep(0.2)
        assert controller.poll() is None, "the campaign ended before it could be killed"
    finally:
        os.killpg(controller.pid, signal.SIGKILL)
        controller.wait()
    assert records is not None and records.exists()
    out = records.parent
    assert not (out / "summary.json").exists()
    killed_at = sum(json.loads(line)["execs"] for line in records.read_text().splitlines()
                    if '"type": "batch"' in line)
    summary = runner.resume(out.name, progress=lambda _: None)
    assert summary["status"] == "failed"
    assert [u["title"] for u in summary["unique_crashes"]] == [TITLE]
    assert summary["execs"] > killed_at
    assert (out / "crashes" / title_id(TITLE) / "input.json").exists()


def test_a_clean_input_run_again_after_a_crash_in_its_batch_is_judged_on_its_own_disk(planted_board, tmp_path):
    """A batch with a crash is run again one input at a time, all in slot 0: each input's file system
    must be read before the next one overwrites that disk, or e2fsck judges another seed's image and
    blames the kernel ('e2fsck -fn fails after a clean unmount', seen on the planted kernel)."""
    from sisctl.campaign.fuzz.executor import Executor
    from sisctl.campaign.fuzz.inputs import FuzzInput
    from sisctl.campaign.fuzz.oracles import judge
    from sisctl.campaign.fuzz.planted import NODUMP
    seeds = load_seeds()
    clean = FuzzInput("vfs-ops", "tiny", [], [["creat", "x"]])
    victim = next(f for f in seeds["csum-4k"].files("file") if f.blocks)     # truncating it changes its size
    planted = FuzzInput("ext4-image", "csum-4k", [["inode", victim.ino, "flags", victim.flags | NODUMP]],
                        [["truncate", victim.path, 0]])
    (tmp_path / "inputs").mkdir()
    with Executor(planted_board, tmp_path / "work", slots=2) as executor:
        ran = list(executor.run_inputs([clean, planted], seeds, tmp_path / "inputs"))
    (_, _, clean_result), (_, _, planted_result) = ran
    assert planted_result.crash is not None and planted_result.crash.title == TITLE
    assert clean_result.umount == 0 and judge(clean, clean_result, seeds, tmp_path) == []
