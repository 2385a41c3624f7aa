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


def test_a_device_tree_the_kernel_lacks_is_bad_input_before_anything_is_flashed(tmp_path, monkeypatch):
    from sisctl.board.board import Board
    from sisctl.build.artifact import write_manifest
    from sisctl.errors import UsageError
    from tests.unit.test_inputs import fake_image
    monkeypatch.setenv("SISCTL_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("SISCTL_COORDINATOR", "")
    kernel = tmp_path / "kernel"
    (kernel / "dtbs").mkdir(parents=True)
    (kernel / "Image").write_bytes(fake_image())
    artifact = write_manifest(kernel, {"name": "k"}, "key", None)
    board = tmp_path / "b-dtb.yaml"
    board.write_text("name: b-dtb\nqemu: {dtb: vendor/nope.dtb}\n")
    with pytest.raises(UsageError) as caught:
        Board(load_board(board)).flash(artifact)
    assert str(caught.value) == (f"{board}: key 'qemu.dtb': the kernel kernel has no device tree vendor/nope.dtb "
                                 f"(in {kernel / 'dtbs'})")
    assert not list((tmp_path / "state").rglob("flashed.json")), "nothing is flashed"
