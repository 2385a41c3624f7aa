"""The campaign core ends every run with an honest summary, whatever stops it and wherever."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest

from sisctl.board.board import Board
from sisctl.board.errors import BoardBusy
from sisctl.campaign.core import runner
from sisctl.campaign.core.kind import Findings
from sisctl.report.junit import Case


@dataclass
class StubConfig:
    board: str = "qemu-virt-0"
    seed: int = 1


class StubKind:
    name = "stub"

    def __init__(self, execute=lambda ctx: None):
        self._execute = execute

    def execute(self, ctx, config):
        self._execute(ctx)

    def findings(self, config, records, figures):
        return Findings({}, [Case(r["name"], r["ok"]) for r in records], f"{len(records)} cases")

    def terminal(self, summary):
        return summary["headline"]


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("SISCTL_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("SISCTL_REPORTS", str(tmp_path / "reports"))
    monkeypatch.setattr(Board, "provenance", lambda self, flashed=None: {"board": "qemu-virt-0"})
    monkeypatch.setattr(runner, "ensure_flashed", lambda board, progress: None)
    out = tmp_path / "reports" / "stub-1"
    out.mkdir(parents=True)
    return out


def run(kind, out):
    return runner._run(kind, StubConfig(), out, lambda _: None)


def junit_errors(out):
    return ET.parse(out / "junit.xml").getroot().findall(".//error")


def test_passing_cases_pass(folders):
    summary = run(StubKind(lambda ctx: ctx.records.append({"name": "a", "ok": True})), folders)
    assert summary["status"] == "passed" and runner.exit_code(summary) == 0


def test_a_busy_board_before_the_run_is_an_error_with_a_summary(folders, monkeypatch):
    def busy(board, progress):
        raise BoardBusy(board.name, "in use by pid 42 (invoke flash)")
    monkeypatch.setattr(runner, "ensure_flashed", busy)
    summary = run(StubKind(), folders)
    assert summary["status"] == "error" and "in use by pid 42" in summary["reason"]
    assert runner.exit_code(summary) == 75
    assert json.loads((folders / "summary.json").read_text())["status"] == "error"
    assert "in use by pid 42" in junit_errors(folders)[0].text


def test_a_bug_in_a_kind_is_an_error_and_raised(folders):
    def broken(ctx):
        ctx.records.append({"name": "a", "ok": True})
        raise ValueError("kind bug")
    with pytest.raises(ValueError, match="kind bug"):
        run(StubKind(broken), folders)
    summary = json.loads((folders / "summary.json").read_text())
    assert summary["status"] == "error" and "kind bug" in summary["reason"]
    assert summary["error_kind"] == "infrastructure"


@pytest.mark.parametrize("problem", [KeyboardInterrupt(), RuntimeError()])
def test_a_problem_without_text_still_ends_in_a_summary(folders, problem):
    """Ctrl-C (a KeyboardInterrupt has no message) and a bare exception: summary, reason and raise."""
    def stopped(ctx):
        ctx.records.append({"name": "a", "ok": True})
        raise problem
    with pytest.raises(type(problem)):
        run(StubKind(stopped), folders)
    summary = json.loads((folders / "summary.json").read_text())
    assert summary["status"] == ("aborted" if isinstance(problem, KeyboardInterrupt) else "error")
    assert summary["reason"] == ("interrupted" if isinstance(problem, KeyboardInterrupt) else "RuntimeError")
    assert summary["shards"][0]["problem"] == summary["reason"]


def test_an_empty_run_is_an_error(folders):
    summary = run(StubKind(), folders)
    assert summary["status"] == "error" and summary["reason"] == "the campaign produced no results"


def test_when_the_summary_cannot_be_written_the_first_cause_is_raised(folders, monkeypatch):
    def lost(ctx):
        raise BoardBusy("qemu-virt-0", "console lost")
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(folders / "summary.json"))
    monkeypatch.setattr(runner, "_summarize", disk_full)
    with pytest.raises(BoardBusy, match="console lost"):
        run(StubKind(lost), folders)
