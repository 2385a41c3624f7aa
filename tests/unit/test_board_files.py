"""Every board file shipped in boards/ loads and says what it is."""
from __future__ import annotations

import pytest

from sisctl import paths
from sisctl.board.boot import METHODS
from sisctl.board.spec import load_board

BOARDS = sorted(paths.boards_dir().glob("*.yaml"))


@pytest.mark.parametrize("path", BOARDS, ids=[p.stem for p in BOARDS])
def test_shipped_board_loads(path):
    spec = load_board(path)
    assert spec.description and path.read_text().startswith("#"), "document the board at the top"


def test_examples_cover_each_kind_of_board():
    methods = {load_board(p).boot.method for p in BOARDS}
    assert methods == set(METHODS)          # a shipped example of every boot method
    assert {load_board(p).boot.pi.model for p in BOARDS if load_board(p).boot.method == "pi-tryboot"} == {"pi4", "pi5"}
