"""Sharding a campaign across boards: the split, the options, and the core running shards in
threads (stub kinds; the real thing on two QEMU boards is tests/integration/test_shard.py)."""
from __future__ import annotations

import itertools
import json
import os
import signal
import threading
import time

import pytest

from sisctl.board.board import Board
from sisctl.board.errors import BoardError
from sisctl.campaign.core import boards, runner
from sisctl.campaign.core.kind import Findings
from sisctl.campaign.core.records import read_records
from sisctl.campaign.core.shards import share
from sisctl.campaign.ext4crash.units import board_units
from sisctl.campaign.ext4crash.options import CampaignConfig
from sisctl.cli.campaign import board_choice
from sisctl.errors import UsageError
from sisctl.fleet.session import Place
from sisctl.progress import Progress
from sisctl.report.junit import Case
from tests.unit.test_campaign_runner import StubConfig, StubKind


# --- the split -----------------------------------------------------------------------
@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_every_unit_falls_to_exactly_one_shard(count):
    units = [(s, r) for s in "abcdefg" for r in range(3)]
    shares = [share(units, (i, count)) for i in range(count)]
    assert sorted(itertools.chain(*shares)) == sorted(units)
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
    assert shares == [share(units, (i, count)) for i in range(count)], "the split must never change"


def test_ext4_crash_runs_split_across_boards_and_spread_scenarios():
    cfg = CampaignConfig("qemu-virt-0", ["write_during_allocation", "generated-2"], "powerloss", 3)
    units = [board_units(cfg, (i, 2)) for i in range(2)]
    assert sorted(units[0] + units[1]) == sorted((s, r) for s in cfg.scenarios for r in range(3))
    assert not set(units[0]) & set(units[1])
    assert {s for s, _ in units[0]} == {s for s, _ in units[1]} == set(cfg.scenarios)
    alone = board_units(cfg, (0, 1))
    assert alone == [(s, r) for s in cfg.scenarios for r in range(3)], "one board keeps the old order"


# --- options ---------------------------------------------------------------------------
def test_board_and_boards_go_alone():
    assert board_choice(None, None, "") == ("qemu-virt-0", "")
    assert board_choice("qemu-virt-1", None, "") == ("qemu-virt-1", "")
    assert board_choice(None, " qemu-virt-0,qemu-virt-1 ", "") == ("qemu-virt-0", "qemu-virt-0,qemu-virt-1")
    with pytest.raises(UsageError, match="--board and --boards"):
        board_choice("qemu-virt-0", "qemu-virt-1", "")
    with pytest.raises(UsageError, match="continues on its own boards"):
        board_choice(None, "qemu-virt-0", "ext4-crash-x")
    with pytest.raises(UsageError, match="--boards: give board names"):
        board_choice(None, "  ", "")


def test_wait_and_priority_reach_the_holds_or_stop_the_task(monkeypatch):
    from invoke import Context, Exit

    from sisctl.cli.campaign import campaign_run
    from sisctl.fleet import claims
    given, started = [], []
    monkeypatch.setattr(claims, "set_hold_options", lambda wait_s, priority: given.append((wait_s, priority)))
    monkeypatch.setattr(runner, "start", lambda *a, **k: started.append(k["boards"]) or {
        "status": "passed", "headline": "", "report": "", "reason": ""})
    campaign_run(Context(), boards="qemu-virt-0,qemu-virt-1", wait="30m", priority="5")
    assert given == [(1800.0, 5.0)] and started == ["qemu-virt-0,qemu-virt-1"]
    for option in ({"wait": "soon"}, {"priority": "high"}, {"board": "qemu-virt-0", "boards": "qemu-virt-1"}):
        with pytest.raises(Exit) as stopped:
            campaign_run(Context(), **option)
        assert stopped.value.code == 2 and str(stopped.value.message).startswith("error: --")
    assert started == ["qemu-virt-0,qemu-virt-1"], "nothing starts after bad input"


