"""Raspberry Pi tryboot, SSH side: a real sshd serves a boot partition laid out like a Pi's, a
reboot shim sets the firmware's tryboot flag, a loopback smart plug's power cycle clears it (as the
firmware does), and a loopback console plays the trial kernel. A kernel that panics must leave the
board back on its known-good OS, with config.txt untouched."""
from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from sisctl.board.board import Board
from sisctl.board.errors import BoardError, KernelCrash
from sisctl.board.pi import PiTryboot
from sisctl.board.power import QmpPower
from sisctl.board.power.tasmota import TasmotaPower
from sisctl.board.pi import PiSpec
from sisctl.board.spec import load_board
from sisctl.board.uboot import BootFiles
from sisctl.build.builder import build
from sisctl.build.recipe import find_recipe
from tests.integration.standins import SerialLine, start_board

KNOWN_GOOD = "# the known-good OS\narm_64bit=1\nkernel=kernel8.img\n"


class FakePi:
    """The Pi's side: boot partition, firmware flag, reboot shim, smart plug and console."""

    def __init__(self, root: Path, comes_back: bool = True):
        self.boot = root / "boot" / "firmware"
        self.boot.mkdir(parents=True)
        (self.boot / "config.txt").write_text(KNOWN_GOOD)
        self.flag = root / "tryboot-flag"
        self.flag.write_bytes(b"\0\0\0\0")
        self.reboots = root / "reboots"
        self.shim = root / "reboot"
        self.shim.write_text(f"#!/bin/sh\necho \"$@\" >> {self.reboots}\nprintf '\\000\\000\\000\\001' > {self.flag}\n")
        self.shim.chmod(0o755)
        self.power_log: list[str] = []
        fake = self

        class Plug(BaseHTTPRequestHandler):
            def do_GET(self):
                command = parse_qs(urlparse(self.path).query)["cmnd"][0]
                fake.power_log.append(command)
                if command == "Power Off":
                    fake.power_off()
                if command == "Power On" and comes_back:
                    fake.flag.write_bytes(b"\0\0\0\0")   # the firmware boots config.txt again
                self.send_response(200)
                self.end_headers()
                self.wfile.write(json.dumps({"POWER": "ON"}).encode())

            def log_message(self, *args):
                pass

        self.plug = ThreadingHTTPServer(("127.0.0.1", 0), Plug)
        threading.Thread(target=self.plug.serve_forever, daemon=True).start()
        self.console = socket.create_server(("127.0.0.1", 0))
        self._closed = threading.Event()
        threading.Thread(target=self._firmware, daemon=True).start()

    @property
    def console_url(self) -> str:
        return f"socket://127.0.0.1:{self.console.getsockname()[1]}"

    def _firmware(self) -> None:
        """Each time a tryboot reboot is asked for, the firmware boots the trial configuration.
        (This thread lives until close: a board it starts dies with it.)"""
        while True:
            for trial in (True, False):            # wait for the flag to be set, then cleared
                while (self.flag.read_bytes() != b"\0\0\0\0") != trial:
                    if self._closed.wait(0.05):
                        return
                if trial:
                    self.boot_trial()

    def boot_trial(self) -> None:
        """This trial kernel cannot mount its root: it prints a panic."""
        try:
            conn, _ = self.console.accept()
        except OSError:
            return
        conn.sendall(b"[    1.234] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\r\n"
                     b"[    1.235] ---[ end Kernel panic - not syncing: VFS ]---\r\n")
        time.sleep(5)
        conn.close()

    def power_off(self) -> None:
        pass

    def close(self) -> None:
        self._closed.set()
        self.plug.shutdown()
        self.plug.server_close()
        self.console.close()
        self.power_off()


class QemuPi(FakePi):
    """A FakePi whose firmware really boots the trial: it reads tryboot.txt as the Pi's firmware
    does (os_prefix, kernel, initramfs, device_tree, dtoverlay=disable-bt, cmdline.txt) and starts
    QEMU's raspi3b with those files on a serial line; a power cut stops it."""

    def __init__(self, root: Path, line: SerialLine):
        self.line, self.log = line, root / "board.log"
        self.qemu: subprocess.Popen | None = None
        self.trials = 0
        super().__init__(root)

    @property
    def console_url(self) -> str:
        return self.line.paths[0]

    def boot_trial(self) -> None:
        lines = [ln.strip() for ln in (self.boot / "tryboot.txt").read_text().splitlines()]
        settings = dict(ln.split("=", 1) for ln in lines if "=" in ln and not ln.startswith("#"))
        folder = self.boot / settings["os_prefix"]
        initramfs = next(ln.split()[1] for ln in lines if ln.startswith("initramfs "))
        dtb = folder / settings["device_tree"]
        if "dtoverlay=disable-bt" in lines:     # the overlay frees the PL011 from Bluetooth
            dtb = shutil.copy(dtb, self.log.with_name("trial.dtb"))
            subprocess.run(["fdtput", "-r", str(dtb), "/soc/serial@7e201000/bluetooth"], check=True)
        self.trials += 1
        self.qemu = start_board(["qemu-system-aarch64", "-M", "raspi3b", "-m", "1024", "-smp", "4", "-nodefaults",
                                 "-no-user-config", "-display", "none", "-kernel", str(folder / settings["kernel"]),
                                 "-initrd", str(folder / initramfs), "-dtb", str(dtb),
                                 "-append", (folder / "cmdline.txt").read_text().strip(),
                                 "-serial", self.line.paths[1]], self.log)

    def power_off(self) -> None:
        if self.qemu:
            self.qemu.kill()
            self.qemu.wait(10)
            self.qemu = None


