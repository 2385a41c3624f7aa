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
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from urllib.request import parse_http_list, parse_keqv_list

from sisctl import proc


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
