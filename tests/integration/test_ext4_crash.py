"""ext4 crash campaigns on the real Debian kernel: clean runs pass, the oracle catches real loss,
a killed campaign resumes without losing or redoing states, and a record replays."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sisctl.campaign.ext4crash import blocklog
from sisctl.campaign.ext4crash.campaign import Ext4CrashCampaign, PendingState
from sisctl.campaign.ext4crash.options import CampaignConfig
from sisctl.campaign.core.records import read_records
from sisctl.campaign.core.runner import resume, start
from sisctl.campaign.ext4crash.replay import replay
from sisctl.campaign.ext4crash.fsworkloads import workload
from sisctl.campaign.ext4crash.ops import pattern
from tests.conftest import killed_campaign

PROJECT = Path(__file__).resolve().parents[2]


def states(out: Path) -> list[dict]:
    return [r for r in read_records(out / "records.jsonl") if r.get("type") == "state"]


@pytest.fixture(scope="module")
def powerloss(board):
    """A short powerloss campaign; its logs are kept for the tests below."""
    summary = start("ext4-crash", board.name, {"scenario": "write_during_journal_commit,generated-2",
                                              "mode": "powerloss", "runs": 1}, 3, progress=lambda _: None)
    return Path(summary["report"]), summary


def test_clean_kernel_gives_no_false_violations(powerloss):
    out, summary = powerloss
    records = states(out)
    assert summary["failed"] == 0, json.dumps(summary["scenarios"], indent=1)
    assert len(records) >= 10
    assert {r["scenario"] for r in records} == {"write_during_journal_commit", "generated-2"}
    assert all(r["e2fsck"]["code"] == 0 for r in records)
    # Later states carry guarantees the oracle really checked.
    assert max(r["crash_point"]["persistence_calls_completed"] for r in records) >= 2
    assert sum(r["facts_checked"] for r in records) > 0
    assert all(r["recovery_ms"] is not None and r["build_id"] for r in records)
    assert (out / "junit.xml").exists() and (out / "summary.json").exists()


def test_the_summary_says_where_the_time_went(powerloss, board):
    out, summary = powerloss
    phases = summary["phases"][board.name]
    checked = len(states(out))
    for step in ("e2fsck", "oracle", "record write", "image from write log", "mount and journal recovery (guest)",
                 "umount (guest)", "dump (guest)", "sanity (guest)"):
        assert phases[step]["count"] == checked, step
    assert phases["mount and journal recovery (guest)"]["within"] == "guest check"
    check = phases["guest check"]
    assert 0 < check["guest_cpu_s"] and 0 < check["wall_s"]
    in_guest = sum(p["wall_s"] for name, p in phases.items() if name.endswith("(guest)"))
    assert 0 < in_guest < check["wall_s"] * 1.05   # the guest's clock agrees: its steps fit in the round trips
    assert phases["e2fsck"]["host_cpu_s"] > 0 and phases["session start"]["guest_cpu_s"] > 0
    assert phases["workload"]["count"] == 2 and phases["session end"]["count"] == 2


def _data_entry(log: blocklog.BlockLog, data: bytes) -> blocklog.Entry:
    """The logged write that carries the start of `data` (a file's content)."""
    with open(log.path, "rb") as f:
        for entry in log.entries:
            if entry.is_write:
                f.seek(entry.data_offset)
                if f.read(64) == data[:64]:
                    return entry
    raise AssertionError("no logged write carries the file's data")


def test_oracle_catches_a_lost_fsynced_write(board, tmp_path):
    """A disk that drops a write it had acknowledged before the flush must be reported."""
    cfg = CampaignConfig(board.name, ["write_during_journal_commit"], "powerloss", 1, seed=5, keep_all=True)
    with Ext4CrashCampaign.direct(board, cfg, tmp_path / "honest") as campaign:
        campaign.run()
    assert all(r["outcome"] == "ok" for r in states(tmp_path / "honest"))
    ops = workload("write_during_journal_commit", states(tmp_path / "honest")[0]["run_seed"])
    big = next(op for op in ops if op.kind == "write" and op.length >= 1 << 20)
    log_path = tmp_path / "honest" / "runs" / "write_during_journal_commit-0.log"
    log = blocklog.read_log(log_path)
    lost = _data_entry(log, pattern(big.seed, big.length))
    with Ext4CrashCampaign.direct(board, cfg, tmp_path / "liar", base=tmp_path / "honest" / "base.img") as liar:
        liar.pending = [PendingState("write_during_journal_commit", 0, "end-lying-disk", log_path,
                                     len(log.entries), [lost.index])]
        liar.run_checks_only()
    (record,) = states(tmp_path / "liar")
    assert record["outcome"] == "violation"
    named = {(v["kind"], v["path"]) for v in record["violations"]}
    assert ("corrupt", big.path) in named, record["violations"]
    assert any("fsync" in v["guarantee"] for v in record["violations"] if v["path"] == big.path)
    # Both records reproduce from their 'reproduce' data.
    assert replay(str(tmp_path / "liar"), record["state_key"], progress=lambda _: None)["outcome"] == "violation"
    honest_end = states(tmp_path / "honest")[-1]
    assert replay(str(tmp_path / "honest"), honest_end["state_key"], progress=lambda _: None)["outcome"] == "ok"


def test_reset_mode_campaign(board):
    summary = start("ext4-crash", board.name, {"scenario": "generated-2", "mode": "reset", "runs": 2}, 11,
                    progress=lambda _: None)
    out = Path(summary["report"])
    records = states(out)
    assert len(records) == 2 and {r["crash_point"]["state"] for r in records} == {"reset"}
    assert summary["failed"] == 0, json.dumps(summary["scenarios"], indent=1)


def test_killed_campaign_resumes_without_losing_or_redoing_states(board, lab_dirs):
    out = killed_campaign(lab_dirs["reports"], "ext4-crash-powerloss-*", "ext4-crash", board.name,
                          {"scenario": "generated-1,generated-2", "runs": 2}, 9, lambda folder: len(states(folder)) >= 3)
    assert out, "the campaign never wrote records"
    # A kill can land inside an image copy; a disk left short must not fail the resumed checks.
    (out / "slots" / "slot2.img").write_bytes(b"")
    before = {r["state_key"]: r for r in states(out)}
    summary = resume(str(out), progress=lambda _: None)
    after = states(out)
    keys = [r["state_key"] for r in after]
    assert len(keys) == len(set(keys)), "a state was checked twice"
    assert set(before) <= set(keys), "a record written before the kill was lost"
    for key, record in before.items():
        assert next(r for r in after if r["state_key"] == key) == record
    runs = {r["run_key"] for r in read_records(out / "records.jsonl") if r.get("type") == "run"}
    assert runs == {f"{s}/{n}" for s in ("generated-1", "generated-2") for n in range(2)}
    assert summary["failed"] == 0, [r for r in states(out) if r["outcome"] != "ok"]
