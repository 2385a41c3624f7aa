"""The initramfs a QEMU board boots when its target is an OS of its own (kinds shell and ssh):
sisctl's stand-in system (`image: standin`, sisctl/image/ownos.py: busybox with a serial login
and an SSH server) or the path of an initramfs the user brings."""
from __future__ import annotations

import os
from pathlib import Path

from sisctl import config, paths, proc
from sisctl.errors import UsageError
from sisctl.image.ownos import build_ownos

STANDIN = "standin"


def is_qemu(spec) -> bool:
    return spec.qemu is not None or spec.console.url == "qemu"


def require_image(spec, path) -> None:
    """A QEMU board with its own OS must say which initramfs holds that OS."""
    image = spec.target.image
    if not is_qemu(spec):
        if image:
            raise config.ConfigError(path, "target.image", "a real board boots the OS on its own storage; "
                                     "target.image is for QEMU boards only")
        return
    if not image:
        raise config.ConfigError(path, "target.image", f"a QEMU board whose target is {spec.target.kind} boots "
                                 f"an initramfs with its own OS: '{STANDIN}' (sisctl's stand-in) or its path")
    if image != STANDIN and not Path(os.path.expanduser(image)).is_file():
        raise config.ConfigError(path, "target.image", f"no file {image}")


def guest_image(board, artifact) -> Path:
    image = board.spec.target.image
    if image != STANDIN:
        return Path(os.path.expanduser(image))
    return build_ownos(artifact, authorized_key=authorized_key(board), password=_password(board),
                       host_key=host_key(board), modules=board.spec.boot.modules)


def host_key(board) -> Path:
    """The stand-in's SSH host key, made on the host once per board: so the host knows it in advance."""
    return _keypair(board.state / "standin-host-key", f"{board.name}-standin")


def client_key(board) -> Path:
    """The ssh target's private key: the board file's, or for a stand-in without one, sisctl's own."""
    key_file = getattr(board.spec.target, "key_file", "")
    if key_file:
        return Path(os.path.expanduser(key_file))
    return _keypair(board.state / "standin-client-key", f"sisctl@{board.name}")


def _keypair(key: Path, comment: str) -> Path:
    if not key.exists():
        with paths.written_into_place(key) as partial:
            proc.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", partial], timeout=30)
            Path(f"{partial}.pub").replace(f"{key}.pub")
    return key


def authorized_key(board) -> str:
    """The public half of the ssh target's key, or '' when the board has no ssh target."""
    if board.spec.target.kind != "ssh":
        return ""
    public = Path(f"{client_key(board)}.pub")
    try:
        return public.read_text().strip()
    except OSError as err:
        raise UsageError(f"{board.name}: the stand-in needs the public key {public} ({err.strerror or err})") from None


def _password(board) -> str:
    secret = getattr(board.spec.target, "password", None)
    password = secret.read(board.name, "the login password") if secret else ""
    if secret and not password:
        raise UsageError(f"{board.name}: the login password is empty; the stand-in would lock the login "
                         "(give it one in target.password's variable or file)")
    return password
