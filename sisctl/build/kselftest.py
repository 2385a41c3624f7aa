"""kselftest collections from the kernel source (tools/testing/selftests of Debian's linux-source),
cross-compiled for arm64, static, installed with the kernel's own list of tests, and put on an
ext4 image a QEMU board gets as a virtio disk. Cached by what went in: the source, the
collections and the compiler."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sisctl import paths, proc
from sisctl.build.kbuild import extract_source, source_tarball
from sisctl.errors import UsageError
from sisctl.image.ext4 import make_ext4_with

CROSS = "aarch64-linux-gnu-"
COLLECTION = re.compile(r"[a-z0-9][a-z0-9_-]*")
LAYOUT = 1
BUILD_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Kselftests:
    folder: Path                           # COLLECTION/TEST files and kselftest-list.txt
    image: Path                            # the same tree on ext4
    tests: tuple[tuple[str, str], ...]     # (collection, test), in the kernel's order


def parse_collections(text: str) -> list[str]:
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    bad = next((n for n in names if not COLLECTION.fullmatch(n)), None)
    if bad is not None:
        raise UsageError(f"--kselftest: {bad!r} is not a kselftest collection name (e.g. size, mincore)")
    return list(dict.fromkeys(names))


def build_kselftests(collections: list[str], cache: Path | None = None,
                     progress: Callable[[str], None] = print) -> Kselftests:
    cache = cache or paths.cache_dir()
    tarball = source_tarball()
    compiler = proc.run([f"{CROSS}gcc", "--version"], timeout=30).stdout.splitlines()[0]
    key = hashlib.sha256(json.dumps([LAYOUT, tarball.name, tarball.stat().st_size, sorted(collections),
                                     compiler]).encode()).hexdigest()[:16]
    out = cache / "kselftest" / f"kselftest-{key}"
    if not (out / "kselftest-list.txt").exists():
        progress(f"kselftest: building {', '.join(collections)} for arm64")
        out.parent.mkdir(parents=True, exist_ok=True)
        with paths.written_into_place(out) as partial:
            _build(extract_source(tarball, cache), collections, partial)
    image = out.with_suffix(".ext4")
    if not image.exists():
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        with paths.written_into_place(image) as partial:
            make_ext4_with(partial, out, max(32 << 20, 2 * size + (16 << 20)))
    tests = tuple(tuple(line.split(":", 1)) for line in (out / "kselftest-list.txt").read_text().split()
                  if ":" in line)
    missing = [c for c in collections if c not in {t[0] for t in tests}]
    if missing:
        log = out / "build.log"
        raise UsageError(f"--kselftest: {', '.join(missing)} did not build for arm64 here (see {log})")
    return Kselftests(out, image, tests)


def _build(tree: Path, collections: list[str], install: Path) -> None:
    """Headers, then the collections, out of the tree; a collection that does not build is left out
    of the list (the make of the others goes on), and the build log says why."""
    with tempfile.TemporaryDirectory(prefix="kselftest-") as work:
        work = Path(work)
        proc.run(["make", "-s", "-C", tree, f"O={work / 'hdr'}", "ARCH=arm64", "headers"], timeout=600)
        done = proc.run(["make", "-C", tree / "tools/testing/selftests", "ARCH=arm64", f"CROSS_COMPILE={CROSS}",
                         f"CC={CROSS}gcc -static", f"O={work / 'build'}",
                         f"KHDR_INCLUDES=-isystem {work / 'hdr/usr/include'}", f"TARGETS={' '.join(collections)}",
                         f"INSTALL_PATH={install}", "install"], timeout=BUILD_TIMEOUT_S, check=False)
        install.mkdir(parents=True, exist_ok=True)
        (install / "build.log").write_text(done.stdout + done.stderr)
        if not (install / "kselftest-list.txt").exists():
            (install / "kselftest-list.txt").write_text("")
    shutil.rmtree(install / "kselftest", ignore_errors=True)   # the runner's helpers: tests run one at a time