def test_boards_by_name():
    assert boards.resolve_boards("qemu-virt-1, qemu-virt-0") == ["qemu-virt-1", "qemu-virt-0"]
    with pytest.raises(UsageError, match="named twice"):
        boards.resolve_boards("qemu-virt-0,qemu-virt-0")
    with pytest.raises(UsageError, match="no-such-board"):
        boards.resolve_boards("qemu-virt-0,no-such-board")
    with pytest.raises(UsageError, match="stands alone"):
        boards.resolve_boards("qemu-virt-0,tag:type=qemu")
    with pytest.raises(UsageError, match="--boards: give board names"):
        boards.resolve_boards(" , ")


def test_boards_by_tag_need_a_coordinator(monkeypatch):
    monkeypatch.setenv("SISCTL_COORDINATOR", "")
    with pytest.raises(UsageError, match="--boards tag:type=qemu needs a coordinator, and none is configured"):
        boards.resolve_boards("tag:type=qemu")
    with pytest.raises(UsageError, match="--boards tag:type: expected"):
        boards.resolve_boards("tag:type")


def test_boards_by_tag_are_every_matching_board_that_takes_jobs():
    places = {"q2": Place("q2", {"type": "qemu", "health": "good"}), "q1": Place("q1", {"type": "qemu"}),
              "q3": Place("q3", {"type": "qemu", "health": "bad"}), "pi": Place("pi", {"type": "rpi4"})}
    assert boards.matching(places, {"type": "qemu"}, "type=qemu") == ["q1", "q2"]
    with pytest.raises(UsageError, match="no board on the coordinator has these tags"):
        boards.matching(places, {"type": "x86"}, "type=x86")
    with pytest.raises(BoardError, match=r"takes jobs: q3 \(bad\)"):
        boards.matching({"q3": places["q3"]}, {"type": "qemu"}, "type=qemu")


# --- the core running shards --------------------------------------------------------------
class ShardedStub(StubKind):
    shardable = True

    def findings(self, config, records, figures):
        self.figures = figures
        return Findings({}, [Case(f"{r['board']}-{r['n']}", True) for r in records], f"{len(records)} cases")


class Counting(Progress):
    def __init__(self):
        super().__init__()
        self.lines = []

    def _line(self, text):
        self.lines.append(text)


