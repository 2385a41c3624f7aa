"""The serial side of a Raspberry Pi 3: QEMU raspi3b, Debian's generic kernel, the Pi's device tree."""
from __future__ import annotations

import pytest

from sisctl.board.board import Board
from sisctl.board.spec import find_board
from sisctl.build.builder import build
from sisctl.build.recipe import find_recipe


@pytest.mark.slow
def test_pi3_boots_to_the_agent_and_knows_it_is_a_pi(lab_dirs):
    board = Board(find_board("qemu-raspi3b"))
    board.flash(build(find_recipe("debian-arm64-generic")))
    with board.session(label="pi3") as session:
        assert session.boot_mode == "snapshot"
        model = session.run("cat /proc/device-tree/model").stdout.rstrip(b"\0")
        assert model == b"Raspberry Pi 3 Model B"
        assert session.run("uname -m").text == "aarch64\n"
