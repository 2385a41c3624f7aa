"""Stand-ins for lab hardware, real where it counts: a serial line made of two ptys, an HTTP PDU
outlet whose switch starts and stops a QEMU "board", and a Shelly Gen2+ relay's RPC over HTTP."""
from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import secrets
import select
import subprocess
import threading
import tty
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from urllib.request import parse_http_list, parse_keqv_list

import yaml

from sisctl import proc
from sisctl.board.board import Board
from sisctl.board.spec import find_board, load_board
from sisctl.net import free_port

UBOOT = Path(find_board("qemu-virt-uboot").qemu.firmware)
SER2NET = "/usr/sbin/ser2net"
PDU_USER, PDU_PASSWORD = "lab", "outlet-secret"


def start_board(argv: list[str], log: Path) -> subprocess.Popen:
    """A QEMU playing a board; it dies with the thread that starts it, whatever happens."""
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log, "ab"),
                            preexec_fn=proc.die_with_parent)


class SerialLine:
    """Two ptys joined like a null-modem cable: ser2net opens one end, the board the other.
    The test holds both masters, so either end may close and reopen."""

    def __init__(self):
        self.ends = [os.openpty() for _ in range(2)]        # (master, slave) each
        for _, slave in self.ends:
            tty.setraw(slave)
        self.paths = [os.ttyname(slave) for _, slave in self.ends]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def _relay(self) -> None:
        masters = [master for master, _ in self.ends]
        while not self._stop.is_set():
            ready, _, _ = select.select(masters, [], [], 0.1)
            for master in ready:
                try:
                    data = os.read(master, 4096)
                except OSError as err:
                    if err.errno != errno.EIO:
                        raise
                    continue
                os.write(masters[1 - masters.index(master)], data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for fds in self.ends:
            for fd in fds:
                os.close(fd)


class Pdu:
    """An HTTP PDU outlet: POST /on starts the board, POST /off cuts it, GET / tells the state."""

    def __init__(self, board_argv: list[str], log: Path, credentials: tuple[str, str]):
        self.board_argv, self.log = board_argv, log
        self.board: subprocess.Popen | None = None
        self.requests: list[str] = []
        self.dead_after: int | None = None    # the outlet fails every request after this many
        pdu = self
        expected = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()

        class Outlet(BaseHTTPRequestHandler):
            def _answer(self, body: str, status: int = 200) -> None:
                self.send_response(status)
                self.end_headers()
                self.wfile.write(body.encode())

            def do_POST(self):
                if self.headers.get("Authorization") != expected:
                    return self._answer("denied", 401)
                if pdu.dead_after is not None and len(pdu.requests) >= pdu.dead_after:
                    return self._answer("outlet controller fault", 503)
                pdu.requests.append(self.path)
                pdu.switch(self.path == "/on")
                self._answer("ok")

            def do_GET(self):
                on = pdu.board is not None and pdu.board.poll() is None
                self._answer(f'{{"state": "{"on" if on else "off"}"}}')

            def log_message(self, *args):
                pass

        # One thread serves every request and so starts every board: a board lives no longer than it.
        self.server = HTTPServer(("127.0.0.1", 0), Outlet)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def switch(self, on: bool) -> None:
        if self.board is not None:
            self.board.kill()
            self.board.wait(10)
            self.board = None
        if on:
            self.board = start_board(self.board_argv, self.log)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.switch(False)


class ShellyGen2:
    """A Shelly Gen2+ relay device on 127.0.0.1 answering the RPC-over-HTTP calls a power switch needs:
    GET /rpc/Switch.Set?id=N&on=true|false ({"was_on": ...}) and GET /rpc/Switch.GetStatus?id=N
    ({"id": N, "output": ...}); an unknown id gets the device's -105 error. With a password, as a
    device with authentication on, every call first gets a 401 Digest challenge (SHA-256, user admin)."""

    REALM = "shellyplus1pm-a8032ab1c2d3"

    def __init__(self, switches: int = 1, password: str | None = None):
        self.outputs = [False] * switches
        self.calls: list[str] = []          # method and query of each call answered
        self.nonces: set[str] = set()       # the challenges' nonces
        device = self

        class Rpc(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if password is not None and not device.authorized(self.headers.get("Authorization", ""),
                                                                  self.path, password):
                    nonce = secrets.token_hex(8)
                    device.nonces.add(nonce)
                    return self._answer(401, {"code": 401, "message": "unauthorized"}, {
                        "WWW-Authenticate": f'Digest qop="auth", realm="{device.REALM}", nonce="{nonce}", '
                                            'algorithm=SHA-256'})
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                method = url.path.removeprefix("/rpc/")
                if method not in ("Switch.Set", "Switch.GetStatus"):
                    return self._answer(404, {"code": 404, "message": f"No handler for {method}"})
                if "id" not in query:
                    return self._answer(400, {"code": -103, "message": "Missing required 'id'"})
                index = int(query["id"])
                if not 0 <= index < len(device.outputs):
                    return self._answer(400, {"code": -105, "message": f"Bad id={index}"})
                device.calls.append(f"{method}?{url.query}")
                if method == "Switch.GetStatus":
                    return self._answer(200, {"id": index, "source": "http", "output": device.outputs[index],
                                              "apower": 0.0, "voltage": 230.1})
                if query.get("on") not in ("true", "false"):
                    return self._answer(400, {"code": -103, "message": "Missing required 'on'"})
                was_on, device.outputs[index] = device.outputs[index], query["on"] == "true"
                self._answer(200, {"was_on": was_on})

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Rpc)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def authorized(self, header: str, uri: str, password: str) -> bool:
        """Whether `header` answers a Digest challenge for `uri` with user admin and `password`."""
        if not header.startswith("Digest "):
            return False
        p = parse_keqv_list(parse_http_list(header[len("Digest "):]))

        def h(text: str) -> str:
            return hashlib.sha256(text.encode()).hexdigest()

        if (p.get("username"), p.get("realm"), p.get("uri")) != ("admin", self.REALM, uri) \
                or p.get("nonce") not in self.nonces:
            return False
        ha1, ha2 = h(f"admin:{self.REALM}:{password}"), h(f"GET:{uri}")
        expected = h(f"{ha1}:{p.get('nonce')}:{p.get('nc')}:{p.get('cnonce')}:{p.get('qop')}:{ha2}")
        return p.get("algorithm") == "SHA-256" and p.get("qop") == "auth" and p.get("response") == expected

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def sd_card(path: Path, partitions: list[tuple[str, int]]) -> list[str]:
    """A raw disk image with a GPT of (name, MiB) partitions, and the QEMU options that plug it into a
    board as a virtio disk with serial 'sdcard': the board's own storage, not one sisctl attaches."""
    total = sum(mib for _, mib in partitions) + 2
    with open(path, "wb") as f:
        f.truncate(total << 20)
    layout = "label: gpt\n" + "".join(f"size={mib}MiB, name={name}\n" for name, mib in partitions)
    proc.run(["sfdisk", "-q", path], input=layout, timeout=30)
    return ["-drive", f"file={path},format=raw,if=none,id=sd", "-device", "virtio-blk-pci,drive=sd,serial=sdcard"]


@contextmanager
def uboot_lab_board(tmp_path: Path, sshd, monkeypatch, board_argv_extra: list[str] = (), board_keys: dict = None):
    """A U-Boot board wired as a lab wires one: QEMU running U-Boot started by an HTTP PDU's outlet
    (basic auth, credentials from the environment), its console behind ser2net over RFC 2217, its
    TFTP files staged over SFTP (`sshd`; None: copied into the TFTP root). `board_argv_extra`: more
    of the board's hardware (an SD card); `board_keys`: more keys of its board file. `monkeypatch`
    sets the PDU's credentials in the environment. Yields (Board, Pdu, TFTP root)."""
    line = SerialLine()
    tftp_root = tmp_path / "srv-tftp"
    tftp_root.mkdir()
    state = tmp_path / "state"
    board_argv = ["qemu-system-aarch64", "-M", "virt", "-cpu", "max", "-m", "512", "-nodefaults",
                  "-no-user-config", "-display", "none", "-bios", str(UBOOT), "-serial", line.paths[1],
                  "-netdev", f"user,id=net0,restrict=on,tftp={tftp_root}", "-device", "virtio-net-pci,netdev=net0",
                  *board_argv_extra]
    pdu = Pdu(board_argv, tmp_path / "board.log", (PDU_USER, PDU_PASSWORD))
    console_port = free_port()
    ser2net = subprocess.Popen([SER2NET, "-n", "-u", "-P", str(tmp_path / "ser2net.pid"),
                                "-Y", "connection: &board",
                                "-Y", f"  accepter: telnet(rfc2217),tcp,127.0.0.1,{console_port}",
                                "-Y", f"  connector: serialdev,{line.paths[0]},115200n81,local"],
                               stdout=subprocess.DEVNULL, stderr=open(tmp_path / "ser2net.log", "wb"))
    monkeypatch.setenv("LAB_PDU_USER", PDU_USER)
    monkeypatch.setenv("LAB_PDU_PASSWORD", PDU_PASSWORD)
    pdu_url = f"http://127.0.0.1:{pdu.server.server_port}"
    path = tmp_path / "uboot-lab.yaml"
    path.write_text(yaml.safe_dump({
        "name": "uboot-lab",
        "console": {"url": f"rfc2217://127.0.0.1:{console_port}?ign_set_control", "open_timeout_s": 10},
        "power": {"model": "http", "on_url": f"{pdu_url}/on", "off_url": f"{pdu_url}/off",
                  "status_url": pdu_url, "status_on": '"state": "on"', "method": "POST",
                  "user_env": "LAB_PDU_USER", "password_env": "LAB_PDU_PASSWORD", "off_time_s": 0.2},
        "boot": {"method": "uboot", "cmdline": "console=ttyAMA0 panic=-1", "ready_timeout_s": 120,
                 "modules": ["virtio_pci", "virtio_blk", "dm_log_writes"],
                 "uboot": {"transfer": "tftp", "tftp_root": str(tftp_root), "ramdisk_addr": "0x48000000",
                           **({"tftp_ssh": sshd.__dict__} if sshd else {})}},
        **(board_keys or {})}))
    state.mkdir()
    try:
        yield Board(load_board(path), state_root=state, reports=tmp_path), pdu, tftp_root
    finally:
        ser2net.terminate()
        ser2net.wait(10)
        pdu.close()
        line.close()
