"""The data link of a board with a network (qemu-virt-data: a guest-only QEMU network with one
forward from 127.0.0.1), against the console link of one without (qemu-virt-0), on Debian's kernel."""
from __future__ import annotations

import hashlib
import os
import socket
import struct
import time

import pytest

from sisctl.board.board import Board
from sisctl.board.errors import BoardError
from sisctl.board.spec import find_board


@pytest.fixture(scope="module")
def data_board(lab_dirs, debian_artifact) -> Board:
    board = Board(find_board("qemu-virt-data"))
    board.flash(debian_artifact)
    return board


def test_a_mebibyte_goes_both_ways_exactly_over_the_network(data_board):
    data = os.urandom(1 << 20)
    with data_board.session(label="data-link") as session:
        link = session.link
        assert link.name == "network" and session.data_address[0] == "127.0.0.1"
        link.put(data, "/tmp/big")
        assert session.run("sha256sum /tmp/big").text.split()[0] == hashlib.sha256(data).hexdigest()
        assert link.get("/tmp/big") == data
        link.put(b"", "/tmp/empty")                 # again on the same port; nothing is something too
        assert link.get("/tmp/empty") == b""
        first_port = session.data_address[1]
    with data_board.session(label="data-link-again") as session:   # from the snapshot, a new forward
        assert session.boot_mode == "snapshot" and session.data_address[1] != first_port
        assert "virtio_net.ko\n" in session.link.get("/etc/modules.order").decode()


def test_a_transfer_the_board_cannot_take_fails_naming_the_file(data_board):
    with data_board.session(label="data-link-bad") as session:
        with pytest.raises(BoardError, match="/proc/no-such-dir/x"):
            session.link.put(b"x" * 1000, "/proc/no-such-dir/x", timeout_s=20)
        with pytest.raises(BoardError, match="/tmp/never-written"):
            session.link.get("/tmp/never-written", timeout_s=20)
        # No host ever connecting ends the agent's wait at its timeout, not later.
        result = session.run("sisagent data-recv 7077 /tmp/y 2 0123456789abcdef", timeout_s=30)
        assert result.code == 3 and "no connection" in result.stderr.decode() and result.duration_s < 10
        # A board that runs out of room mid-file says so on the console, well before the timeout.
        session.run("mkdir -p /mnt/small && mount -t tmpfs -o size=256k tmpfs /mnt/small")
        started = time.monotonic()
        with pytest.raises(BoardError, match="No space left"):
            session.link.put(os.urandom(1 << 20), "/mnt/small/big", timeout_s=300)
        assert time.monotonic() - started < 60
        session.link.put(b"still works", "/tmp/after")     # and the link is usable after each
        assert session.run("cat /tmp/after").text == "still works"


def test_a_board_without_a_network_sends_over_the_console(board):
    data = os.urandom(48 << 10)
    with board.session(label="console-link") as session:
        link = session.link
        assert link.name == "console" and session.data_address is None
        link.put(data, "/tmp/small")
        assert link.get("/tmp/small") == data


def test_only_the_connection_with_the_consoles_token_is_taken(data_board):
    """Another program on the network connecting first, with the wrong token, gives the board nothing."""
    with data_board.session(label="data-link-token") as session:
        command = "sisagent data-recv 7077 /tmp/tok 30 0123456789abcdef"
        started = time.monotonic()
        request = session.agent.start(command, 60)

        def send(token: bytes, data: bytes) -> bytes:
            with socket.create_connection(session.data_address, timeout=10) as peer:
                peer.sendall(b"SISDATA1" + token + struct.pack("<Q", len(data)) + data)
                peer.shutdown(socket.SHUT_WR)
                try:
                    return peer.recv(100)
                except ConnectionResetError:
                    return b""
        # The intruder tries for 3 s, the guest listening for most of them; the host's first try
        # right after must get through (so the guest was listening while the intruder was refused).
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert send(b"fedcba9876543210", b"intruder") == b""
            time.sleep(0.05)
        assert send(b"0123456789abcdef", b"the host").startswith(b"data 8 ")
        result = session.agent.result(request, command, 60, started)
        assert result.ok and session.run("cat /tmp/tok").text == "the host"
