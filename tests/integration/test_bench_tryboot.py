"""A benchmark campaign on a Raspberry Pi switches kernels by tryboot, boot by boot: the Pi stand-in
(real sshd serving a Pi-like boot partition, a loopback smart plug, and a "firmware" that reads
tryboot.txt and boots those files on QEMU's raspi3b) runs one ABBA block of a tiny A/B campaign.
Each boot stages its variant, reboots with tryboot, waits for the agent and runs the workloads;
every sample records the kernel the agent found running, and the wall-time family gates."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from sisctl.board.board import Board, FlashRecord
from sisctl.board.pi import PiTryboot
from sisctl.board.power import QmpPower
from sisctl.board.spec import load_board
from sisctl.board.uboot import BootFiles
from sisctl.build.builder import build
from sisctl.build.recipe import find_recipe
from sisctl.campaign.core import runner
from sisctl.image.guest import agent_digest, build_guest
from tests.integration.standins import SerialLine
from tests.integration.test_pi_tryboot import KNOWN_GOOD, FakePi, QemuPi, board_yaml, pi_spec

SUITE = """families: [time]
reps: 1
min_blocks: 2
max_blocks: 2
workloads:
  - {name: null_syscall, agent: [null_syscall, 2000]}
  - {name: pipe_pingpong_cross, agent: [pipe_pingpong_cross, 100]}
"""
CANDIDATE_WORD = "mitigations=off"


def pi_board(tmp_path: Path, sshd, pi: QemuPi) -> Path:
    path = board_yaml(tmp_path, sshd, pi)
    data = yaml.safe_load(path.read_text())
    data["recipe"] = "debian-arm64-generic"
    data["boot"].update(dtb="broadcom/bcm2837-rpi-3-b.dtb", ready_timeout_s=150)
    data["boot"]["pi"]["config_lines"] = ["dtoverlay=disable-bt"]
    path.write_text(yaml.safe_dump(data))
    return path


def count_as_flashed(board: Board, artifact) -> None:
    """The board's record says it runs `artifact` (with this agent), so the campaign starts with
    its own boots: flashing a Pi by tryboot is test_pi_tryboot's subject, and costs a boot."""
    initrd = build_guest(artifact, board.spec.boot.modules)
    board.state.mkdir(parents=True, exist_ok=True)
    record = FlashRecord(str(artifact.root), str(initrd), artifact.sha256, artifact.build_id,
                         artifact.manifest.get("kernel_version"), "2026-01-01T00:00:00Z", agent_digest())
    (board.state / "flashed.json").write_text(json.dumps(record.__dict__))


@pytest.mark.slow
def test_a_bench_campaign_on_a_pi_switches_kernels_by_tryboot_per_boot(lab_dirs, sshd, tmp_path):
    artifact = build(find_recipe("debian-arm64-generic"))
    line = SerialLine()
    pi = QemuPi(tmp_path / "pi", line)
    try:
        path = pi_board(tmp_path, sshd, pi)
        count_as_flashed(Board(load_board(path)), artifact)
        suite = tmp_path / "tryboot.yaml"
        suite.write_text(SUITE)
        started = time.monotonic()
        # a budget of one block: the smallest campaign that switches A -> B -> B -> A (or B -> A -> A -> B)
        summary = runner.start("bench", str(path), {"baseline": "debian-arm64-generic",
                                                    "candidate": f"debian-arm64-generic+{CANDIDATE_WORD}",
                                                    "suite": str(suite), "budget": "10s"}, seed=2,
                               progress=lambda _: None)
        elapsed = time.monotonic() - started
        assert summary["status"] == "passed", summary["reason"]
        assert summary["gate_families"] == ["time"] and summary["blocks"] == 1
        records = [json.loads(r) for r in (Path(summary["report"]) / "records.jsonl").read_text().splitlines()]
        runs = [r for r in records if r.get("type") == "run"]
        [block] = [r for r in records if r.get("type") == "block"]
        boots = {}
        for r in runs:
            boots.setdefault(r["slot"], r)
        order = "".join("A" if boots[slot]["side"] == "baseline" else "B" for slot in sorted(boots))
        assert order == block["order"] and order in ("ABBA", "BAAB")
        for r in runs:
            booted = r["booted"]
            # the kernel the agent found running is the variant's kernel, with the variant's options
            assert booted["build_id"] == artifact.build_id and booted["release"] in artifact.manifest["kernel_version"]
            assert (CANDIDATE_WORD in booted["cmdline"].split()) == (r["side"] == "candidate")
            assert r["qemu_args"] == [] and r["family"] == "time"
            assert int(booted["cpus"]) == 4 and r["metrics"]   # raspi3b's four cores: cross-CPU runs
        assert pi.trials == 4 and pi.reboots.read_text().split() == ["0", "tryboot"] * 4
        assert pi.power_log.count("Power Off") == 4 and pi.qemu is None       # every trial ended by a power cut
        assert pi.flag.read_bytes() == b"\0\0\0\0" and (pi.boot / "config.txt").read_text() == KNOWN_GOOD
        metrics = {m["key"]: m for m in summary["metrics"]}
        assert "time:pipe_pingpong_cross.ns_per_op" in metrics and all(m["gate"] for m in metrics.values())
        print(f"one ABBA block of tryboots: {block['seconds']:.0f} s (campaign {elapsed:.0f} s); boots "
              + ", ".join(f"{boots[s]['side']} {boots[s]['boot_s']:.0f} s" for s in sorted(boots)))
    finally:
        pi.close()
        line.close()


def test_a_kernel_already_staged_is_not_copied_again(sshd, tmp_path):
    """Boot after boot of one campaign stage the same kernel and initramfs with other command lines:
    only what changed crosses the network; a changed kernel is copied again."""
    pi = FakePi(tmp_path / "pi")
    try:
        kernel, initrd = tmp_path / "Image", tmp_path / "initrd"
        kernel.write_bytes(b"kernel" * 100000)
        initrd.write_bytes(b"initrd" * 100000)
        said: list[str] = []
        tryboot = PiTryboot(pi_spec(sshd, pi), QmpPower(), "pi", said.append)

        def stage(cmdline: str) -> list[str]:
            said.clear()
            tryboot.stage(BootFiles(kernel, initrd, None, cmdline))
            return sorted(line.split()[2] for line in said if " copying " in line)

        assert stage("console=ttyAMA0") == ["Image", "cmdline.txt", "initrd", "tryboot.txt"]
        assert stage("console=ttyAMA0 mitigations=off") == ["cmdline.txt", "tryboot.txt"]
        assert (pi.boot / "sisctl" / "cmdline.txt").read_text() == "console=ttyAMA0 mitigations=off\n"
        kernel.write_bytes(b"other kernel" * 100000)
        assert stage("console=ttyAMA0") == ["Image", "cmdline.txt", "tryboot.txt"]
        assert (pi.boot / "sisctl" / "Image").read_bytes() == kernel.read_bytes()
    finally:
        pi.close()
