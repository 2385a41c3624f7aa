"""Every malformed board, recipe, test plan, benchmark suite, lab file and campaign folder here, run
through the real CLI: exit 2, one line naming the file and what is wrong, no traceback, nothing
started, no file touched."""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sisctl import errors
from sisctl.net import free_port
from sisctl.paths import PROJECT
from sisctl.board.spec import load_board
from sisctl.build.recipe import load_recipe
from sisctl.config import ConfigError
from tests.conftest import qemu_processes_mentioning

HERE = Path(__file__).parent
INVOKE = Path(sys.executable).parent / "invoke"
BOARDS = sorted((HERE / "boards").glob("*.yaml"))
RECIPES = sorted((HERE / "recipes").glob("*.yaml"))
PLANS = sorted((HERE / "plans").glob("*.yaml"))
SUITES = sorted((HERE / "suites").glob("*.yaml"))
LABS = sorted((HERE / "labs").glob("*.yaml"))
CAMPAIGNS = sorted(p for p in (HERE / "campaigns").iterdir() if p.is_dir())
BENCH = ["campaign", "--kind", "bench", "--board", "qemu-virt-0", "--baseline", "linux-kbuild", "--candidate",
         "linux-kbuild", "--suite"]


def command(path: Path) -> tuple[list[str], dict[str, str]]:
    """The task a case goes through, and the environment it adds."""
    folder = path.parent.name
    if folder == "labs":
        return ["fleet.list"], {"SISCTL_LAB": str(path)}
    return {"boards": ["flash", "--board"], "recipes": ["build", "--recipe"], "plans": ["nightly", "--dry-run", "--plan"],
            "suites": BENCH, "campaigns": ["campaign", "--resume"]}[folder] + [str(path)], {}


CASES = BOARDS + RECIPES + PLANS + SUITES + LABS + CAMPAIGNS


def expected(path: Path) -> str:
    if path.is_dir():
        return (path / "expect").read_text().strip()
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: "), f"{path}: first line must say what the error contains"
    return first.removeprefix("# expect: ")


def test_corpus_is_large_and_current():
    assert len(BOARDS) >= 50 and len(RECIPES) >= 20 and min(map(len, (PLANS, SUITES, LABS, CAMPAIGNS))) >= 10
    from tests.malformed import generate
    for found, cases in ((BOARDS, generate.BOARDS), (RECIPES, generate.RECIPES), (PLANS, generate.PLANS),
                         (SUITES, generate.SUITES), (LABS, generate.LABS), (CAMPAIGNS, generate.CAMPAIGNS)):
        assert {p.stem if p.is_file() else p.name for p in found} == set(cases), "run tests/malformed/generate.py"


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
    lab = tmp_path / "lab.yaml"     # no coordinator anywhere, whatever runs on this machine
    lab.write_text(f"coordinator: {{address: '', listen: '127.0.0.1:{free_port()}'}}\n")
    env = {k: v for k, v in os.environ.items() if k != "SISCTL_COORDINATOR"}
    env.update(SISCTL_STATE=str(tmp_path / "state"), SISCTL_REPORTS=str(tmp_path / "reports"),
               SISCTL_CACHE=str(tmp_path / "cache"), SISCTL_LAB=str(lab))

    def run(path):
        argv, extra = command(path)
        done = subprocess.run([str(INVOKE), *argv], capture_output=True, text=True, env={**env, **extra},
                              timeout=60)
        return path, argv, done

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, CASES))
    wrong = []
    for path, argv, done in results:
        lines = done.stderr.strip().splitlines()
        ok = (done.returncode == errors.USAGE and len(lines) == 1 and not done.stdout.strip()
              and lines[0].startswith(f"error: {path}") and expected(path) in lines[0]
              and "Traceback" not in done.stderr)
        if not ok:
            wrong.append(f"{argv[0]} {path.parent.name}/{path.name}: exit {done.returncode}: "
                         f"{done.stderr.strip()[:300]}")
    assert not wrong, "\n".join(wrong)
    assert not qemu_processes_mentioning(str(tmp_path))
    assert not (tmp_path / "cache").exists() and not (tmp_path / "reports").exists(), "nothing may start"
    changed = [str(p) for p, seen in before.items() if untouched([p]).get(p) != seen]
    assert not changed, f"touched by bad input: {changed}"