def pi_spec(sshd, fake: FakePi, model: str = "pi4") -> PiSpec:
    return PiSpec(ssh=sshd, model=model, boot_dir=str(fake.boot), reboot_command=f"{fake.shim} '0 tryboot'",
                  tryboot_flag=str(fake.flag), sudo="", back_timeout_s=5)


def board_yaml(tmp_path: Path, sshd, fake: FakePi) -> Path:
    path = tmp_path / "rpi4-test.yaml"
    path.write_text(yaml.safe_dump({
        "name": "rpi4-test", "console": {"url": fake.console_url, "crash_grace_s": 1},
        "power": {"model": "tasmota", "url": f"http://127.0.0.1:{fake.plug.server_port}", "off_time_s": 0.1},
        "boot": {"method": "pi-tryboot", "cmdline": "console=ttyAMA0,115200 panic=-1", "ready_timeout_s": 20,
                 "modules": [],
                 "pi": {**pi_spec(sshd, fake).__dict__, "ssh": sshd.__dict__}}}))
    return path


@pytest.fixture
def fake_pi(tmp_path):
    fake = FakePi(tmp_path / "pi")
    yield fake
    fake.close()


@pytest.mark.parametrize("model", ["pi4", "pi5"])
def test_tryboot_layout_leaves_config_txt_alone(sshd, fake_pi, tmp_path, model):
    kernel, initrd, dtb = (tmp_path / n for n in ("Image", "initrd", "bcm2712-rpi-5-b.dtb"))
    for path in (kernel, initrd, dtb):
        path.write_bytes(path.name.encode() * 1000)
    files = BootFiles(kernel, initrd, dtb, "console=ttyAMA10,115200 panic=-1")
    PiTryboot(pi_spec(sshd, fake_pi, model), QmpPower(), "pi").stage(files)
    folder = fake_pi.boot / "sisctl"
    for path in (kernel, initrd, dtb):
        assert hashlib.sha256((folder / path.name).read_bytes()).digest() == hashlib.sha256(path.read_bytes()).digest()
    assert (folder / "cmdline.txt").read_text() == files.cmdline + "\n"
    tryboot = (fake_pi.boot / "tryboot.txt").read_text()
    assert "os_prefix=sisctl/" in tryboot and "kernel=Image" in tryboot and "initramfs initrd followkernel" in tryboot
    assert f"device_tree={dtb.name}" in tryboot
    assert ("arm_64bit=1" in tryboot) == (model == "pi4")
    assert (fake_pi.boot / "config.txt").read_text() == KNOWN_GOOD


def test_a_panicking_trial_kernel_rolls_back_to_the_known_good_os(sshd, fake_pi, tmp_path, debian_artifact):
    board = Board(load_board(board_yaml(tmp_path, sshd, fake_pi)), state_root=tmp_path / "state", reports=tmp_path)
    with pytest.raises(KernelCrash, match="Kernel panic"):
        board.flash(debian_artifact, progress=lambda _: None)
    assert fake_pi.reboots.read_text().split() == ["0", "tryboot"]        # one trial boot, asked for
    assert fake_pi.power_log[-2:] == ["Power Off", "Power On"]            # recovered by a power cycle
    assert fake_pi.flag.read_bytes() == b"\0\0\0\0"                       # and verified back home
    assert (fake_pi.boot / "config.txt").read_text() == KNOWN_GOOD


def test_a_board_that_stays_in_tryboot_is_reported(sshd, tmp_path):
    fake = FakePi(tmp_path / "pi", comes_back=False)
    try:
        fake.flag.write_bytes(b"\0\0\0\1")
        with pytest.raises(BoardError, match="did not come back.*still in tryboot"):
            PiTryboot(pi_spec(sshd, fake), TasmotaPower(url=f"http://127.0.0.1:{fake.plug.server_port}",
                                                        off_time_s=0.1), "pi").restore()
    finally:
        fake.close()


def test_a_trial_kernel_boots_to_the_agent_and_the_pi_comes_home(sshd, tmp_path):
    artifact = build(find_recipe("debian-arm64-generic"))      # has the Pi device trees
    line = SerialLine()
    pi = QemuPi(tmp_path / "pi", line)
    try:
        path = board_yaml(tmp_path, sshd, pi)
        data = yaml.safe_load(path.read_text())
        data["boot"].update(dtb="broadcom/bcm2837-rpi-3-b.dtb", ready_timeout_s=120)
        data["boot"]["pi"]["config_lines"] = ["dtoverlay=disable-bt"]
        path.write_text(yaml.safe_dump(data))
        board = Board(load_board(path), state_root=tmp_path / "state", reports=tmp_path)
        flashed = board.flash(artifact, progress=lambda _: None)   # one trial boot, to the agent
        log = (Path(flashed["run_dir"]) / "console.log").read_text(errors="replace")
        assert "Machine model: Raspberry Pi 3 Model B" in log and artifact.manifest["kernel_version"] in log
        assert pi.trials == 1 and pi.reboots.read_text().split() == ["0", "tryboot"]
        # The session's end cut the power (stopping the trial) and the known-good OS came back.
        assert pi.power_log[-2:] == ["Power Off", "Power On"] and pi.qemu is None
        assert pi.flag.read_bytes() == b"\0\0\0\0"
        assert (pi.boot / "config.txt").read_text() == KNOWN_GOOD
    finally:
        pi.close()
        line.close()
