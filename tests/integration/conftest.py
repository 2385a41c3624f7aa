from __future__ import annotations

import pytest

from sisctl.board.board import Board
from sisctl.board.spec import find_board
from sisctl.build.builder import build
from sisctl.build.recipe import find_recipe


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath) and not item.get_closest_marker("kbuild"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def debian_artifact():
    return build(find_recipe("debian-arm64"))


@pytest.fixture(scope="session")
def board(lab_dirs, debian_artifact) -> Board:
    """qemu-virt-0 with the Debian kernel flashed (one cold boot, then a ready snapshot)."""
    board = Board(find_board("qemu-virt-0"))
    board.flash(debian_artifact)
    return board
