"""A campaign's profiled phases: which commands are sampled, what is kept on disk and what a
resume, several boards and the page make of it (a stand-in session; the agent is the integration
tests')."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from sisctl.board.agent import CommandResult
from sisctl.campaign.core.phases import Phases
from sisctl.campaign.core.profiling import (FOLDER, PhaseProfiler, phase_profile_points, phase_profile_sections,
                                            write_phase_profiles)
from sisctl.errors import UsageError

REPORT = """profile:{mark} comm 91 sisagent
profile:{mark} stack 7 91 K,ffff8000080b4560,ffff8000080281a0,U
profile:{mark} stack 3 91 K,ffff8000080281a0,U
profile:{mark} sym ffff8000080b4560 jbd2_journal_recover
profile:{mark} sym ffff8000080281a0 ext4_fill_super
profile:{mark} total 10 1 2 0
profile:{mark} exit {code}
"""


@dataclass
class FakeBoard:
    name: str = "qemu-virt-0"


class FakeSession:
    """Runs nothing: answers a sampled command with the agent's report, any other with its echo."""

    def __init__(self, code: int = 0, unsupported: bool = False):
        self.board, self.commands = FakeBoard(), []
        self.code, self.unsupported, self.run_dir = code, unsupported, Path("/nonexistent")
        self.artifact = type("Artifact", (), {"vmlinux": None})()

    def guest_cpu_s(self) -> None:
        return None

    def run(self, command: str, timeout_s: float = 60.0) -> CommandResult:
        self.commands.append(command)
        if "sisagent profile" not in command:
            return CommandResult(command, command.encode(), b"", "exit", 0, 0.01)
        mark = command.split("SISAGENT_PROFILE_MARK=", 1)[1].split(" ", 1)[0]
        report = (f"profile:{mark} unsupported 2\n" if self.unsupported
                  else REPORT.format(mark=mark, code=self.code))
        return CommandResult(command, b"checked\n", b"its own line\n" + report.encode(), "exit", self.code, 0.5)


class Opening:
    def __init__(self, session):
        self.session = session

    def __enter__(self):
        return self.session

    def __exit__(self, *exc):
        return False


def campaign_phases(out: Path, board: str = "qemu-virt-0") -> Phases:
    phases = Phases()
    phases.profiler = PhaseProfiler(out, board, ("guest check",))
    return phases


def test_only_the_profiled_phases_commands_are_sampled_and_their_output_is_the_commands_own(tmp_path):
    phases, fake = campaign_phases(tmp_path), FakeSession()
    with phases.session(Opening(fake)) as session:
        assert session.run("mkdir /mnt/a").text == "mkdir /mnt/a"          # outside any guest phase
        with phases("workload", guest=True):
            session.run("workload")                                        # a guest phase not profiled
        with phases("guest check", guest=True):
            result = session.run("sisagent check /mnt slot0")
            with phases("e2fsck"):                                          # a host phase inside it
                session.run("still the check's")
        session.run("after")
    sampled = [c for c in fake.commands if "sisagent profile" in c]
    assert len(sampled) == 2 and "sisagent check /mnt slot0" in sampled[0] and "still the check" in sampled[1]
    assert "after" in fake.commands and "workload" in fake.commands
    assert result.text == "checked\n" and result.stderr == b"its own line\n" and result.code == 0
    folder = tmp_path / FOLDER / "guest-check"
    assert (folder / "phase").read_text() == "guest check"
    assert "sisagent;[user];ext4_fill_super;jbd2_journal_recover 7" in (folder / "qemu-virt-0.folded").read_text()
    totals = json.loads((folder / "qemu-virt-0.totals.json").read_text())
    assert totals["commands"] == 2 and totals["samples"] == 20 and totals["lost"] == 2 and totals["counted"] == 20


def test_a_failing_command_keeps_its_exit_code_and_a_kernel_without_perf_is_bad_input(tmp_path):
    phases = campaign_phases(tmp_path)
    with phases.session(Opening(FakeSession(code=3))) as session, phases("guest check", guest=True):
        assert session.run("false").code == 3
    with pytest.raises(UsageError, match="no perf events"):
        with phases.session(Opening(FakeSession(unsupported=True))) as session, phases("guest check", guest=True):
            session.run("sisagent check /mnt slot0")


