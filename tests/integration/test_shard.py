"""One ext4-crash campaign sharded across two real QEMU boards (qemu-virt-0 and qemu-virt-1, the
Debian kernel): records from both merged into one campaign with every (scenario, run) done once,
a board that fails mid-campaign ends it as an infrastructure error naming that board with the
other board's records kept, and a killed sharded campaign resumes on the same shards."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path


from sisctl.campaign.core.records import read_records
from sisctl.campaign.core.runner import resume, start
from sisctl.campaign.core.shards import share
from tests.conftest import qemu_processes_mentioning

PROJECT = Path(__file__).resolve().parents[2]
INVOKE = str(Path(sys.executable).parent / "invoke")
BOARDS = ["qemu-virt-0", "qemu-virt-1"]


def records(out: Path, kind: str) -> list[dict]:
    return [r for r in read_records(out / "records.jsonl") if r.get("type") == kind]


def units(scenarios: list[str], runs: int) -> list[tuple[str, int]]:
    return [(s, r) for s in scenarios for r in range(runs)]


def assert_each_unit_once_on_its_board(out: Path, scenarios: list[str], runs: int) -> None:
    done = records(out, "run")
    assert Counter(r["run_key"] for r in done) == Counter(f"{s}/{r}" for s, r in units(scenarios, runs)), \
        "every (scenario, run) is done exactly once"
    for index, board in enumerate(BOARDS):
        expected = {f"{s}/{r}" for s, r in share(units(scenarios, runs), (index, 2))}
        assert {r["run_key"] for r in done if r["board"] == board} == expected
    keys = [r["state_key"] for r in records(out, "state")]
    assert len(keys) == len(set(keys)), "a crash state was checked twice"


def new_campaign(reports: Path, earlier: set[Path], timeout_s: float = 120) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = set(reports.glob("ext4-crash-powerloss-*")) - earlier
        if found:
            return next(iter(found))
        time.sleep(0.2)
    raise AssertionError("the campaign made no folder")


def wait_for_states_of_both_boards(out: Path, at_least: int, controller: subprocess.Popen, timeout_s: float = 240):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert controller.poll() is None, "the campaign ended before both boards had records"
        per_board = Counter(r["board"] for r in records(out, "state"))
        if all(per_board[b] >= at_least for b in BOARDS):
            return per_board
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s} s: {at_least} states from each board")


def test_sharded_campaign_merges_both_boards_records(board):
    """qemu-virt-1 was never flashed in this session: the campaign flashes it first."""
    scenarios, runs = ["generated-1", "generated-2"], 1
    summary = start("ext4-crash", board.name, {"scenario": ",".join(scenarios), "runs": runs}, 21,
                    progress=lambda _: None, boards=",".join(BOARDS))
    out = Path(summary["report"])
    assert summary["status"] == "passed", summary["reason"]
    assert summary["boards"] == BOARDS and summary["board"] == "qemu-virt-0,qemu-virt-1"
    assert_each_unit_once_on_its_board(out, scenarios, runs)
    states = records(out, "state")
    per_board = Counter(r["board"] for r in states)
    assert set(per_board) == set(BOARDS) and all(r["build_id"] and r["e2fsck"]["code"] == 0 for r in states)
    assert {b: s["states"] for b, s in summary["by_board"].items()} == dict(per_board)
    assert sum(per_board.values()) == summary["states"] and summary["failed"] == 0
    assert all(s["states_per_minute"] > 0 for s in summary["by_board"].values())
    assert [(s["board"], s["status"]) for s in summary["shards"]] == [(b, "done") for b in BOARDS]
    assert all(s["provenance"]["board"] == s["board"] and s["provenance"]["kernel_sha256"]
               for s in summary["shards"])
    assert json.loads((out / "campaign.json").read_text())["boards"] == BOARDS
    assert all((out / "shards" / b / "work.img").exists() for b in BOARDS), "each board has its own work disks"
    page = (out / "index.html").read_text()
    assert "Boards (2 shards)" in page and "Crash states by board" in page


def test_a_board_failing_mid_campaign_ends_it_naming_that_board(board, lab_dirs):
    """The QEMU of qemu-virt-1 dies (killed here) while both boards work: exit 75, the error names
    qemu-virt-1, qemu-virt-0's shard stops promptly and every record written is kept."""
    earlier = set(lab_dirs["reports"].glob("ext4-crash-powerloss-*"))
    controller = subprocess.Popen([INVOKE, "campaign", "--boards", ",".join(BOARDS), "--scenario", "generated-2",
                                   "--runs", "8", "--seed", "31"], cwd=PROJECT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
    try:
        out = new_campaign(lab_dirs["reports"], earlier)
        wait_for_states_of_both_boards(out, 1, controller)
        victim: list[int] = []
        deadline = time.monotonic() + 60
        while not victim and time.monotonic() < deadline:
            victim = qemu_processes_mentioning(str(out / "shards" / "qemu-virt-1"))
            time.sleep(0.05)
        assert victim, "qemu-virt-1's QEMU was never seen running"
        before = {r["state_key"]: r for r in records(out, "state")}
        os.kill(victim[0], signal.SIGKILL)
        killed = time.monotonic()
        stdout, stderr = controller.communicate(timeout=180)
        ended_s = time.monotonic() - killed
    finally:
        controller.kill()
        controller.wait()
    assert controller.returncode == 75, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: qemu-virt-1: "), stderr[-3000:]
    assert ended_s < 60, f"the campaign took {ended_s:.0f} s to stop after the board failed"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "error" and summary["reason"].startswith("qemu-virt-1: ")
    assert {s["board"]: s["status"] for s in summary["shards"]} == {"qemu-virt-0": "stopped",
                                                                     "qemu-virt-1": "error"}
    after = {r["state_key"]: r for r in records(out, "state")}
    assert all(after[k] == r for k, r in before.items()), "a record written before the failure was lost"
    assert any(r["board"] == "qemu-virt-0" for r in after.values())
    assert len(records(out, "run")) < 8, "the shards stopped before the campaign's end"
    assert not qemu_processes_mentioning(str(out))


def test_killed_sharded_campaign_resumes_on_the_same_shards(board, lab_dirs):
    scenarios, runs = ["generated-1"], 4
    code = ("import sys; from sisctl.campaign.core.runner import start\n"
            f"start('ext4-crash', 'qemu-virt-0', {{'scenario': {','.join(scenarios)!r}, 'runs': {runs}}}, 41, "
            "progress=print, boards=sys.argv[1])\n")
    earlier = set(lab_dirs["reports"].glob("ext4-crash-powerloss-*"))
    controller = subprocess.Popen([sys.executable, "-c", code, ",".join(BOARDS)], cwd=PROJECT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out = new_campaign(lab_dirs["reports"], earlier)
        wait_for_states_of_both_boards(out, 1, controller)
        controller.send_signal(signal.SIGKILL)
        controller.wait(30)
    finally:
        controller.kill()
        controller.wait()
    before = {r["state_key"]: r for r in records(out, "state")}
    runs_before = {r["run_key"] for r in records(out, "run")}
    assert len(runs_before) < len(units(scenarios, runs)), "killed too late to test a resume"
    deadline = time.monotonic() + 30
    while qemu_processes_mentioning(str(out)) and time.monotonic() < deadline:
        time.sleep(0.1)   # the kernel stops the killed controller's QEMUs
    summary = resume(str(out), progress=lambda _: None)
    assert summary["status"] == "passed", summary["reason"]
    assert [s["status"] for s in summary["shards"]] == ["done", "done"]
    assert_each_unit_once_on_its_board(out, scenarios, runs)
    after = {r["state_key"]: r for r in records(out, "state")}
    assert set(before) < set(after), "the resume checked nothing new, or lost a record"
    assert all(after[k] == r for k, r in before.items())
    assert {r["board"] for r in after.values() if r["state_key"] not in before} == set(BOARDS)


def test_bench_refuses_boards():
    done = subprocess.run([INVOKE, "campaign", "--kind", "bench", "--boards", ",".join(BOARDS),
                           "--baseline", "linux-kbuild", "--candidate", "linux-kbuild"],
                          cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == ["error: --boards: a bench campaign runs on one board; give it --board"]
