"""Stand-ins for lab hardware, real where it counts: a serial line made of two ptys, and an HTTP
PDU outlet whose switch starts and stops a QEMU "board"."""
from __future__ import annotations

import base64
import errno
import os
import select
import subprocess
import threading
import tty
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

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
