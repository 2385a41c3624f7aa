"""sisctl's stand-in for a board that runs its own OS: an initramfs with busybox, a serial login
(getty and login on ttyAMA0) and Debian's dropbear SSH server, booted with a Debian kernel on QEMU.
It plays the part of Raspberry Pi OS or a Yocto image for the shell and ssh targets.

Users: root (SSH with the authorized key only) and lab (serial login with the given password).
The host key is the host's own file, so the host knows it before the first connection."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sisctl import paths
from sisctl.build import debian
from sisctl.build.artifact import Artifact
from sisctl.image.cpio import CpioWriter
from sisctl.image.guest import busybox_system, fetch_busybox
from sisctl.proc import ToolError

INIT_SCRIPT = paths.PROJECT / "firmware" / "ownos" / "init"
PACKAGES = ("dropbear-bin", "libc6", "libgcc-s1", "libcrypt1", "libtomcrypt1", "libtommath1", "libgmp10", "zlib1g")
MODULES = ("virtio_pci", "virtio_net")
SKIPPED = ("usr/share", "usr/lib/aarch64-linux-gnu/gconv", "etc", "usr/bin/dbclient")


def build_ownos(artifact: Artifact, *, authorized_key: str, password: str, host_key: Path,
                modules: list[str] = (), cache: Path | None = None) -> Path:
    """The stand-in's initramfs for `artifact`: root authorizes `authorized_key` (an OpenSSH public
    key line, '' for none), lab logs in with `password` ('' locks the login), and dropbear serves
    `host_key` (an OpenSSH ed25519 private key); `modules` are loaded besides the network's. Cached
    by what goes into it."""
    cache = cache or paths.cache_dir()
    busybox = fetch_busybox(cache)
    trees = [_unpacked(name, cache) for name in PACKAGES]
    order = artifact.modules.load_order([*MODULES, *modules])
    shadow = _shadow(password)
    dropbear_key = _dropbear_key(host_key)
    key = hashlib.sha256(json.dumps([hashlib.sha256(busybox.read_bytes()).hexdigest(), [t.name for t in trees],
                                     INIT_SCRIPT.read_text(), artifact.sha256, [m.name for m in order],
                                     authorized_key, shadow, hashlib.sha256(dropbear_key).hexdigest()]).encode())
    out = cache / "ownos" / f"initramfs-{key.hexdigest()[:16]}.cpio.gz"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with paths.written_into_place(out) as partial, CpioWriter(partial) as cpio:
        busybox_system(cpio, busybox, INIT_SCRIPT, order,
                       ("etc/dropbear", "root/.ssh", "home", "home/lab", "usr", "usr/sbin", "var", "run"))
        for tree in trees:
            _add_tree(cpio, tree)
        cpio.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nlab:x:1000:1000:lab:/home/lab:/bin/sh\n")
        cpio.file("etc/group", b"root:x:0:\nlab:x:1000:\n")
        cpio.file("etc/shadow", shadow.encode(), 0o600)
        cpio.file("etc/shells", b"/bin/sh\n")
        cpio.file("etc/profile", b"export PS1='\\u@\\h:\\w\\$ ' PATH=/bin:/sbin:/usr/bin:/usr/sbin\n")
        cpio.file("etc/issue", b"sisctl stand-in OS \\n \\l\n\n")
        cpio.file("etc/dropbear/dropbear_ed25519_host_key", dropbear_key, 0o600)
        cpio.file("root/.ssh/authorized_keys", (authorized_key + "\n").encode() if authorized_key else b"", 0o600)
    return out


def _unpacked(name: str, cache: Path) -> Path:
    """Debian's arm64 package `name`, unpacked once into the cache."""
    name, version = debian.resolve(name)
    tree = cache / "ownos" / "debs" / f"{name}_{version.replace(':', '_')}"
    if not tree.exists():
        deb = debian.fetch_deb(name, version, "arm64", cache / "debs")
        partial = paths.partial_path(tree)
        shutil.rmtree(partial, ignore_errors=True)
        debian.unpack(deb, partial)
        partial.replace(tree)
    return tree


def _add_tree(cpio: CpioWriter, tree: Path) -> None:
    for root, dirs, files in os.walk(tree):
        rel = Path(root).relative_to(tree)
        dirs[:] = sorted(d for d in dirs if str(rel / d) not in SKIPPED)
        for name in dirs:
            path = Path(root) / name
            if path.is_symlink():
                cpio.symlink(str(rel / name), os.readlink(path))
            else:
                cpio.directory(str(rel / name))
        for name in sorted(files):
            path = Path(root) / name
            if str(rel / name) in SKIPPED:
                continue
            if path.is_symlink():
                cpio.symlink(str(rel / name), os.readlink(path))
            else:
                cpio.file(str(rel / name), path.read_bytes(), path.stat().st_mode & 0o7777)


def _shadow(password: str) -> str:
    """/etc/shadow: root has no password (keys only); lab has `password` (SHA-512 crypt, a salt
    derived from it, so the same password gives the same image)."""
    if not password:
        return "root:*:19000:0:99999:7:::\nlab:!:19000:0:99999:7:::\n"
    salt = hashlib.sha256(b"sisctl-ownos" + password.encode()).hexdigest()[:16]
    try:
        hashed = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input=password,
                                capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as err:
        raise ToolError(f"openssl passwd could not hash the stand-in's password: {err}") from None
    return f"root:*:19000:0:99999:7:::\nlab:{hashed}:19000:0:99999:7:::\n"


def _dropbear_key(host_key: Path) -> bytes:
    """An OpenSSH ed25519 private key in dropbear's own format: the key type, then seed and public key."""
    private = serialization.load_ssh_private_key(host_key.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ToolError(f"{host_key}: the stand-in's host key must be ed25519")
    seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kind = b"ssh-ed25519"
    return len(kind).to_bytes(4, "big") + kind + (64).to_bytes(4, "big") + seed + public
