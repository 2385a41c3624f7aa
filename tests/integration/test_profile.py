"""Profiles sampled by the agent on real kernels: Debian's (KASLR on, names from kallsyms, modules),
the tiny kbuild kernel (no kallsyms: names from vmlinux), and a differential profile that finds the
planted getppid cost where it is and nowhere else, alone and with the benchmark verdict it explains."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sisctl.board.qemu import Disk
from sisctl.campaign.core.runner import start
from sisctl.jobs.profile import run_profile, run_profile_diff, sample_command
from sisctl.profile.folded import fold, read_folded
from sisctl.profile.symbols import Resolver

NULL_SYSCALL = "sisagent bench null_syscall 50000"
DEBUG, PLANTED = "linux-kbuild-debug", "linux-kbuild-debug+planted_getppid_loops=1000"


def kernel_functions(summary: dict) -> set[str]:
    folded = read_folded((Path(summary["report"]) / "profile.folded").read_text())
    return {name for path in folded for name in path[1:]}


def test_a_profile_of_the_debian_kernel_names_the_syscall_path_from_kallsyms(board, lab_dirs):
    # long enough for the samples counted below however fast the host runs the guest: 1000 a CPU
    # second, and 50,000 null syscalls took 0.14 CPU seconds on one run
    summary = run_profile(board.name, "sisagent bench null_syscall 300000", hz=1000, progress=lambda _: None)
    assert summary["status"] == "passed", summary["reason"]
    assert summary["symbols"] == "kallsyms" and summary["unresolved_frames"] == 0
    assert summary["counted"] > 200 and summary["lost"] == 0 and summary["dropped"] == 0
    assert {"invoke_syscall", "do_el0_svc", "[user]"} <= kernel_functions(summary)
    out = Path(summary["report"])
    assert (out / "flame.svg").read_text().count('class="f"') >= 5
    page = (out / "index.html").read_text()
    assert "Top functions" in page and "<script" not in page       # the page stays script-free
    assert json.loads((out / "top.json").read_text())[0]["function"] == summary["top"][0]["function"]


def test_a_command_that_never_ends_is_killed_at_its_timeout_and_keeps_its_samples(board):
    summary = run_profile(board.name, "while :; do kill -0 $$; done", hz=500, timeout_s=4, progress=lambda _: None)
    assert summary["status"] == "failed" and "did not end within its timeout" in summary["reason"]
    assert summary["counted"] > 200, summary                       # about 4 s of one CPU at 500 Hz
    assert "__arm64_sys_kill" in kernel_functions(summary)
    with board.session(label="deadline") as session:
        samples, result = sample_command(session, "sh -c 'while :; do :; done' & while :; do kill -0 $$; done", 200, 3)
        assert result.reason == "timeout" and samples.deadline_s == 3 and samples.counted > 0
        assert session.run("ps | grep -c '[w]hile'").text.strip() == "0"   # the command and its child are gone


def test_a_module_function_is_named_with_its_module(board, tmp_path):
    """Reads of a virtio disk run in virtio_blk, a module of Debian's cloud kernel."""
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as f:
        f.truncate(16 << 20)
    with board.session(fast=False, label="profile-module", disks=[Disk("profile", disk)]) as session:
        # no I/O scheduler: requests go to the driver from the reading task, not from a worker
        samples, result = sample_command(session, "echo none > /sys/block/vda/queue/scheduler; for i in 1 2 3 4 5 6; do dd if=/dev/vda of=/dev/null bs=4k "
                                                  "count=2000 iflag=direct 2>/dev/null; done", 2000, 120)
        assert result.code == 0, result.stderr[-500:]
    names = {name for path in fold(samples, Resolver(samples)) for name in path}
    assert any(name.endswith("[virtio_blk]") for name in names), sorted(n for n in names if 'blk' in n or 'virt' in n or '[' in n)


