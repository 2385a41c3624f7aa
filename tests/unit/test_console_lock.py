"""A real console (tty, ser2net port) has one user at a time, and the second is told who."""
from __future__ import annotations

import os

import pytest

from sisctl.board.console import open_port
from sisctl.board.errors import BoardBusy, BoardUnreachable
from sisctl.board.lock import console_lock


def test_second_user_of_a_console_is_told_who_holds_it(tmp_path):
    url = "rfc2217://lab-ser2net:4001"
    with console_lock(tmp_path, url, "rpi4-01"):
        with pytest.raises(BoardBusy, match=rf"rpi4-02: console {url} in use by pid {os.getpid()}"):
            with console_lock(tmp_path, url, "rpi4-02"):
                pass
        with console_lock(tmp_path, "/dev/ttyUSB1", "other"):   # another console is free
            pass
    with console_lock(tmp_path, url, "rpi4-02"):               # and this one is free again
        pass


def test_a_local_tty_is_opened_exclusively(tmp_path):
    master, slave = os.openpty()
    path = os.ttyname(slave)
    try:
        first = open_port(path, 115200, 1, "board-a")
        with pytest.raises(BoardUnreachable, match=rf"board-b: console {path} did not open within 1 s: .*lock"):
            open_port(path, 115200, 1, "board-b")
        first.close()
        open_port(path, 115200, 1, "board-b").close()     # free again
    finally:
        os.close(master)
        os.close(slave)
