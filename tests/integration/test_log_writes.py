"""ext4-crash --mode log-writes on a QEMU board: the kernel's own dm-log-writes log, kept and replayed
on the board, gives the verdicts and about the state counts of the powerloss mode (QEMU's log) on
the same seed; and a replay that loses flushed writes is caught by the oracle."""
from __future__ import annotations

from pathlib import Path

import pytest

from sisctl.board.board import Board
from sisctl.board.spec import find_board
from sisctl.campaign.core.records import read_records
from sisctl.campaign.core.runner import start
from sisctl.campaign.ext4crash import blocklog
from sisctl.campaign.ext4crash.logwrites import LogWritesCampaign
from sisctl.campaign.ext4crash.options import CampaignConfig
from sisctl.campaign.ext4crash.replay import replay
from sisctl.errors import UsageError

SCENARIOS = "write_during_journal_commit,generated-2"


def states(out: Path) -> list[dict]:
    return [r for r in read_records(out / "records.jsonl") if r.get("type") == "state"]


def test_log_writes_and_powerloss_agree_on_the_same_seed(board):
    options = {"scenario": SCENARIOS, "runs": 1}
    logged = start("ext4-crash", board.name, {**options, "mode": "log-writes"}, 3, progress=lambda _: None)
    emulated = start("ext4-crash", board.name, {**options, "mode": "powerloss"}, 3, progress=lambda _: None)
    for summary in (logged, emulated):
        assert summary["status"] == "passed" and summary["failed"] == 0, summary
    records = states(Path(logged["report"]))
    assert all(r["mode"] == "log-writes" and r["console"]["device"].startswith("/dev/vd") for r in records)
    assert sum(r["facts_checked"] for r in records) > 0
    for scenario, figures in logged["scenarios"].items():
        other = emulated["scenarios"][scenario]["states"]
        assert 0.5 * other <= figures["states"] <= 2 * other, (scenario, figures["states"], other)
    flushes = [sum("-drop-" not in r["state_key"] for r in states(Path(s["report"]))) for s in (logged, emulated)]
    assert abs(flushes[0] - flushes[1]) <= max(2, flushes[1] // 4), flushes
    with pytest.raises(UsageError, match="a log-writes state lived on the board's scratch device"):
        replay(logged["report"], records[0]["state_key"], progress=lambda _: None)   # never the host's /dev/vdb


def test_a_replay_that_loses_flushed_writes_is_caught(board, tmp_path, monkeypatch):
    """Every flush state replayed without the writes its flush made durable: the oracle must say so."""
    def losing_flushed_writes(log):
        lost = [e.index for epoch in log.epochs() for e in epoch]
        return [blocklog.CrashState(s.name, s.upto, frozenset(i for i in lost if i < s.upto))
                for s in prefix(log)]
    prefix = blocklog.prefix_states
    monkeypatch.setattr(blocklog, "prefix_states", losing_flushed_writes)
    monkeypatch.setattr(blocklog, "reorder_states", lambda *args: [])
    config = CampaignConfig(board.name, ["write_during_journal_commit"], mode="log-writes", runs=1, seed=3)
    with LogWritesCampaign.direct(board, config, tmp_path / "out") as campaign:
        campaign.run()
    records = states(tmp_path / "out")
    assert any(r["outcome"] == "violation" for r in records), [r["outcome"] for r in records]
    assert all(r["outcome"] == "ok" for r in records if r["crash_point"]["state"] == "start")


def test_log_writes_runs_on_the_kbuild_kernel_with_the_target_built_in(lab_dirs, kbuild_artifact):
    """linux-kbuild has no modules: its dm-log-writes is built in (firmware/configs/dm-log-writes.config)."""
    tiny = Board(find_board("qemu-virt-tiny"))
    tiny.flash(kbuild_artifact, progress=lambda _: None)
    summary = start("ext4-crash", tiny.name, {"scenario": "generated-1", "mode": "log-writes", "runs": 1}, 5,
                    progress=lambda _: None)
    assert summary["status"] == "passed" and summary["failed"] == 0 and summary["states"] >= 2, summary
