"""A board's console: pyserial by URL, every byte logged, kernel error reports caught.

A reader thread drains the port all the time, so nothing the board prints is
lost while the controller is busy, and hands complete lines to whoever waits.
"""
from __future__ import annotations

import fcntl
import importlib.util
import io
import os
import queue
import re
import select
import socket
import struct
import termios
import threading
import time
import urllib.parse
from collections import deque
from pathlib import Path
from typing import Annotated, Callable

import serial
from serial.urlhandler import protocol_socket

from sisctl.board import oops
from sisctl.board.errors import BoardUnreachable, ConsoleLost, KernelCrash
from sisctl.config import Check

CRASH_GRACE_S = 10.0      # how long to keep reading after a report starts
TAIL_LINES = 40
WATCH_EVERY_S = 2.0     # how often a quiet wait asks whether the machine is still running
RAW_KEEP = 256 << 10      # bytes kept for prompt matching and binary transfers


NETWORK_SCHEMES = ("socket", "rfc2217")


def _console_url(value: str) -> bool | str:
    """'qemu', a device path, or a pyserial URL whose scheme pyserial knows (host and port for the
    network ones)."""
    if value == "qemu" or "://" not in value:
        return value == "qemu" or value.startswith("/") or "a device path such as /dev/ttyUSB0, or a URL"
    scheme = value.split("://", 1)[0]
    if not (scheme.isidentifier() and importlib.util.find_spec(f"serial.urlhandler.protocol_{scheme}")):
        return f"pyserial knows no console scheme {scheme!r} (socket://, rfc2217://, loop://, ...)"
    if scheme in NETWORK_SCHEMES:
        try:
            parts = urllib.parse.urlsplit(value)
            port = parts.port
        except ValueError as err:
            return f"not a URL ({err})"
        if not parts.hostname or not port:
            return f"a {scheme}:// console needs a host and a port from 1 to 65535 ({scheme}://HOST:PORT)"
    return True


ConsoleUrl = Annotated[str, Check(_console_url, "'qemu', a device path or a pyserial URL",
                                  {"pattern": "^(qemu|/.+|[A-Za-z][A-Za-z0-9+.-]*://.+)$"})]


class SocketPort(protocol_socket.Serial):
    """pyserial's socket:// port, closed at once: pyserial's own close() then sleeps 0.3 s in case
    the caller reconnects, which every session's end paid."""

    def close(self) -> None:
        if self.is_open and self._socket is not None:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass   # the peer (a stopped QEMU) is gone already
            self._socket.close()
        self._socket, self.is_open = None, False


