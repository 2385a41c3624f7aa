"""Bad input to targets found by trying them as a hostile user would: each is a usage error (exit 2)
before anything boots, or handled, never a traceback or a misleading login failure."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from sisctl.board.target import Secret
from sisctl.board.target.osimage import _password
from sisctl.board.target.prompt import CrashProfile
from sisctl.campaign.ext4crash import KIND
from sisctl.campaign.ext4crash.options import CampaignConfig
from sisctl.campaign.ext4crash.promptcrash import workload_line
from sisctl.errors import UsageError


def test_a_secret_with_a_line_break_is_refused(monkeypatch):
    monkeypatch.setenv("SECRET", "ab\nzz")
    with pytest.raises(UsageError, match=r"from \$SECRET has a line break") as raised:
        Secret(env="SECRET").read("b", "the login password")
    assert raised.value.exit_code == 2


def test_an_empty_password_for_a_stand_in_would_lock_it_and_is_refused(monkeypatch):
    monkeypatch.setenv("SECRET", "")
    board = SimpleNamespace(name="b", spec=SimpleNamespace(target=SimpleNamespace(password=Secret(env="SECRET"))))
    with pytest.raises(UsageError, match="password is empty"):
        _password(board)
    assert _password(SimpleNamespace(name="b", spec=SimpleNamespace(target=SimpleNamespace()))) == ""


def test_a_workload_keeps_every_brace_but_its_scenario():
    profile = CrashProfile(workload="fsctl stress {scenario} {oops} | awk '{print}'", verify="v")
    assert workload_line(profile, "s1") == "fsctl stress s1 {oops} | awk '{print}'"


def test_generated_scenarios_are_refused_on_a_kernels_own_workload():
    board = SimpleNamespace(name="seed", spec=SimpleNamespace(target=SimpleNamespace(crash=object())))
    config = CampaignConfig("seed", ["write_during_allocation", "generated-1"], mode="reset")
    with pytest.raises(UsageError, match="--scenario generated-1: generated scenarios are sisctl's own"):
        KIND.runs_without_agent(config, board)
    assert KIND.runs_without_agent(CampaignConfig("seed", ["truncate_operations"], mode="reset"), board)
    with pytest.raises(UsageError, match="only --mode reset"):
        KIND.runs_without_agent(CampaignConfig("seed", ["truncate_operations"]), board)
