"""The guest image: an initramfs with busybox, the sisctl agent, a static e2fsck and the modules a board needs."""
from __future__ import annotations

import hashlib
import json
import shutil
from functools import lru_cache
from pathlib import Path

from sisctl import paths, proc
from sisctl.build import debian
from sisctl.build.artifact import Artifact
from sisctl.image.cpio import CpioWriter

AGENT_DIR = paths.PROJECT / "firmware" / "agent"
INIT_SCRIPT = paths.PROJECT / "firmware" / "guest" / "init"
CROSS_GCC = "aarch64-linux-gnu-gcc"


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def agent_digest() -> str:
    """Hash of the agent's sources: a guest image built from other sources is out of date."""
    stats = ((p, p.stat()) for p in sorted(AGENT_DIR.glob("*.[ch]")))
    return _sources_digest(tuple((p, st.st_mtime_ns, st.st_size) for p, st in stats))


@lru_cache(maxsize=8)
def _sources_digest(sources: tuple) -> str:   # read again only when a file's time or size changes
    return _digest(*(path.read_bytes() for path, _, _ in sources))[:16]


def build_agent(cache: Path) -> Path:
    """Cross-compile the static aarch64 agent, cached by the hash of its sources."""
    sources = sorted(AGENT_DIR.glob("*.[ch]"))
    out = cache / "agent" / f"sisagent-{agent_digest()}"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        with paths.written_into_place(out) as partial:
            proc.run([CROSS_GCC, "-static", "-O2", "-Wall", "-o", partial,
                      *(p for p in sources if p.suffix == ".c")], timeout=300)
    return out


def fetch_static(package: str, members: tuple[str, ...], cache: Path) -> Path:
    """A static arm64 program from Debian's `package`: the first of `members` (paths in the package)
    that it holds, cached by the package's version."""
    name, version = debian.resolve(package)
    out = cache / package / f"{package}-{version.replace(':', '_')}"
    if not out.exists():
        deb = debian.fetch_deb(name, version, "arm64", cache / "debs")
        unpacked = paths.partial_path(out)
        try:
            debian.unpack(deb, unpacked)
            found = [unpacked / member for member in members if (unpacked / member).is_file()]
            if not found:
                raise FileNotFoundError(f"{package} {version} holds none of {', '.join(members)}")
            found[0].replace(out)
        finally:
            shutil.rmtree(unpacked, ignore_errors=True)
    return out


def fetch_busybox(cache: Path) -> Path:
    return fetch_static("busybox-static", ("bin/busybox",), cache)


def fetch_e2fsck(cache: Path) -> Path:
    """Debian's static e2fsck: crash campaigns check a board's scratch device on the board."""
    return fetch_static("e2fsck-static", ("sbin/e2fsck.static", "usr/sbin/e2fsck.static"), cache)


def build_guest(artifact: Artifact, modules: list[str], cache: Path | None = None) -> Path:
    """Build (or reuse) the initramfs for `artifact` loading `modules` and their dependencies."""
    cache = cache or paths.cache_dir()
    agent, busybox, fsck = build_agent(cache), fetch_busybox(cache), fetch_e2fsck(cache)
    order = artifact.modules.load_order(modules)
    key = _digest(agent.read_bytes(), busybox.read_bytes(), fsck.read_bytes(), INIT_SCRIPT.read_bytes(),
                  json.dumps([artifact.sha256, [m.name for m in order]]).encode())
    out = cache / "guest" / f"initramfs-{key[:16]}.cpio.gz"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with paths.written_into_place(out) as partial, CpioWriter(partial) as cpio:
        busybox_system(cpio, busybox, INIT_SCRIPT, order)
        cpio.file("sbin/sisagent", agent.read_bytes(), 0o755)
        cpio.file("sbin/e2fsck", fsck.read_bytes(), 0o755)
    return out


BASE_FOLDERS = ("bin", "sbin", "dev", "etc", "lib", "lib/modules", "proc", "sys", "tmp", "mnt", "root")


def busybox_system(cpio: CpioWriter, busybox: Path, init: Path, order, folders=()) -> None:
    """What every initramfs of sisctl's holds: its folders, the console, busybox as /bin/sh, `init`,
    and the kernel modules in `order` with /etc/modules.order for init to load them by."""
    for folder in (*BASE_FOLDERS, *folders):
        cpio.directory(folder)
    cpio.char_device("dev/console", 5, 1)
    cpio.file("bin/busybox", busybox.read_bytes(), 0o755)
    cpio.symlink("bin/sh", "busybox")
    cpio.file("init", init.read_bytes(), 0o755)
    for module in order:
        cpio.file(f"lib/modules/{module.name}.ko", module.path.read_bytes())
    cpio.file("etc/modules.order", "".join(f"{m.name}.ko\n" for m in order).encode())