def open_port(url: str, baudrate: int, timeout_s: float, board: str) -> serial.SerialBase:
    """Open a console by pyserial URL (/dev/ttyUSB0, socket://, rfc2217://), retrying until the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if url.startswith("socket://"):
                return SocketPort(url, baudrate=baudrate, timeout=0.1)
            local_tty = {"exclusive": True} if url.startswith("/dev/") else {}
            return serial.serial_for_url(url, baudrate=baudrate, timeout=0.1, **local_tty)
        except (serial.SerialException, OSError, ValueError) as err:
            if time.monotonic() >= deadline:
                raise BoardUnreachable(board, f"console {url} did not open within {timeout_s:.0f} s: {err}") from None
            time.sleep(0.05)


class Console:
    def __init__(self, port: serial.SerialBase, log_path: Path, board: str,
                 ignore_reports: list[str] | None = None, crash_grace_s: float = CRASH_GRACE_S):
        self.port, self.board = port, board
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.log_error = ""                    # why the log could not be written: the console then stops
        self.ignore = [re.compile(p) for p in ignore_reports or []]
        self.crash_grace_s = crash_grace_s
        self.lines: queue.Queue[str] = queue.Queue()
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.tap: Callable[[bytes], None] | None = None     # interactive viewers
        self.watch: Callable[[], None] | None = None        # raises if the machine behind stopped making progress
        self._watched = time.monotonic()
        self._partial = b""
        self._raw = bytearray()                # bytes not yet consumed by wait_for / read_raw
        self._raw_ready = threading.Condition()
        self._closed = threading.Event()
        self._crash: oops.ReportStart | None = None
        self._crash_lines: list[str] = []
        self._crash_started = 0.0
        self._crash_done = threading.Event()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()   # close() wakes the reader from its wait at once
        self._thread = threading.Thread(target=self._read_loop, name=f"console-{board}", daemon=True)
        self._thread.start()

    # --- reader thread -------------------------------------------------------
    def _read_loop(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._read_available()
                if data is None:
                    break
                if data:
                    self._take(data)
        except (serial.SerialException, OSError):
            pass
        finally:
            if self._partial:
                self._line(self._partial)
            self._closed.set()
            self._crash_done.set()
            with self._raw_ready:
                self._raw_ready.notify_all()
            try:
                self.log.flush()
            except OSError:
                pass

    def _read_available(self) -> bytes | None:
        """What the port holds now (b"" if nothing within 0.1 s), None once it has closed.

        Reads exactly the bytes waiting, so the last output before the peer
        closes (a panic, say) is not dropped with the end-of-file."""
        try:
            fd = self.port.fileno()
        except (AttributeError, NotImplementedError, io.UnsupportedOperation, serial.SerialException):
            # No descriptor to wait on (rfc2217:// decodes telnet in a thread of its own).
            return self.port.read(4096) if self.port.is_open else None
        ready, _, _ = select.select([fd, self._wake_r], [], [], 0.1)
        if fd not in ready:
            return b""
        waiting = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        return self.port.read(waiting) if waiting else None

    def _take(self, data: bytes) -> None:
        try:   # every byte is logged, or the session stops naming the log
            self.log.write(data)
            self.log.flush()
        except OSError as err:
            self.log_error = f"cannot write the console log {self.log_path}: {err.strerror or err}"
            raise
        if self.tap:
            self.tap(data)
        with self._raw_ready:
            self._raw += data
            if len(self._raw) > 2 * RAW_KEEP:   # trimmed now and then, not on every read
                del self._raw[:-RAW_KEEP]
            self._raw_ready.notify_all()
        self._partial += data
        *complete, self._partial = self._partial.split(b"\n")
        for raw in complete:
            self._line(raw)

    def _line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        self.tail.append(line)
        if self._crash:
            self._crash_lines.append(line)
            if oops.is_report_end(line):
                self._crash_done.set()
        else:
            start = oops.report_start(line, self.ignore)
            if start:
                self._crash, self._crash_lines, self._crash_started = start, [line], time.monotonic()
        self.lines.put(line)

    # --- controller side -----------------------------------------------------
    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as err:
            raise ConsoleLost(self.board, f"console write failed: {err}", self.tail_text()) from None

    def next_line(self, deadline: float) -> str | None:
        """The next console line, or None once `deadline` (monotonic) passes.

        Raises KernelCrash once a report has started (after collecting the rest
        of it) and ConsoleLost when the console closes with nothing left to read."""
        while True:
            self.check_crash()
            try:
                return self.lines.get(timeout=max(0.0, min(0.1, deadline - time.monotonic())))
            except queue.Empty:
                pass
            if self.watch and time.monotonic() - self._watched >= WATCH_EVERY_S:
                self._watched = time.monotonic()
                self.watch()
            if self._closed.is_set() and self.lines.empty():
                self.check_crash()
                raise self._lost()
            if time.monotonic() >= deadline:
                return None

    def check_crash(self) -> None:
        if not self._crash:
            return
        self._crash_done.wait(max(0.0, self._crash_started + self.crash_grace_s - time.monotonic()))
        report = "\n".join(self._crash_lines)
        raise KernelCrash(self.board, self._crash.title, report, self.tail_text())

    def expect(self, pattern: str | re.Pattern, timeout_s: float) -> re.Match | None:
        """Wait for a line matching `pattern`; None on timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while (line := self.next_line(deadline)) is not None:
            match = regex.search(line)
            if match:
                return match
        return None

    # --- byte level: prompts without a newline (boot loaders) and binary transfers --
    def forget_bytes(self) -> None:
        with self._raw_ready:
            self._raw.clear()

    def wait_for(self, pattern: bytes, timeout_s: float) -> re.Match | None:
        """Wait until the bytes since the last match (or forget_bytes) match `pattern`;
        consume them up to the match's end. None on timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        with self._raw_ready:
            while True:
                match = regex.search(bytes(self._raw))   # a copy: the match outlives the buffer
                if match:
                    del self._raw[:match.end()]
                    return match
                if self._closed.is_set():
                    raise self._lost()
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._raw_ready.wait(min(left, 0.1))

    def read_raw(self, size: int, timeout_s: float) -> bytes:
        """Up to `size` bytes as they arrive (b"" on timeout), for binary protocols such as YMODEM."""
        deadline = time.monotonic() + timeout_s
        with self._raw_ready:
            while not self._raw and not self._closed.is_set() and time.monotonic() < deadline:
                self._raw_ready.wait(max(0.0, min(0.1, deadline - time.monotonic())))
            data = bytes(self._raw[:size])
            del self._raw[:size]
            return data

    def drain(self) -> None:
        """Forget lines read so far (they stay in the log)."""
        while not self.lines.empty():
            self.lines.get_nowait()

    def _lost(self) -> ConsoleLost:
        return ConsoleLost(self.board, self.log_error or "console closed (machine stopped or cable gone)",
                           self.tail_text())

    def tail_text(self) -> str:
        return "\n".join(line if len(line) <= 240 else f"{line[:240]}... ({len(line)} characters)"
                         for line in self.tail)

    @property
    def crash(self) -> oops.ReportStart | None:
        return self._crash

    def close(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=2)
            if not self._thread.is_alive():   # else it may still wait on the pipe: leave it open
                os.close(self._wake_r)
                os.close(self._wake_w)
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass
        try:
            self.log.close()
        except OSError:   # a full disk: already reported by the reader
            pass
