"""ext4-crash --mode power-cut on a QEMU board (its scratch a spare disk of sisctl's, the cut a
killed QEMU): a clean kernel passes with every state judged, damage on the device is caught by the
board's own e2fsck, a killed campaign resumes, and a power-cut state says why it cannot be replayed."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sisctl.campaign.core.records import read_records
from sisctl.campaign.core.runner import resume, start
from sisctl.campaign.ext4crash.options import CampaignConfig
from sisctl.campaign.ext4crash.powercut import PowerCutCampaign
from sisctl.campaign.ext4crash.replay import replay
from sisctl.errors import UsageError
from tests.conftest import killed_campaign



def states(out: Path) -> list[dict]:
    return [r for r in read_records(out / "records.jsonl") if r.get("type") == "state"]


def test_clean_kernel_passes_with_every_cut_judged(board):
    summary = start("ext4-crash", board.name, {"scenario": "write_during_data_write,directory_operations",
                                              "mode": "power-cut", "runs": 3}, 11, progress=lambda _: None)
    out = Path(summary["report"])
    records = states(out)
    assert summary["status"] == "passed" and summary["failed"] == 0, summary
    assert len(records) == 6 and all(r["outcome"] == "ok" and r["mode"] == "power-cut" for r in records)
    assert all(r["boot_s"] > 0 and r["recovery_ms"] > 0 and r["cut_after_s"] > 0 for r in records)
    # The cuts land inside the ops: some states carry completed persistence calls the oracle checked.
    assert max(r["crash_point"]["persistence_calls_completed"] for r in records) >= 1
    assert sum(r["facts_checked"] for r in records) > 0
    phases = summary["phases"][board.name]
    assert phases["power cut"]["count"] == 6 and phases["scratch proven"]["count"] >= 12
    with pytest.raises(UsageError, match="a power-cut state lived on the board's scratch device"):
        replay(str(out), records[0]["state_key"], progress=lambda _: None)


def test_damage_on_the_device_is_caught_by_the_boards_e2fsck(board, tmp_path):
    """lost+found's first directory block zeroed on the device between the cut and the boot that
    recovers it (no workload touches it, so no journal replay mends it)."""
    config = CampaignConfig(board.name, ["write_during_data_write"], mode="power-cut", runs=1, seed=3)
    with PowerCutCampaign.direct(board, config, tmp_path / "out") as campaign:
        cut = campaign._cut_during_workload
        listed = subprocess.run(["debugfs", "-R", "blocks /lost+found", campaign.base], capture_output=True, text=True)
        block = int(listed.stdout.split()[0])

        def cut_then_damage(*args):
            cut(*args)
            with open(campaign.work / "scratch.img", "r+b") as disk:
                disk.seek(block * 4096)
                disk.write(bytes(4096))
        campaign._cut_during_workload = cut_then_damage
        campaign.run()
    [record] = states(tmp_path / "out")
    assert record["outcome"] != "ok", record
    assert record["e2fsck"]["code"] & 4 and "e2fsck 1.47" in record["e2fsck"]["output"]
    assert record["outcome"] == "fsck" and "Directory inode 11" in record["e2fsck"]["output"]   # lost+found


def test_killed_campaign_resumes_without_losing_or_redoing_states(board, lab_dirs):
    out = killed_campaign(lab_dirs["reports"], "ext4-crash-power-cut-*", "ext4-crash", board.name,
                          {"scenario": "generated-2", "mode": "power-cut", "runs": 3}, 13,
                          lambda folder: len(states(folder)) >= 1)
    assert out, "the campaign never wrote records"
    before = {r["state_key"]: r for r in states(out)}
    summary = resume(str(out), progress=lambda _: None)
    keys = [r["state_key"] for r in states(out)]
    assert len(keys) == len(set(keys)) == 3, keys
    assert all(next(r for r in states(out) if r["state_key"] == key) == record for key, record in before.items())
    assert summary["status"] == "passed" and summary["failed"] == 0