TWO = ["qemu-virt-0", "qemu-virt-1"]


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("SISCTL_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("SISCTL_REPORTS", str(tmp_path / "reports"))
    monkeypatch.delenv("SISCTL_COORDINATOR", raising=False)
    monkeypatch.setattr(Board, "provenance", lambda self, flashed=None: {"board": self.name, "kernel_version": "6.1"})
    monkeypatch.setattr(runner, "ensure_flashed", lambda board, progress: None)
    out = tmp_path / "reports" / "stub-1"
    out.mkdir(parents=True)
    return out


def counting_units(n, pause=0.0):
    def execute(ctx):
        ctx.progress.total(n, "units")
        for i in range(n):
            ctx.check_stop()
            ctx.records.append({"n": i, "shard": list(ctx.shard), "scratch": str(ctx.scratch)})
            ctx.progress.advance()
            time.sleep(pause)
        ctx.figures["units"] = n
    return execute


def test_shards_run_at_once_and_merge_into_one_log(folders):
    progress = Counting()
    kind = ShardedStub(counting_units(20, 0.005))
    summary = runner._run(kind, StubConfig(), folders, progress, TWO)
    assert summary["status"] == "passed" and summary["board"] == "qemu-virt-0,qemu-virt-1"
    records = list(read_records(folders / "records.jsonl"))
    assert len(records) == 40
    for index, board in enumerate(TWO):
        mine = [r for r in records if r["board"] == board]
        assert [r["n"] for r in mine] == list(range(20)) and {tuple(r["shard"]) for r in mine} == {(index, 2)}
        assert {r["scratch"] for r in mine} == {str(folders / "shards" / board)}
    assert kind.figures["by_board"] == {b: {"units": 20} for b in TWO}
    assert [s["status"] for s in summary["shards"]] == ["done", "done"]
    assert [s["records"] for s in summary["shards"]] == [20, 20]
    assert summary["provenance"] == {"board": "qemu-virt-0, qemu-virt-1", "kernel_version": "6.1"}
    assert (progress.units, progress.done) == (40, 40), "each shard's total adds to the campaign's"
    assert "Boards (2 shards)" in (folders / "index.html").read_text()


def test_one_board_runs_as_before(folders):
    kind = ShardedStub(counting_units(3))
    summary = runner._run(kind, StubConfig(), folders, lambda _: None)
    assert summary["board"] == "qemu-virt-0" and summary["boards"] == ["qemu-virt-0"]
    assert kind.figures == {"units": 3, "by_board": {"qemu-virt-0": {"units": 3}}}
    assert {r["scratch"] for r in read_records(folders / "records.jsonl")} == {str(folders)}


def test_a_failing_shard_stops_the_others_and_names_its_board(folders):
    def execute(ctx):
        if ctx.board.name == "qemu-virt-1":
            time.sleep(0.3)
            raise BoardError("qemu-virt-1", "QEMU exited before the console opened")
        counting_units(10_000, 0.01)(ctx)
    started = time.monotonic()
    summary = runner._run(ShardedStub(execute), StubConfig(), folders, lambda _: None, TWO)
    assert time.monotonic() - started < 5, "the other shard must stop promptly"
    assert summary["status"] == "error" and runner.exit_code(summary) == 75
    assert summary["reason"].startswith("qemu-virt-1: QEMU exited")
    states = {s["board"]: s["status"] for s in summary["shards"]}
    assert states == {"qemu-virt-0": "stopped", "qemu-virt-1": "error"}
    kept = [r for r in read_records(folders / "records.jsonl") if r["board"] == "qemu-virt-0"]
    assert 5 <= len(kept) < 10_000, "the other shard's records are kept, and it did stop"


def test_a_problem_not_naming_its_board_gets_it_in_the_reason(folders):
    def execute(ctx):
        if ctx.board.name == "qemu-virt-0":
            raise OSError(28, "No space left on device", "/reports/x")
        counting_units(10_000, 0.01)(ctx)
    with pytest.raises(OSError):
        runner._run(ShardedStub(execute), StubConfig(), folders, lambda _: None, TWO)
    summary = json.loads((folders / "summary.json").read_text())
    assert summary["status"] == "error" and summary["reason"].startswith("qemu-virt-0: ")


def test_a_kind_that_is_not_shardable_refuses_several_boards(folders):
    kind = ShardedStub(counting_units(1))
    kind.shardable = False
    summary = runner._run(kind, StubConfig(), folders, lambda _: None, TWO)
    assert summary["status"] == "aborted" and runner.exit_code(summary) == 2
    assert "runs on one board" in summary["reason"]
    with pytest.raises(UsageError, match="--boards: a bench campaign runs on one board"):
        runner.start("bench", "qemu-virt-0", {}, boards="qemu-virt-0,qemu-virt-1")


def test_ctrl_c_stops_every_shard_and_aborts(folders):
    """A real SIGINT: Python raises KeyboardInterrupt in the main thread, which waits for the shards."""
    def interrupt_once_both_record():
        while len({r["board"] for r in read_records(folders / "records.jsonl")}) < 2:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=interrupt_once_both_record, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        runner._run(ShardedStub(counting_units(10_000, 0.01)), StubConfig(), folders, lambda _: None, TWO)
    assert time.monotonic() - started < 5
    summary = json.loads((folders / "summary.json").read_text())
    assert summary["status"] == "aborted" and runner.exit_code(summary) == 130
    assert {s["status"] for s in summary["shards"]} == {"stopped"}
    assert 0 < len(list(read_records(folders / "records.jsonl"))) < 20_000
    assert not [t for t in threading.enumerate() if t.name.startswith("shard-")], "no shard thread left"
