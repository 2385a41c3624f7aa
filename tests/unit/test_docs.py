"""The docs: the site in docs/ builds with `mkdocs build --strict` (a broken link, a missing anchor or a
page left out of the nav fails it), and README.md stays the short newcomer's page whose links resolve."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sisctl.paths import PROJECT

README = PROJECT / "README.md"
README_LIMIT = 10 * 1024
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def mkdocs_build(root: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "--config-file", str(root / "mkdocs.yml"), "--site-dir", str(site)],
                          cwd=root, capture_output=True, text=True, timeout=120)


def copy_of_the_docs(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(PROJECT / "docs", root / "docs")
    shutil.copy(PROJECT / "mkdocs.yml", root / "mkdocs.yml")
    return root


def test_the_site_builds_in_strict_mode(tmp_path):
    done = mkdocs_build(PROJECT, tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def test_a_broken_link_fails_the_build(tmp_path):
    root = copy_of_the_docs(tmp_path)
    page = root / "docs" / "fleet.md"
    page.write_text(page.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    done = mkdocs_build(root, tmp_path / "site")
    assert done.returncode != 0
    assert "no-such-page.md" in done.stdout + done.stderr


def test_a_page_missing_from_the_nav_fails_the_build(tmp_path):
    root = copy_of_the_docs(tmp_path)
    (root / "docs" / "orphan.md").write_text("# Orphan\n\nIn no nav.\n")
    done = mkdocs_build(root, tmp_path / "site")
    assert done.returncode != 0
    assert "orphan.md" in done.stdout + done.stderr


def test_the_readme_stays_short():
    size = len(README.read_bytes())
    assert size < README_LIMIT, f"README.md is {size} bytes; move detail into docs/ (limit {README_LIMIT})"


def readme_links() -> list[str]:
    text = FENCE.sub("", README.read_text(encoding="utf-8"))
    return LINK.findall(text)


def test_every_relative_link_in_the_readme_resolves():
    links = readme_links()
    assert links, "the README links to the docs"
    broken = []
    for link in links:
        parts = urlsplit(link)
        if parts.scheme or parts.netloc or link.startswith("#"):
            continue
        if not (README.parent / unquote(parts.path)).exists():
            broken.append(link)
    assert not broken, f"README.md links to missing files: {broken}"


def test_the_readme_keeps_its_two_commands():
    text = README.read_text(encoding="utf-8")
    assert "lab/invoke nightly   # the main job" in text
    assert "lab/invoke test      # the test suite" in text
