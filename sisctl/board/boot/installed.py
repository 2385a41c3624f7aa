"""boot.method installed: test what the board runs. Nothing is staged: a session switches the
board on through its power switch (with a manual one it is on already) and the target (ssh, shell
or prompt) attaches to the OS and kernel installed on it. `invoke flash` installs nothing there:
it records the running kernel (release and GNU build id), so every result names what was tested.

    boot:
      method: installed
    target: {kind: ssh, host: pi4-01.lab, user: pi, key_file: ~/.ssh/lab, known_hosts: ~/.ssh/known_hosts}
    console: {url: /dev/ttyUSB0}
    power: {model: manual}

A session cannot boot another kernel here (a benchmark's variants, a KTAP kernel): that is refused.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from sisctl import config

if TYPE_CHECKING:
    from sisctl.board.board import BoardSession
    from sisctl.board.boot import BootRequest
    from sisctl.board.spec import BoardSpec

NAME = "installed"
SECTION = None
STAGES_KERNEL = False


def check(spec: BoardSpec, path) -> None:
    if spec.qemu is not None:
        raise config.ConfigError(path, "qemu", "a QEMU board boots the kernel sisctl gives it; 'installed' is for "
                                 "a real board that keeps its own")
    if spec.target.kind == "agent":
        raise config.ConfigError(path, "target.kind", "an installed OS has no sisctl initramfs to answer: use "
                                 "ssh, shell or prompt")
    if spec.power.model == "qmp":
        raise config.ConfigError(path, "power.model", "a real board needs a power switch model, not qmp")


def boot(session: BoardSession, request: BootRequest) -> None:
    session.boot_real(lambda: session.power_on(None), request, mode="installed")
