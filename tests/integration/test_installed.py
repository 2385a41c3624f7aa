"""Test what is installed: a board that keeps its own OS and kernel (boot method installed), reached
over SSH and by its serial login. The "board" is QEMU running sisctl's own-OS stand-in with the
Debian kernel, started and cut by an HTTP PDU's outlet, its console on a serial line; sisctl stages
nothing and records the kernel it finds."""
from __future__ import annotations

import time

import pytest
import yaml

from sisctl.board.board import Board
from sisctl.board.spec import load_board
from sisctl.errors import UsageError
from sisctl.image.ownos import build_ownos
from sisctl.jobs.smoke import run_smoke
from sisctl.net import free_port
from tests.integration.conftest import keygen
from tests.integration.standins import Pdu, SerialLine

PDU_USER, PDU_PASSWORD = "lab", "outlet-secret"
LOGIN_PASSWORD = "installed-login"


@pytest.fixture(scope="module")
def installed(tmp_path_factory, lab_dirs, debian_artifact):
    """(board file writer, pdu): a powered-off board whose installed OS answers SSH and a serial login;
    one for the module (its image takes seconds to pack)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield from _installed(tmp_path_factory.mktemp("installed"), debian_artifact, monkeypatch)


@pytest.fixture
def fresh(installed):
    """The module's board, its PDU's request log cleared for this test."""
    installed[1].requests.clear()
    return installed


def _installed(tmp_path, debian_artifact, monkeypatch):
    client_pub = keygen(tmp_path / "client")
    host_pub = keygen(tmp_path / "host")
    image = build_ownos(debian_artifact, authorized_key=client_pub, password=LOGIN_PASSWORD,
                        host_key=tmp_path / "host")
    ssh_port = free_port()
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{ssh_port} {' '.join(host_pub.split()[:2])}\n")
    line = SerialLine()
    argv = ["qemu-system-aarch64", "-M", "virt", "-cpu", "max,pauth-impdef=on", "-m", "512", "-nodefaults",
            "-no-user-config", "-display", "none", "-kernel", str(debian_artifact.image), "-initrd", str(image),
            "-append", "console=ttyAMA0 panic=-1", "-serial", line.paths[1],
            "-netdev", f"user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:{ssh_port}-:22",
            "-device", "virtio-net-pci,netdev=net0"]
    pdu = Pdu(argv, tmp_path / "board.log", (PDU_USER, PDU_PASSWORD))
    monkeypatch.setenv("LAB_PDU_USER", PDU_USER)
    monkeypatch.setenv("LAB_PDU_PASSWORD", PDU_PASSWORD)
    monkeypatch.setenv("INSTALLED_LOGIN", LOGIN_PASSWORD)
    url = f"http://127.0.0.1:{pdu.server.server_port}"
    targets = {"ssh": {"kind": "ssh", "host": "127.0.0.1", "port": ssh_port, "key_file": str(tmp_path / "client"),
                       "known_hosts": str(tmp_path / "known_hosts"), "connect_timeout_s": 5, "agent": False},
               "shell": {"kind": "shell", "user": "lab", "password": {"env": "INSTALLED_LOGIN"}}}

    def board(kind: str) -> Board:
        path = tmp_path / f"installed-{kind}.yaml"
        path.write_text(yaml.safe_dump({
            "name": f"installed-{kind}", "recipe": "debian-arm64",
            "console": {"url": line.paths[0]},
            "power": {"model": "http", "on_url": f"{url}/on", "off_url": f"{url}/off", "status_url": url,
                      "status_on": '"state": "on"', "method": "POST", "user_env": "LAB_PDU_USER",
                      "password_env": "LAB_PDU_PASSWORD", "off_time_s": 0.2},
            "boot": {"method": "installed", "ready_timeout_s": 120}, "target": targets[kind]}))
        return Board(load_board(path))

    try:
        yield board, pdu
    finally:
        pdu.close()
        line.close()


def test_flash_records_the_running_kernel_and_smoke_checks_it_over_ssh(fresh, debian_artifact):
    board_of, pdu = fresh
    board = board_of("ssh")
    recorded = board.flash(None, progress=lambda _: None)
    # The kernel found running is the Debian kernel the "board" was set up with, by its build id.
    assert recorded["kernel_version"] == debian_artifact.manifest["kernel_release"]
    assert recorded["build_id"] == debian_artifact.build_id and recorded["artifact"] == ""
    assert board.provenance()["build_id"] == debian_artifact.build_id
    summary = run_smoke(board.spec.source, progress=lambda _: None)
    assert summary["status"] == "passed", summary["checks"]
    assert "installed boot to ready" in [c["name"] for c in summary["checks"]]
    assert summary["provenance"]["build_id"] == debian_artifact.build_id
    # Each session (the record's, smoke's record and check): a power cycle by the PDU, and off at its end.
    assert pdu.requests.count("/on") == 3 and pdu.board is None


def test_a_login_board_runs_commands_on_its_installed_os(fresh):
    board_of, pdu = fresh
    board = board_of("shell")
    board.flash(None, progress=lambda _: None)
    with board.session(label="installed-shell") as session:
        assert session.boot_mode == "installed"
        result = session.run("cat /etc/hostname 2>/dev/null || hostname; exit 4")
        assert (result.text, result.code) == ("standin\n", 4)
    assert pdu.board is None


def test_another_kernel_is_refused_before_the_board_is_switched_on(fresh, debian_artifact):
    board_of, pdu = fresh
    board = board_of("ssh")
    started = time.monotonic()
    with pytest.raises(UsageError, match="installed runs the board's own kernel"):
        with board.session(artifact=debian_artifact, label="variant"):
            pass
    assert pdu.requests == [] and time.monotonic() - started < 5
