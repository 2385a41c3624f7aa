"""The data link's board-file checks, QEMU's network for it, and its damage check."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from sisctl.board.datalink import DataLinkSpec, _same, check, cmdline_word, reached_at
from sisctl.board.errors import BoardError
from sisctl.board.qemu import QemuLaunch, QemuSpec
from sisctl.config import ConfigError


@pytest.mark.parametrize("address, on_qemu, problem", [
    ("10.0.2.15", True, "is not ADDRESS/PREFIX"), ("10.0.2.15/24", True, None), ("192.168.1.50/24", False, None),
    ("192.168.1.50/24", True, "QEMU's user network"), ("10.0.2.2/24", True, "other than"),
    ("10.0.2.15/16", True, "QEMU's user network"), ("board-7/24", False, "is not ADDRESS/PREFIX"),
])
def test_the_address_is_checked_where_the_board_is(address, on_qemu, problem):
    if problem is None:
        check(DataLinkSpec(address), on_qemu, "b.yaml")
        return
    with pytest.raises(ConfigError, match=problem) as caught:
        check(DataLinkSpec(address), on_qemu, "b.yaml")
    assert "data_link.address" in str(caught.value) and "b.yaml" in str(caught.value)


@pytest.mark.parametrize("reach, on_qemu, problem", [
    ("127.0.0.1:17077", False, None), ("[::1]:17077", False, None), ("127.0.0.1:17077", True, "sisctl's own"),
    ("gw.lab", False, "not HOST:PORT"), (":17077", False, "not HOST:PORT"), ("gw:0", False, "not HOST:PORT"),
    ("gw:70000", False, "not HOST:PORT"), ("gw:http", False, "not HOST:PORT"),
])
def test_a_forward_to_a_real_board_is_host_and_port(reach, on_qemu, problem):
    link = DataLinkSpec("192.168.1.50/24" if not on_qemu else "10.0.2.15/24", reach=reach)
    if problem is None:
        check(link, on_qemu, "b.yaml")
        assert reached_at(link) == (reach.rpartition(":")[0].strip("[]"), int(reach.rpartition(":")[2]))
        return
    with pytest.raises(ConfigError, match=problem) as caught:
        check(link, on_qemu, "b.yaml")
    assert "data_link.reach" in str(caught.value)


def test_without_a_forward_the_host_goes_to_the_boards_address():
    assert reached_at(DataLinkSpec("192.168.1.50/24", 7000)) == ("192.168.1.50", 7000)


def test_the_board_is_told_its_address_on_the_command_line():
    assert cmdline_word(DataLinkSpec("10.0.2.15/24")) == "sisctl.data=10.0.2.15/24"


def test_one_guest_only_network_carries_tftp_and_the_forward_and_snapshots_ignore_the_host_port(tmp_path):
    def launch(port):
        return QemuLaunch(None, None, "", tftp_root=tmp_path, data_forward=(port, 7077))
    args = launch(40001).guest_args(QemuSpec())
    net = args[args.index("-netdev") + 1]
    assert args.count("-netdev") == 1 and net.startswith("user,id=net0,restrict=on,tftp=")
    assert net.endswith(",hostfwd=tcp:127.0.0.1:40001-:7077")
    assert launch(40001).snapshot_identity(QemuSpec()) == launch(40999).snapshot_identity(QemuSpec())
    assert "-netdev" not in QemuLaunch(None, None, "").guest_args(QemuSpec())


@pytest.mark.parametrize("said", ["data 5 3610a686", "data 5 3610a686\n", "data 6 3610a686\n", "data 5 00000000", "", "error"])
def test_what_the_board_says_it_has_must_be_what_was_sent(said):
    session = SimpleNamespace(name="b")
    if said.strip() == "data 5 3610a686":     # b"hello"
        _same(session, "/tmp/f", 5, 0x3610a686, said)
        return
    with pytest.raises(BoardError, match="arrived damaged"):
        _same(session, "/tmp/f", 5, 0x3610a686, said)
