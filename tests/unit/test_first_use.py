"""First use of a board: flashed with its default recipe (or its own kernel again when the agent
changed), saying so; a board flashed with the current agent is left alone."""
from __future__ import annotations

import json
from dataclasses import asdict
from types import SimpleNamespace

import pytest

from sisctl.board import firstuse
from sisctl.board.board import Board, FlashRecord
from sisctl.board.errors import BoardError


class FakeBoard(Board):
    """A Board whose flash only writes the record a real flash writes."""

    def __init__(self, state):
        self.name, self.state = "qemu-test", state
        self.spec = SimpleNamespace(recipe="debian-arm64", boot=SimpleNamespace(method="qemu"))
        self.flashed_with = []

    def flash(self, artifact, progress=print):
        self.flashed_with.append(artifact)
        (self.state / "flashed.json").write_text(json.dumps(asdict(record(firstuse.agent_digest(), artifact))))


def record(agent: str, artifact: str = "/cache/artifacts/old") -> FlashRecord:
    return FlashRecord(artifact, "/cache/initrd", "ab" * 32, "b1d", "6.1.0-test", "2026-01-01T00:00:00Z", agent)


@pytest.fixture
def board(tmp_path, monkeypatch):
    monkeypatch.setattr(firstuse, "find_recipe", lambda name: f"recipe:{name}")
    monkeypatch.setattr(firstuse, "build", lambda recipe, progress: f"artifact of {recipe}")
    return FakeBoard(tmp_path)


def test_a_board_never_flashed_gets_its_default_recipe_and_says_so(board):
    said = []
    got = firstuse.ensure_flashed(board, said.append)
    assert board.flashed_with == ["artifact of recipe:debian-arm64"]
    assert said == ["qemu-test: nothing flashed yet; flashing its default recipe 'debian-arm64' first"]
    assert got.artifact == "artifact of recipe:debian-arm64"


def test_a_board_that_runs_its_installed_kernel_builds_nothing(board):
    board.spec.boot.method = "installed"
    firstuse.ensure_flashed(board, lambda _: None)
    assert board.flashed_with == [None]      # flash records the running kernel instead


def test_a_flashed_board_is_left_alone(board):
    (board.state / "flashed.json").write_text(json.dumps(asdict(record(firstuse.agent_digest()))))
    said = []
    assert firstuse.ensure_flashed(board, said.append).kernel_version == "6.1.0-test"
    assert board.flashed_with == [] and said == []


def test_an_older_agent_gets_the_same_kernel_again(board, monkeypatch):
    (board.state / "flashed.json").write_text(json.dumps(asdict(record("0ld"))))
    monkeypatch.setattr(FlashRecord, "load_artifact", lambda self: f"loaded {self.artifact}")
    said = []
    firstuse.ensure_flashed(board, said.append)
    assert board.flashed_with == ["loaded /cache/artifacts/old"]
    assert "older agent" in said[0] and "6.1.0-test" in said[0]


@pytest.mark.parametrize("text", ["{torn", '{"artifact": 1}', "[]"])
def test_an_unreadable_flash_record_is_named_not_reflashed(board, text):
    (board.state / "flashed.json").write_text(text)
    with pytest.raises(BoardError, match=r"flashed.json: not a readable flash record .*invoke flash --board"):
        firstuse.ensure_flashed(board, lambda _: None)
    assert board.flashed_with == []


def test_partial_files_are_per_writer_and_those_of_dead_writers_are_found(tmp_path):
    import os
    import subprocess
    import sys
    from sisctl.paths import partial_path, stale_partials
    target = tmp_path / "initramfs.cpio.gz"
    mine = partial_path(target)
    assert mine != target and mine.parent == tmp_path and str(os.getpid()) in mine.name
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (tmp_path / f".{target.name}.{dead}-1.partial").mkdir()
    mine.write_bytes(b"x")
    (tmp_path / ".other.cpio.gz.1-1.partial").write_bytes(b"x")
    assert stale_partials(target) == [tmp_path / f".{target.name}.{dead}-1.partial"]


def test_a_write_into_place_that_fails_leaves_neither_the_file_nor_its_partial(tmp_path):
    from sisctl.paths import written_into_place
    target = tmp_path / "Image.gz"
    with pytest.raises(RuntimeError):
        with written_into_place(target) as partial:
            partial.write_bytes(b"half")
            raise RuntimeError("compressor died")
    assert list(tmp_path.iterdir()) == []
    with written_into_place(target) as partial:
        partial.write_bytes(b"whole")
    assert target.read_bytes() == b"whole" and list(tmp_path.iterdir()) == [target]
