"""A shell-only kernel shaped like the seed kernel (sisctl's stand-in: a `sis> ` prompt over busybox,
booted through UEFI; most tests boot it straight from QEMU): its smoke profile, and the ext4 crash campaign's reset mode driven by the
kernel's own `fsctl stress` and `fsctl verify`, checked on the host with e2fsck and debugfs; a
kernel that promises what it never synced is caught."""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sisctl.board.spec import find_board
from sisctl.campaign.core.records import read_records
from sisctl.campaign.core.runner import resume, start
from sisctl.jobs.smoke import run_smoke
from tests.conftest import killed_campaign

PROJECT = Path(__file__).resolve().parents[2]
INVOKE = Path(sys.executable).parent / "invoke"
BOARD = "qemu-virt-seed-standin"
SEED = 3    # resets 1.6 s and 2.5 s into write_during_allocation's 5 s: inside the workload


@pytest.fixture(scope="module")
def smoke(lab_dirs, debian_artifact) -> dict:
    return run_smoke(BOARD, progress=lambda _: None)


@pytest.fixture(scope="module")
def direct(smoke, tmp_path_factory) -> Path:
    """The stand-in's board booted straight from QEMU instead of through UEFI (2 s a boot, not 13): for
    the tests whose subject is the prompt and the campaign, not the firmware. Flashed by its smoke."""
    path = tmp_path_factory.mktemp("direct") / f"{BOARD}-direct.yaml"
    text = (PROJECT / "boards" / f"{BOARD}.yaml").read_text()
    path.write_text(text.replace(f"name: {BOARD}", f"name: {BOARD}-direct").replace("method: uefi", "method: qemu"))
    assert find_board(str(path)).boot.method == "qemu"
    assert run_smoke(str(path), progress=lambda _: None)["status"] == "passed"
    return path


def states(summary: dict) -> list[dict]:
    return [r for r in read_records(Path(summary["report"]) / "records.jsonl") if r.get("type") == "state"]


def test_smoke_runs_the_profiles_commands_at_the_kernels_prompt(smoke):
    assert smoke["status"] == "passed", smoke["checks"]
    names = [c["name"] for c in smoke["checks"]]
    assert names[2:] == ["help", "version", "memctl", "crashctl"], names
    assert any("SIS Kernel" in c["detail"] for c in smoke["checks"])


def test_a_reset_campaign_checks_every_promise_on_the_host(smoke):
    summary = start("ext4-crash", BOARD, {"scenario": "write_during_allocation,truncate_operations",
                                          "mode": "reset", "runs": 1}, SEED, progress=lambda _: None)
    assert summary["status"] == "passed", summary.get("reason")
    records = states(summary)
    assert len(records) == 2 and summary["failed"] == 0
    assert all(r["facts_checked"] > 0 and r["e2fsck"]["code"] == 0 for r in records), records
    assert all(r["recovery_ms"] is not None and r["reboot_s"] > 0 for r in records)
    out = Path(summary["report"])
    cases = ET.parse(out / "junit.xml").getroot().iter("testcase")
    assert {c.get("name") for c in cases} == {"write_during_allocation", "truncate_operations"}
    assert (out / "index.html").exists()


def with_workload(board: Path, tmp_path: Path, workload: str) -> Path:
    """`board`'s file (same name, so its flashed kernel) with another workload command."""
    path = tmp_path / board.name
    text = board.read_text()
    path.write_text(text.replace('workload: "fsctl stress {scenario}"', f'workload: "{workload}"'))
    assert find_board(str(path)).target.crash.workload == workload
    return path


def test_a_kernel_that_promises_without_syncing_is_caught(direct, tmp_path):
    liar = with_workload(direct, tmp_path, "fsctl stress {scenario} nosync")
    summary = start("ext4-crash", str(liar), {"scenario": "write_during_allocation", "mode": "reset", "runs": 1},
                    SEED, progress=lambda _: None)
    assert summary["status"] == "failed" and summary["failed"] >= 1, summary["headline"]
    lost = [v for r in states(summary) for v in r["violations"]]
    assert lost and {v["kind"] for v in lost} <= {"lost", "changed"}, lost
    assert list((Path(summary["report"]) / "runs").glob("*.img"))   # the failing state's disk, kept