def test_the_kbuild_kernel_without_kallsyms_is_named_from_vmlinux(board, kbuild_artifact):
    summary = run_profile(board.name, NULL_SYSCALL, variant="linux-kbuild", progress=lambda _: None)
    assert summary["status"] == "passed", summary["reason"]
    assert summary["symbols"] == "vmlinux (KASLR offset 0x0)" and summary["unresolved_frames"] == 0
    assert {"do_el0_svc", "el0t_64_sync"} <= kernel_functions(summary), sorted(kernel_functions(summary))   # a function, an entry label
    # its vmlinux has DWARF line tables: each kernel function of the top list has its file and line
    sources = {t["function"]: t["source"] for t in summary["top"] if t["function"] != "[user]"}
    assert sources and all(s.split(":")[0].endswith((".c", ".S", ".h")) and s.split(":")[1].isdigit()
                           for s in sources.values()), sources
    assert any(s.startswith("arch/arm64/") for s in sources.values()), sources
    assert next(iter(sources.values())) in (Path(summary["report"]) / "index.html").read_text()
    assert summary["booted"]["build_id"] == kbuild_artifact.build_id


def test_the_planted_getppid_cost_is_the_top_grower_and_untouched_work_names_nothing(board):
    planted = run_profile_diff(board.name, NULL_SYSCALL, DEBUG, PLANTED, progress=lambda _: None)
    assert planted["status"] == "passed", planted["reason"]
    assert planted["growers"][0]["function"] == "__arm64_sys_getppid", planted["growers"]
    assert (Path(planted["report"]) / "diff.svg").exists()
    # fork+exit never calls getppid: the same two kernels differ there by nothing beyond noise
    untouched = run_profile_diff(board.name, "sisagent bench fork_exit 40", DEBUG, PLANTED, progress=lambda _: None)
    assert untouched["status"] == "passed", untouched["reason"]
    assert untouched["growers"] == [] and untouched["shrinkers"] == [], untouched["growers"] + untouched["shrinkers"]


SUITE = """families: [work]
reps: 2
min_blocks: 2
max_blocks: 2
workloads:
  - {name: null_syscall, agent: [null_syscall, 20000]}
"""


@pytest.mark.slow
def test_a_bench_regression_carries_its_differential_profile(board, tmp_path):
    suite = tmp_path / "getppid.yaml"
    suite.write_text(SUITE)
    summary = start("bench", board.name, {"baseline": DEBUG, "candidate": PLANTED, "suite": str(suite),
                                          "budget": "10m", "profile": "on"}, 3, progress=lambda _: None)
    [metric] = [m for m in summary["metrics"] if m["key"] == "work:null_syscall.instructions_per_op"]
    assert metric["verdict"] == "regressed" and summary["status"] == "failed", summary["headline"]
    profile = summary["profiles"]["null_syscall"]
    assert profile["growers"][0]["function"] == "__arm64_sys_getppid", profile
    out = Path(summary["report"])
    assert (out / "profiles" / "null_syscall" / "diff.svg").exists()
    [failure] = [c.find("failure") for c in ET.parse(out / "junit.xml").getroot().iter("testcase")
                 if c.get("name") == "work:null_syscall.instructions_per_op"]
    assert "top grower __arm64_sys_getppid" in failure.text
    assert "Differential profiles" in (out / "index.html").read_text()


@pytest.mark.slow
def test_the_host_side_sampler_agrees_with_the_agents_on_the_same_work(board):
    """Through QEMU's gdbstub, no perf events and no agent involved in the sampling."""
    runs = {sampler: run_profile(board.name, "sisagent bench null_syscall 100000", hz=200, variant=PLANTED,
                                 sampler=sampler, progress=lambda _: None) for sampler in ("guest", "host")}
    assert all(r["status"] == "passed" for r in runs.values()), [r["reason"] for r in runs.values()]
    host, guest = ([t["function"] for t in runs[s]["top"][:5]] for s in ("host", "guest"))
    assert host[0] == guest[0] == "__arm64_sys_getppid" and len(set(host) & set(guest)) >= 3, (host, guest)
    assert runs["host"]["guest_stopped_s"] > 0 and runs["host"]["unresolved_frames"] == 0
