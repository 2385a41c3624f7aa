"""The floors are a checked contract: import-linter keeps every import pointing down (pyproject.toml,
[tool.importlinter]), and a planted upward import breaks it with a message naming that import."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from sisctl.paths import PROJECT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env={"PYTHONPATH": str(root), "PATH": ""},
                          capture_output=True, text=True, timeout=300)


def test_the_floors_hold():
    done = lint(PROJECT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


def planted_copy(tmp_path: Path, module: str, line: str) -> Path:
    shutil.copytree(PROJECT / "sisctl", tmp_path / "sisctl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "pyproject.toml", tmp_path)
    target = tmp_path / (module.replace(".", "/") + ".py")
    target.write_text(target.read_text() + f"\n{line}  # planted\n")
    return tmp_path


def test_an_upward_import_breaks_the_floors(tmp_path):
    done = lint(planted_copy(tmp_path, "sisctl.board.qemu_caps", "import sisctl.campaign.core.runner"))
    assert done.returncode == 1
    assert "sisctl.board.qemu_caps -> sisctl.campaign.core.runner" in done.stdout


def test_board_and_fleet_never_import_each_other(tmp_path):
    done = lint(planted_copy(tmp_path, "sisctl.fleet.lease", "from sisctl.board.errors import BootTimeout"))
    assert done.returncode == 1
    assert "sisctl.fleet.lease -> sisctl.board.errors" in done.stdout


def test_campaign_kinds_stand_apart(tmp_path):
    done = lint(planted_copy(tmp_path, "sisctl.campaign.fuzz.inputs", "import sisctl.campaign.ext4crash.disk"))
    assert done.returncode == 1
    assert "sisctl.campaign.fuzz.inputs -> sisctl.campaign.ext4crash.disk" in done.stdout
