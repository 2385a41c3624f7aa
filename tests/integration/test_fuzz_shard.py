"""A fuzz campaign sharded over two QEMU boards: each board fuzzes its own stream of inputs for the
whole duration, into one record log, one corpus and one summary."""
from __future__ import annotations

import json
from pathlib import Path

from sisctl.board.board import Board
from sisctl.board.firstuse import ensure_flashed
from sisctl.board.spec import find_board
from sisctl.campaign.core import runner

BOARDS = ("qemu-virt-0", "qemu-virt-1")


def test_fuzz_shards_over_two_boards_into_one_campaign(lab_dirs, debian_artifact, tmp_path):
    for name in BOARDS:
        ensure_flashed(Board(find_board(name)), progress=lambda _: None)
    corpus = tmp_path / "corpus"
    summary = runner.start("fuzz", BOARDS[0], {"target": "vfs-ops", "duration": "12s", "corpus": str(corpus)}, 5,
                           progress=lambda _: None, boards=",".join(BOARDS))
    assert summary["status"] == "passed", summary
    records = [json.loads(line) for line in (Path(summary["report"]) / "records.jsonl").read_text().splitlines()]
    batches = [r for r in records if r["type"] == "batch"]
    by_board = {name: sum(r["execs"] for r in batches if r["board"] == name) for name in BOARDS}
    assert all(by_board.values()), by_board                       # both boards fuzzed
    assert summary["execs"] == sum(by_board.values())
    assert [s["board"] for s in summary["shards"]] == list(BOARDS)
    assert all(s["status"] == "done" for s in summary["shards"]), summary["shards"]
    kept = len(list((corpus / "vfs-ops").glob("*.json")))   # one corpus: every board's additions
    assert kept >= max(r["corpus"] for r in batches) > 0
    assert summary["coverage"].startswith("none: this kernel has no KCOV")
