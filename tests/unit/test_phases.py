"""Phase timing: wall and CPU per phase, the emulator's CPU moved off the host where QEMU is reaped,
and the table benchmarks print."""
from __future__ import annotations

import subprocess
import time
from contextlib import contextmanager

import pytest

from sisctl.campaign.core.phases import Phases, by_board, table
from sisctl.campaign.ext4crash.guestfs import parse_check_output


def spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_a_phase_has_its_wall_and_this_threads_cpu():
    phases = Phases()
    with phases("busy"):
        spin(0.05)
    with phases("idle"):
        time.sleep(0.05)
    with phases("busy") as again:
        spin(0.02)
    assert 0.015 <= again.host_cpu_s < phases.as_dict()["busy"]["host_cpu_s"]   # the block's own figures
    busy, idle = phases.as_dict()["busy"], phases.as_dict()["idle"]
    assert busy["host_cpu_s"] >= 0.065 and idle["host_cpu_s"] < 0.02
    assert idle["wall_s"] >= 0.05 and busy["guest_cpu_s"] is None


def test_a_child_process_reaped_in_a_phase_counts_as_host_cpu():
    phases = Phases()
    with phases("child"):
        subprocess.run(["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"], check=True)
    assert phases.as_dict()["child"]["host_cpu_s"] > 0.005


def test_guest_cpu_only_for_phases_that_ask_and_a_failing_phase_still_counts():
    clock = iter([1.0, 1.5, 2.0, 4.0])
    phases = Phases()
    phases.guest_cpu = lambda: next(clock)
    with phases("guest", guest=True):
        pass
    with phases("host"):
        pass
    with pytest.raises(RuntimeError), phases("guest", guest=True):
        raise RuntimeError("the guest failed")
    got = phases.as_dict()
    assert got["guest"]["count"] == 2 and got["guest"]["guest_cpu_s"] == pytest.approx(0.5 + 2.0)
    assert got["host"]["guest_cpu_s"] is None


class FakeSession:
    def __init__(self):
        self.cpu = 3.0

    def guest_cpu_s(self):
        return self.cpu


def test_a_session_gives_its_start_the_boot_cpu_and_takes_the_reaped_emulator_off_its_end():
    phases, session = Phases(), FakeSession()

    @contextmanager
    def opening():
        yield session
        spin(0.03)   # stands for QEMU's CPU entering the host's children when it is reaped

    with phases.session(opening()) as got:
        assert got is session and phases.guest_cpu() == 3.0
        session.cpu = 5.0
        with phases("work", guest=True):
            session.cpu = 7.0
    got = phases.as_dict()
    assert got["session start"]["guest_cpu_s"] == 3.0 and got["session start"]["count"] == 1
    assert got["work"]["guest_cpu_s"] == 2.0
    assert got["session end"]["count"] == 1
    assert got["session end"]["host_cpu_s"] == pytest.approx(0.03 - 7.0, abs=0.02)
    assert phases.guest_cpu() is None   # the session is over


def test_a_session_that_fails_still_ends_and_raises_its_own_error():
    phases, ended = Phases(), []

    @contextmanager
    def opening():
        try:
            yield FakeSession()
        finally:
            ended.append(True)

    with pytest.raises(ValueError, match="inside"), phases.session(opening()):
        raise ValueError("inside")
    assert ended == [True] and "session end" not in phases.as_dict()


def test_the_table_puts_parts_under_their_phase_and_leaves_them_out_of_the_shares():
    phases = Phases()
    phases.add("check", 3.0, guest_cpu=2.5)
    phases.add("replay", 1.0, host_cpu=0.5)
    phases.add("mount (guest)", 2.0, within="check")
    text = table(phases.as_dict(), units=10, unit="state")
    lines = text.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["check", "mount", "replay"]
    assert "75.0%" in lines[1] and "25.0%" in lines[3] and "%" not in lines[2]
    assert lines[1].split()[2] == "300.0" and lines[1].split()[-1] == "250.0"
    assert table({}, 0, "state") == "no states: no table"


def test_summaries_keep_each_boards_phases():
    figures = {"by_board": {"a": {"phases": {"x": {}}}, "b": {"states_checked": 3}}}
    assert by_board(figures) == {"a": {"x": {}}}


def test_the_guest_reports_its_own_time_per_step():
    text = "== slot0\nrecovery_ns 40000000\nf a 1 00000000 1\nsanity ok\ntimes_ns 1000000 2000000 3000000\n== slot1\n"
    reports = parse_check_output(text, ["slot0", "slot1"])
    assert reports["slot0"].step_ms == {"dump": 1.0, "sanity": 2.0, "umount": 3.0}
    assert reports["slot0"].recovery_ms == 40.0 and reports["slot1"].step_ms == {}
