"""Every malformed board and recipe here, run through the real CLI: exit 2, one line naming the
file and what is wrong, no traceback, no QEMU started."""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sisctl import errors
from sisctl.paths import PROJECT
from sisctl.board.spec import load_board
from sisctl.build.recipe import load_recipe
from sisctl.config import ConfigError
from tests.conftest import qemu_processes_mentioning

HERE = Path(__file__).parent
INVOKE = Path(sys.executable).parent / "invoke"
BOARDS = sorted((HERE / "boards").glob("*.yaml"))
RECIPES = sorted((HERE / "recipes").glob("*.yaml"))
CASES = [("flash", "--board", p) for p in BOARDS] + [("build", "--recipe", p) for p in RECIPES]


def expected(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: "), f"{path}: first line must say what the error contains"
    return first.removeprefix("# expect: ")


def test_corpus_is_large_and_current():
    assert len(BOARDS) >= 50 and len(RECIPES) >= 20
    from tests.malformed import generate
    assert {p.stem for p in BOARDS} == set(generate.BOARDS), "run tests/malformed/generate.py"
    assert {p.stem for p in RECIPES} == set(generate.RECIPES), "run tests/malformed/generate.py"


@pytest.mark.parametrize("path", BOARDS + RECIPES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_loader_names_file_and_key(path):
    load = load_board if path.parent.name == "boards" else load_recipe
    with pytest.raises(ConfigError) as caught:
        load(path)
    line = str(caught.value)
    assert "\n" not in line and line.startswith(str(path)) and expected(path) in line


def untouched(paths: list[Path]) -> dict[Path, tuple[int, int, int]]:
    """What a stray write, chmod or replacement would change: mtime, mode and inode of each file."""
    return {p: (s.st_mtime_ns, s.st_mode, s.st_ino) for p in paths if (s := p.stat())}


def test_each_file_through_the_cli(tmp_path):
    """The real `invoke flash/build`, one process per file, four at a time; neither the project's
    files nor the files outside it that cases name (/etc/passwd) are touched."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT, capture_output=True, check=True).stdout
    watched = [Path("/etc/passwd")] + [PROJECT / name for name in tracked.decode().split("\0") if name]
    before = untouched([p for p in watched if p.is_file()])
    env = {**os.environ, "SISCTL_STATE": str(tmp_path / "state"), "SISCTL_REPORTS": str(tmp_path / "reports"),
           "SISCTL_CACHE": str(tmp_path / "cache")}

    def run(case):
        task, option, path = case
        done = subprocess.run([str(INVOKE), task, option, str(path)], capture_output=True, text=True,
                              env=env, timeout=60)
        return case, done

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, CASES))
    wrong = []
    for (task, _, path), done in results:
        lines = done.stderr.strip().splitlines()
        ok = (done.returncode == errors.USAGE and len(lines) == 1 and not done.stdout.strip()
              and lines[0].startswith(f"error: {path}") and expected(path) in lines[0]
              and "Traceback" not in done.stderr)
        if not ok:
            wrong.append(f"{task} {path.name}: exit {done.returncode}: {done.stderr.strip()[:300]}")
    assert not wrong, "\n".join(wrong)
    assert not qemu_processes_mentioning(str(tmp_path))
    assert not (tmp_path / "cache").exists() and not (tmp_path / "reports").exists(), "nothing may start"
    changed = [str(p) for p, seen in before.items() if untouched([p]).get(p) != seen]
    assert not changed, f"touched by bad input: {changed}"
