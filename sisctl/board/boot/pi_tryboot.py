"""boot.method pi-tryboot: a Raspberry Pi keeps its known-good OS; each session copies the artifact
to the boot partition over SSH and reboots into it once through the firmware's tryboot, so a power
cycle always brings the old OS back (which the session's end does).

    boot:
      method: pi-tryboot
      dtb: broadcom/bcm2711-rpi-4-b.dtb
      pi:                                    # sisctl/board/pi.py PiSpec
        model: pi4
        ssh: {host: rpi4-01.lab, user: pi, key_file: ~/.ssh/lab}
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from sisctl import config
from sisctl.board.pi import PiSpec, PiTryboot

if TYPE_CHECKING:
    from sisctl.board.board import BoardSession
    from sisctl.board.boot import BootRequest
    from sisctl.board.spec import BoardSpec

NAME = "pi-tryboot"
SECTION = ("pi", PiSpec)


def check(spec: BoardSpec, path) -> None:
    if spec.boot.pi is None:
        raise config.ConfigError(path, "boot.pi", "pi-tryboot needs a 'pi' section with the board's ssh")
    if any("\n" in line for line in spec.boot.pi.config_lines):
        raise config.ConfigError(path, "boot.pi.config_lines", "one line per item, without newlines")
    if spec.qemu is not None:
        raise config.ConfigError(path, "qemu", "pi-tryboot is for real Raspberry Pis; a QEMU board boots "
                                 "by qemu or uboot")
    if spec.power.model == "qmp":   # the end of every session power-cycles the Pi back to its own OS
        raise config.ConfigError(path, "power.model", "a real board needs a power switch model, not qmp")


def boot(session: BoardSession, request: BootRequest) -> None:
    spec = session.board.spec
    files = session.boot_files(request.append, spec.boot.dtb)

    def into_trial() -> None:
        tryboot = PiTryboot(spec.boot.pi, spec.power, session.name, session.progress)
        tryboot.stage(files)
        session.open_console(spec.console.url)
        session.on_close("bringing back the known-good OS", tryboot.restore)
        tryboot.reboot_into_trial()
    session.boot_real(into_trial, request)
