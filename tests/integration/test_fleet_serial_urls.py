"""labgrid brings its own pyserial fork (pyserial-labgrid, the same `serial` module): the console's
three kinds of URL still open and carry bytes both ways, through a real ser2net for the network ones."""
from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

import pytest
import serial

from sisctl.board.console import open_port
from sisctl.net import free_port
from tests.integration.standins import SerialLine

SER2NET = "/usr/sbin/ser2net"


def test_the_serial_module_in_use_is_labgrids_fork():
    import labgrid  # noqa: F401  (labgrid imports cleanly next to it)
    assert serial.__version__.startswith("3.5.0."), serial.__version__


def read_from_fd(fd: int, want: bytes, timeout_s: float = 5.0) -> bytes:
    got, deadline = b"", time.monotonic() + timeout_s
    while want not in got and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.1)[0]:
            got += os.read(fd, 4096)
    return got


def read_from_port(port, want: bytes, timeout_s: float = 5.0) -> bytes:
    got, deadline = b"", time.monotonic() + timeout_s
    while want not in got and time.monotonic() < deadline:
        got += port.read(4096)
    return got


@pytest.fixture
def line_behind_ser2net(tmp_path):
    """A serial line whose console end ser2net serves both as RFC 2217 and as a raw TCP port."""
    if not Path(SER2NET).exists():
        pytest.skip("ser2net is not installed")
    line = SerialLine()
    rfc2217_port, raw_port = free_port(), free_port()
    ser2net = subprocess.Popen([SER2NET, "-n", "-u", "-P", str(tmp_path / "ser2net.pid"),
                                "-Y", "connection: &rfc",
                                "-Y", f"  accepter: telnet(rfc2217),tcp,127.0.0.1,{rfc2217_port}",
                                "-Y", f"  connector: serialdev,{line.paths[0]},115200n81,local",
                                "-Y", "connection: &raw",
                                "-Y", f"  accepter: tcp,127.0.0.1,{raw_port}",
                                "-Y", f"  connector: serialdev,{line.paths[0]},115200n81,local"],
                               stdout=subprocess.DEVNULL, stderr=open(tmp_path / "ser2net.log", "wb"))
    try:
        yield line, {"rfc2217": f"rfc2217://127.0.0.1:{rfc2217_port}?ign_set_control",
                     "socket": f"socket://127.0.0.1:{raw_port}"}
    finally:
        ser2net.terminate()
        ser2net.wait(10)
        line.close()


@pytest.mark.parametrize("kind", ["rfc2217", "socket"])
def test_network_console_urls_carry_bytes_both_ways(line_behind_ser2net, kind):
    line, urls = line_behind_ser2net
    board_end = line.ends[1][1]       # the slave the board would hold
    port = open_port(urls[kind], 115200, 10, "serial-url-test")
    try:
        time.sleep(0.3)               # ser2net opens the device when the client connects
        os.write(board_end, b"from-board\n")
        assert b"from-board" in read_from_port(port, b"from-board")
        port.write(b"to-board\n")
        assert b"to-board" in read_from_fd(board_end, b"to-board")
    finally:
        port.close()


def test_a_tty_console_carries_bytes_both_ways():
    master, slave = os.openpty()
    port = open_port(os.ttyname(slave), 115200, 5, "serial-url-test")
    try:
        os.write(master, b"from-board\n")
        assert b"from-board" in read_from_port(port, b"from-board")
        port.write(b"to-board\n")
        assert b"to-board" in read_from_fd(master, b"to-board")
    finally:
        port.close()
        os.close(master)
        os.close(slave)
