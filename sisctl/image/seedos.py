"""sisctl's stand-in for a shell-only kernel shaped like the seed kernel: an initramfs whose init
offers only a `sis> ` prompt (firmware/seedos: help, version, memctl, crashctl, fsctl stress and
verify as small busybox scripts), booted with a Debian kernel through UEFI. It plays the part of a
kernel sisctl cannot put its agent on, for the prompt target and its crash campaign."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sisctl import paths
from sisctl.build.artifact import Artifact
from sisctl.image.cpio import CpioWriter
from sisctl.image.guest import busybox_system, fetch_busybox

SCRIPTS = paths.PROJECT / "firmware" / "seedos"
MODULES = ("virtio_pci", "virtio_blk", "ext4")


def build_seedos(artifact: Artifact, modules: list[str] = (), cache: Path | None = None) -> Path:
    """The stand-in's initramfs for `artifact`, loading `modules` besides those its fsctl needs."""
    cache = cache or paths.cache_dir()
    busybox = fetch_busybox(cache)
    order = artifact.modules.load_order([*MODULES, *modules])
    scripts = {name: (SCRIPTS / name).read_bytes() for name in ("shell", "fsctl")}
    key = hashlib.sha256(busybox.read_bytes() + (SCRIPTS / "init").read_bytes() + json.dumps(
        [artifact.sha256, [m.name for m in order], {k: v.decode() for k, v in scripts.items()}]).encode())
    out = cache / "seedos" / f"initramfs-{key.hexdigest()[:16]}.cpio.gz"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with paths.written_into_place(out) as partial, CpioWriter(partial) as cpio:
        busybox_system(cpio, busybox, SCRIPTS / "init", order, ("sis",))
        for name, text in scripts.items():
            cpio.file(f"sis/{name}", text, 0o644)
    return out