def test_the_phases_profile_merges_boards_and_a_resume_adds_to_it(tmp_path):
    for board in ("board-a", "board-b", "board-a"):                        # board-a again: a resumed campaign
        phases = campaign_phases(tmp_path, board)
        with phases.session(Opening(FakeSession())) as session, phases("guest check", guest=True):
            session.run("sisagent check /mnt slot0")
    figures = write_phase_profiles(tmp_path, "campaign")["guest check"]
    assert figures["counted"] == 30 and figures["commands"] == 3 and figures["stacks"] == 2
    assert figures["top"][0]["function"] == "jbd2_journal_recover" and figures["top"][0]["self"] == 21
    assert (tmp_path / figures["folder"] / "flame.svg").read_text().startswith("<svg")
    points = phase_profile_points(tmp_path, "board-a", "campaign")
    first = points[0].to_line_protocol()
    assert "phase=guest\\ check" in first and "board=board-a" in first and "samples=14i" in first
    sections = phase_profile_sections({"report": str(tmp_path), "phase_profiles": {"guest check": figures}})
    assert sections[0].title == "Where the kernel spent 'guest check'"
    assert "<script>" not in sections[0].sections[-1].svg


def test_a_truncated_last_line_of_a_killed_campaign_is_left_out(tmp_path):
    phases = campaign_phases(tmp_path)
    with phases.session(Opening(FakeSession())) as session, phases("guest check", guest=True):
        session.run("sisagent check /mnt slot0")
    with open(tmp_path / FOLDER / "guest-check" / "qemu-virt-0.folded", "a") as f:
        f.write("sisagent;[user];ext4_fill_")                               # killed mid-write
    assert write_phase_profiles(tmp_path, "c")["guest check"]["stacks"] == 2
    with phases.session(Opening(FakeSession())) as session, phases("guest check", guest=True):
        session.run("sisagent check /mnt slot0")                            # the resumed campaign's
    figures = write_phase_profiles(tmp_path, "c")["guest check"]
    assert figures["stacks"] == 2 and figures["top"][0]["self"] == 14


@pytest.mark.parametrize("damage", [
    ("qemu-virt-0.totals.json", b'{"commands": 27, "samp'), ("qemu-virt-0.totals.json", b""),
    ("qemu-virt-0.totals.json", b"[]"), ("qemu-virt-0.totals.json", b'{"commands": "x", "vmlinux": "/etc/passwd"}'),
    ("qemu-virt-0.folded", b"\xff\xfe;x 3\n;;; 3\nhuge 99999999999999999999999\n"), ("phase", None)])
def test_damaged_profile_files_cost_the_summary_nothing(tmp_path, damage):
    phases = campaign_phases(tmp_path)
    with phases.session(Opening(FakeSession())) as session, phases("guest check", guest=True):
        session.run("sisagent check /mnt slot0")
    name, text = damage
    target = tmp_path / FOLDER / "guest-check" / name
    if text is None:
        target.unlink()
    elif name.endswith(".folded"):
        target.write_bytes(target.read_bytes() + text)
    else:
        target.write_bytes(text)
    with phases.session(Opening(FakeSession())) as session, phases("guest check", guest=True):
        session.run("sisagent check /mnt slot0")                            # a resume appends
    profiles = write_phase_profiles(tmp_path, "c")
    [figures] = profiles.values()
    assert figures["top"][0]["function"] == "jbd2_journal_recover" and figures["top"][0]["self"] == 14
    assert "huge" not in {t["function"] for t in figures["top"]}
    assert phase_profile_points(tmp_path, "qemu-virt-0", "c")


def test_no_profile_without_the_agent_and_the_option_is_on_or_off():
    from sisctl.campaign.ext4crash import KIND
    from sisctl.campaign.ext4crash.options import config_from_options
    board = type("Board", (), {"name": "qemu-virt-seed-standin",
                               "spec": type("Spec", (), {"target": type("T", (), {"crash": object()})()})()})()
    config = config_from_options("b", 1, {"mode": "reset", "profile": "on"})
    with pytest.raises(UsageError, match="--profile on samples by sisctl's agent"):
        KIND.runs_without_agent(config, board)
    with pytest.raises(UsageError, match="--profile 'sometimes'"):
        config_from_options("b", 1, {"profile": "sometimes"})
