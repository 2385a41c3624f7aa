"""Each campaign kind's one option table: its config, `invoke campaign`'s options and help, test plans,
and the command line staying fast to start."""
from __future__ import annotations

import inspect
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from sisctl.campaign.core.kind import KIND_MODULES, kind_named, kind_options
from sisctl.campaign.core.options import Option, option_values
from sisctl.cli.campaign import KIND_HELP, campaign_run
from sisctl.errors import UsageError
from sisctl.paths import PROJECT


def test_every_kind_has_a_table_of_distinct_named_options():
    for kind, table in kind_options().items():
        assert table and all(isinstance(o, Option) for o in table), kind
        names = [o.name for o in table]
        assert len(set(names)) == len(names) and all(n.isidentifier() for n in names), kind


@pytest.mark.parametrize("kind", ["ext4-crash", "fuzz"])
def test_the_tables_defaults_are_the_configs(kind):
    """No option given: the config a resume of an older campaign.json (missing fields) also gets."""
    config = kind_named(kind).config_from_options("qemu-virt-0", 1, {})
    defaults = {f.name: f.default for f in fields(config) if f.name not in ("board", "scenarios")}
    assert {k: v for k, v in vars(config).items() if k in defaults} == defaults


def test_every_option_of_every_kind_is_an_option_of_the_task_with_its_kinds_help():
    parameters = inspect.signature(campaign_run.body).parameters      # what invoke makes the options of
    for kind, table in kind_options().items():
        for option in table:
            assert parameters[option.name].default is None               # None: not given
            assert f"{kind}: {option.shown_help}" in KIND_HELP[option.name]
    assert {"kind", "board", "boards", "seed", "resume", "json_", "wait", "priority"} <= set(parameters)


def test_invoke_help_campaign_shows_every_option():
    done = subprocess.run([str(PROJECT / ".venv" / "bin" / "invoke"), "--help", "campaign"], cwd=PROJECT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    shown = "".join(done.stdout.split())        # help wraps lines, also at hyphens
    for kind, table in kind_options().items():
        for option in table:
            assert f"{option.flag}=STRING" in shown and "".join(f"{kind}: {option.help}".split()) in shown


def test_an_option_not_in_the_table_names_the_ones_the_kind_takes():
    with pytest.raises(UsageError, match=r"^--stop-on is not an option of ext4-crash campaigns "
                                         r"\(they take --scenario, --mode, --runs, --profile\)$"):
        kind_named("ext4-crash").config_from_options("qemu-virt-0", 1, {"stop_on": "x"})
    with pytest.raises(UsageError, match=r"^--runs is not an option of fuzz campaigns \(they take --target, "
                                         r"--duration, --corpus, --coverage, --checksum-repair, --stop-on, --minimize, --profile\)$"):
        kind_named("fuzz").config_from_options("qemu-virt-0", 1, {"runs": 1})


def test_values_are_parsed_from_text_or_plan_values_and_none_is_not_given():
    table = kind_named("ext4-crash").options
    assert option_values("ext4-crash", table, {"runs": "3", "mode": None}) == \
        {"scenarios": kind_named("ext4-crash").config_from_options("b", 1, {}).scenarios, "mode": "powerloss", "runs": 3,
         "profile": "off"}
    assert option_values("ext4-crash", table, {"runs": 3})["runs"] == 3
    fuzz = kind_named("fuzz").config_from_options("b", 1, {"duration": "2m", "checksum_repair": 0.5,
                                                          "stop_on": "WARNING"})
    assert (fuzz.duration_s, fuzz.checksum_repair, fuzz.stop_on) == (120, 0.5, "WARNING")
    for bad, words in (({"mode": "flood"}, "--mode 'flood': expected one of powerloss, reset"),
                       ({"runs": True}, "--runs True")):
        with pytest.raises(UsageError, match=words):
            option_values("ext4-crash", table, bad)


def test_the_command_line_gets_the_tables_without_the_run_side():
    """The tables are read on every start of the command line: no boards, plots or statistics then."""
    code = ("import sys; from sisctl.campaign.core.kind import kind_options; kind_options(); "
            "print(sorted(m for m in ('sisctl.board.board', 'matplotlib', 'scipy', 'influxdb_client') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
    assert set(kind_options()) == set(KIND_MODULES)


@pytest.mark.parametrize("words, problem", [
    (["--kind", "bench", "-c", "x"], "--corpus is not an option of bench campaigns"),
    (["--kind", "ext4-crash", "-u", "x"], "--suite is not an option of ext4-crash campaigns")])
def test_a_short_flag_of_another_kind_stops_the_task_before_anything_runs(tmp_path, words, problem):
    """Short flags follow the option tables: one that means another kind's option now is a usage error."""
    invoke = Path(sys.executable).parent / "invoke"
    done = subprocess.run([str(invoke), "campaign", *words], capture_output=True, text=True, timeout=60,
                          cwd=PROJECT, env={**os.environ, "SISCTL_STATE": str(tmp_path / "state"),
                                            "SISCTL_REPORTS": str(tmp_path / "reports")})
    assert done.returncode == 2 and done.stderr.startswith(f"error: {problem}"), done.stderr
    assert not (tmp_path / "reports").exists()