def test_a_workload_the_kernel_refuses_fails_instead_of_passing_with_nothing_checked(direct, tmp_path):
    typo = with_workload(direct, tmp_path, "fsctl strss {scenario}")
    summary = start("ext4-crash", str(typo), {"scenario": "write_during_allocation", "mode": "reset", "runs": 1},
                    SEED, progress=lambda _: None)
    assert summary["status"] == "failed", summary["headline"]
    [record] = states(summary)
    assert record["outcome"] == "sanity" and "unknown command" in record["guest_problem"], record


@pytest.mark.slow
def test_a_killed_campaign_keeps_its_states_and_resumes(direct, lab_dirs):
    out = killed_campaign(lab_dirs["reports"], "ext4-crash-reset-*", "ext4-crash", str(direct),
                          {"scenario": "write_during_allocation", "mode": "reset", "runs": 2}, 5,
                          lambda folder: len(states({"report": folder})) >= 1)
    assert out, "the campaign never wrote records"
    before = states({"report": out})
    summary = resume(str(out), progress=lambda _: None)
    after = states(summary)
    assert [r["state_key"] for r in after] == ["write_during_allocation/0/reset", "write_during_allocation/1/reset"]
    assert after[0] == before[0] and summary["status"] == "passed", summary["headline"]


PROMPT_SUITE = """# the kernel's own commands, their figures read from their output; wall time only
families: [time]
reps: 2
min_blocks: 2
max_blocks: 2
workloads:
  - name: mem_free
    command: memctl
    metrics: [{name: mem_free_kb, pattern: "MemFree: +([0-9]+) kB", unit: kB, better: higher}]
"""


@pytest.mark.slow
def test_a_benchmark_of_the_kernels_own_commands_runs_at_its_prompt(direct, tmp_path):
    suite = tmp_path / "prompt.yaml"
    suite.write_text(PROMPT_SUITE)
    summary = start("bench", str(direct), {"baseline": "debian-arm64", "candidate": "debian-arm64", "suite": str(suite),
                                     "budget": "10s"}, SEED, progress=lambda _: None)   # one block
    assert summary["status"] == "passed", summary.get("reason")
    assert summary["blocks"] == 1 and summary["gate_families"] == ["time"]
    runs = [r for r in read_records(Path(summary["report"]) / "records.jsonl") if r.get("type") == "run"]
    assert len(runs) == 4 * 3 and all(r["metrics"]["mem_free_kb"]["value"] > 10000 for r in runs)


@pytest.mark.parametrize("args, says", [
    (["--kind", "ext4-crash", "--mode", "powerloss"], "only --mode reset"),
    (["--kind", "fuzz", "--duration", "30s"], "need sisctl's agent"),
])
def test_what_needs_the_agent_is_refused_as_usage(smoke, args, says):
    done = subprocess.run([str(INVOKE), "campaign", "--board", BOARD, *args], cwd=PROJECT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2 and says in done.stderr, done.stderr


def test_the_host_profiles_a_kernel_without_the_agent_from_its_vmlinux(direct, kbuild_artifact, tmp_path):
    """No agent and no sampler in the guest: QEMU's gdbstub samples the stand-in's kernel (the tiny
    kbuild one) while its own `fsctl stress` runs, named and given source lines from its vmlinux."""
    from sisctl.board.board import Board
    from sisctl.board.gdbstub import gdb_args
    from sisctl.board.qemu import Disk
    from sisctl.image.ext4 import make_ext4
    from sisctl.jobs.profile import host_sample
    from sisctl.net import free_port
    from sisctl.profile.folded import fold, top_functions
    from sisctl.profile.symbols import Resolver, add_sources
    disk = tmp_path / "scratch.img"
    make_ext4(disk, 32 << 20, 32 << 20)
    port = free_port()
    with Board(find_board(str(direct))).session(fast=False, artifact=kbuild_artifact, label="host-profile",
                                                disks=[Disk("scratch", disk)], qemu_args=gdb_args(port)) as session:
        samples, result = host_sample(session, port, "fsctl stress write_during_allocation", 100, 120)
    assert "promise" in result.text, result.text[-500:]
    assert samples.counted >= 100 and samples.stopped_s > 0
    resolver = Resolver(samples, kbuild_artifact.vmlinux)
    folded = fold(samples, resolver)
    on_stack = {frame for path in folded for frame in path[1:]}
    assert {"ext4_file_write_iter", "jbd2_journal_commit_transaction"} & on_stack, sorted(on_stack)
    assert resolver.unresolved <= samples.counted // 10          # user-space PCs are not the kernel's
    top = add_sources(top_functions(folded, 10), kbuild_artifact.vmlinux)
    assert sum(bool(t["source"]) for t in top) >= 5, top
