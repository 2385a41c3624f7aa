"""The data link: files to and from a board over its network where it has one, over the console
where it has not. The console stays the control path: the agent is asked, on the console, to take
one file over TCP (`sisagent data-recv|data-send`, firmware/agent/datalink.c), and answers there.

    data_link:                 # in a board file
      address: 10.0.2.15/24    # what the board's init gives its first interface (sisctl.data=)
      port: 7077               # where its agent listens for a transfer
      reach: gw.lab:17077      # optional: where this machine reaches that port (a NAT's forward)

A QEMU board's link is QEMU's user network, guest-only (restrict=on), with one forward from a free
port on 127.0.0.1 to the board's port; a real board is reached at its address.
"""
from __future__ import annotations

import base64
import ipaddress
import secrets
import shlex
import socket
import struct
import time
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from sisctl import config
from sisctl.board.errors import BoardError
from sisctl.config import between

if TYPE_CHECKING:
    from sisctl.board.board import BoardSession

MAGIC = b"SISDATA1"
LENGTH = struct.Struct("<Q")
CHUNK = 40_000              # base64 characters per command on the console
LISTEN_S = 30.0             # how long the host tries to reach an agent asked to take a file
QEMU_NET = ipaddress.ip_network("10.0.2.0/24")   # QEMU's user network; .2 and .3 are its own


@dataclass
class DataLinkSpec:
    address: str = "10.0.2.15/24"
    port: Annotated[int, between(1, 65535)] = 7077
    reach: str = ""     # HOST:PORT where this machine reaches the board's port, when not at its address


def reached_at(link: DataLinkSpec) -> tuple[str, int]:
    """Where the host connects: `reach`, else the board's address and port."""
    if link.reach:
        host, _, port = link.reach.rpartition(":")
        return host.strip("[]"), int(port)
    return str(ipaddress.ip_interface(link.address).ip), link.port


def check(link: DataLinkSpec | None, on_qemu: bool, path) -> None:
    if link is None:
        return
    try:
        if "/" not in link.address:
            raise ValueError("no prefix")
        address = ipaddress.ip_interface(link.address)
    except ValueError:
        raise config.ConfigError(path, "data_link.address", f"{link.address!r} is not ADDRESS/PREFIX "
                                 "(such as 192.168.1.50/24)") from None
    if link.reach and on_qemu:
        raise config.ConfigError(path, "data_link.reach", "a QEMU board's forward is sisctl's own: remove the key")
    host, _, port = link.reach.rpartition(":")
    if link.reach and (not host or not port.isdigit() or not 0 < int(port) < 65536):
        raise config.ConfigError(path, "data_link.reach", f"{link.reach!r} is not HOST:PORT (such as gw.lab:17077)")
    if on_qemu and (address.network != QEMU_NET or int(address.ip) & 0xff in (0, 2, 3, 255)):
        raise config.ConfigError(path, "data_link.address", "a QEMU board's data link is on QEMU's user "
                                 f"network: an address in {QEMU_NET} other than .0, .2, .3 and .255")


def cmdline_word(link: DataLinkSpec) -> str:
    return f"sisctl.data={link.address}"


class ConsoleLink:
    """Files as base64 in commands (to the board) and as a command's output (from it)."""
    name = "console"

    def __init__(self, session: BoardSession):
        self.session = session

    def put(self, data: bytes, path: str, timeout_s: float = 300.0) -> None:
        packed, quoted = base64.b64encode(data).decode(), shlex.quote(path)
        self._run(f": > {quoted}.b64", timeout_s)
        for start in range(0, len(packed), CHUNK):
            self._run(f"printf %s '{packed[start:start + CHUNK]}' >> {quoted}.b64", timeout_s)
        self._run(f"base64 -d {quoted}.b64 > {quoted} && rm {quoted}.b64", timeout_s)
        _same(self.session, path, len(data), zlib.crc32(data), self._run(f"sisagent crc {quoted}", timeout_s))

    def get(self, path: str, timeout_s: float = 300.0) -> bytes:
        result = self.session.run(f"cat {shlex.quote(path)}", timeout_s)
        if not result.ok:
            raise BoardError(self.session.name, f"reading {path} on the board failed: "
                             f"{result.stderr.decode(errors='replace').strip()[-300:]}")
        return result.stdout

    def _run(self, command: str, timeout_s: float) -> str:
        result = self.session.run(command, timeout_s)
        if not result.ok:
            raise BoardError(self.session.name, f"the console data link failed ({command[:60]}...): "
                             f"{(result.text + result.stderr.decode(errors='replace')).strip()[-300:]}")
        return result.text


class NetworkLink:
    """Files over TCP to the board's agent at `address` (host, port), asked for on the console."""
    name = "network"

    def __init__(self, session: BoardSession, address: tuple[str, int], guest_port: int):
        self.session, self.address, self.guest_port = session, address, guest_port

    def put(self, data: bytes, path: str, timeout_s: float = 300.0) -> None:
        def talk(peer: socket.socket, header: bytes) -> bytes:
            peer.sendall(header + LENGTH.pack(len(data)) + data)
            peer.shutdown(socket.SHUT_WR)
            return _read_all(peer)
        answer, _ = self._transfer("data-recv", path, timeout_s, talk)
        _same(self.session, path, len(data), zlib.crc32(data), answer)

    def get(self, path: str, timeout_s: float = 300.0) -> bytes:
        def talk(peer: socket.socket, header: bytes) -> bytes:
            peer.sendall(header)
            return _read_all(peer)
        answer, said = self._transfer("data-send", path, timeout_s, talk)
        data = answer[LENGTH.size:]
        if len(answer) < LENGTH.size or LENGTH.unpack_from(answer)[0] != len(data):
            raise BoardError(self.session.name, f"{path} came over the data link cut short ({len(data)} bytes)")
        _same(self.session, path, len(data), zlib.crc32(data), said)
        return data

    def _transfer(self, tool: str, path: str, timeout_s: float, talk) -> tuple[bytes, str]:
        """Ask the agent (`tool`) to take one connection, then connect until it has: QEMU's
        forwarder accepts before the guest listens and drops such a connection at once. The
        connection starts with a token sent on the console: no other program gives or takes the
        file. What the connection brought, and what the agent printed."""
        agent, token = self.session.agent, secrets.token_hex(8)
        command = f"sisagent {tool} {self.guest_port} {shlex.quote(path)} {timeout_s:g} {token}"
        started = time.monotonic()
        request = agent.start(command, timeout_s + 30)
        # A guest listens within moments of the request; one that failed (a full /tmp) never will,
        # and its reason is on the console: tried for LISTEN_S at most.
        deadline, answer, problem = started + min(timeout_s, LISTEN_S), b"", "no connection was taken"
        while not answer and time.monotonic() < deadline:
            try:
                with socket.create_connection(self.address, timeout=min(30.0, timeout_s)) as peer:
                    answer = talk(peer, MAGIC + token.encode())
            except OSError as err:
                problem = str(err)
            if not answer:
                time.sleep(0.05)
        result = agent.result(request, command, timeout_s + 30, started)
        if not result.ok or not answer:
            where = f"{self.address[0]}:{self.address[1]}"
            raise BoardError(self.session.name, f"{tool} {path} over the data link {where} failed: "
                             f"{(result.stderr.decode(errors='replace').strip() or problem)[-300:]}")
        return answer, result.text


def _read_all(peer: socket.socket) -> bytes:
    parts = []
    while chunk := peer.recv(1 << 16):
        parts.append(chunk)
    return b"".join(parts)


def _same(session: BoardSession, path: str, size: int, crc: int, said: bytes | str) -> None:
    """The board's "data BYTES CRC32" line says it has what was sent."""
    text = said.decode(errors="replace") if isinstance(said, bytes) else said
    words = text.split()
    if len(words) < 3 or words[0] != "data" or words[1] != str(size) or words[2] != f"{crc:08x}":
        raise BoardError(session.name, f"{path} arrived damaged: the board says {text.strip()[:80]!r}, "
                         f"expected data {size} {crc:08x}")


def link_of(session: BoardSession):
    """The session's data link: the network where the board has one, else the console."""
    spec = session.board.spec.data_link
    if spec is None or session.data_address is None:
        return ConsoleLink(session)
    return NetworkLink(session, session.data_address, spec.port)
