"""Remote lab hosts without SSH: lab.yaml's hosts, which boards are remote, the remote shell line
(run through a real shell), the words each task sends there, and the --wait / --priority options
every board task shares."""
from __future__ import annotations

import signal
import subprocess
from types import SimpleNamespace

import pytest
import yaml
from invoke import Collection, Context, Exit
from invoke.parser import Parser

from sisctl.board.spec import BoardSpec, LabPlace as BoardLab
from sisctl.cli.common import hold_options
from sisctl.config import ConfigError
from sisctl.errors import UsageError
from sisctl.fleet import claims, remote
from sisctl.labfile import CoordinatorSpec, LabHostSpec
from sisctl.fleet.remote import THIS_HOST_VARIABLE, Host, _on_host, lab_host_of, remote_command
from sisctl.paths import PROJECT
from sisctl.labfile import load_lab

GOOD_HOST = {"address": "lab2.example", "checkout": "/opt/sisctl", "user": "ci", "port": 2222,
             "known_hosts": "/etc/sisctl/known_hosts", "env": {"SISCTL_STATE": "/var/lib/sisctl"}}


def lab_yaml(tmp_path, monkeypatch, hosts: dict):
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump({"hosts": hosts}))
    monkeypatch.setenv("SISCTL_LAB", str(path))
    return path


def board_on(host: str) -> BoardSpec:
    return BoardSpec(name="b1", lab=BoardLab(host=host))


def test_the_embedded_lab_yaml_loads_and_names_no_remote_host(monkeypatch):
    monkeypatch.setenv("SISCTL_LAB", str(PROJECT / "lab" / "lab.yaml"))
    assert load_lab().hosts == {}


def test_a_lab_host_is_read_with_its_defaults(tmp_path, monkeypatch):
    lab_yaml(tmp_path, monkeypatch, {"lab2": GOOD_HOST})
    host = load_lab().hosts["lab2"]
    assert (host.address, host.port, host.command, host.key_env) == ("lab2.example", 2222, [".venv/bin/invoke"],
                                                                     "SISCTL_LAB_SSH_KEY")


@pytest.mark.parametrize("change, key, words", [
    ({"checkout": "opt/sisctl"}, "hosts.lab2.checkout", "absolute path"),
    ({"boards": "boards"}, "hosts.lab2.boards", "absolute path"),
    ({"port": 70000}, "hosts.lab2.port", "<= 65535"),
    ({"address": "two words"}, "hosts.lab2.address", "host name"),
    ({"command": []}, "hosts.lab2.command", "non-empty list"),
    ({"env": {"1BAD": "x"}}, "hosts.lab2.env.1BAD", "environment variable"),
    ({"key_env": "my key"}, "hosts.lab2.key_env", "environment variable"),
    ({"password": "hunter2"}, "hosts.lab2.password", "unknown key"),      # no secrets in the YAML
    ({"address": None}, "hosts.lab2.address", "expected a string"),
])
def test_a_bad_lab_host_is_one_line_naming_file_and_key(tmp_path, monkeypatch, change, key, words):
    path = lab_yaml(tmp_path, monkeypatch, {"lab2": {**GOOD_HOST, **change}})
    with pytest.raises(ConfigError) as caught:
        load_lab()
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: key '{key}'") and words in message, message


@pytest.mark.parametrize("where, refused", [("lab/lab2-secret.yaml", True), ("boards/../lab/s.yaml", True),
                                             ("reports/lab2-secret.yaml", False), ("/run/secrets/lab2.yaml", False)])
def test_a_secret_file_git_would_commit_is_refused(tmp_path, monkeypatch, where, refused):
    """Inside the project only where .gitignore keeps it out of commits (reports/ is ignored)."""
    path = lab_yaml(tmp_path, monkeypatch, {"lab2": {**GOOD_HOST, "secret_file": str(PROJECT / where)
                                                     if not where.startswith("/") else where}})
    if not refused:
        assert load_lab().hosts["lab2"].secret_file.endswith(where.rsplit("/", 1)[1])
        return
    with pytest.raises(ConfigError) as caught:
        load_lab()
    assert str(caught.value).startswith(f"{path}: key 'hosts.lab2.secret_file': a file inside the project "
                                        "that git does not ignore"), caught.value


def test_a_lab_host_name_must_be_a_plain_name(tmp_path, monkeypatch):
    lab_yaml(tmp_path, monkeypatch, {"lab/2": GOOD_HOST})
    with pytest.raises(ConfigError, match="key 'hosts.lab/2'"):
        load_lab()


def test_only_boards_on_a_listed_other_host_are_remote(tmp_path, monkeypatch):
    lab_yaml(tmp_path, monkeypatch, {"lab2": GOOD_HOST})
    monkeypatch.delenv(THIS_HOST_VARIABLE, raising=False)
    host = lab_host_of(board_on("lab2"))
    assert host.name == "lab2" and host.spec.address == "lab2.example"
    assert lab_host_of(board_on("labhost-a")) is None       # not reached over SSH: attached here
    assert lab_host_of(BoardSpec(name="b1")) is None
    monkeypatch.setenv(THIS_HOST_VARIABLE, "lab2")            # sisctl running on lab2 itself
    assert lab_host_of(board_on("lab2")) is None


def host_with(**spec) -> Host:
    return Host("lab2", LabHostSpec(**{"address": "x", "checkout": "/", **spec}))


def test_the_board_is_named_as_the_remote_host_knows_it():
    assert host_with().board_ref("b1") == "b1"
    with_folder = host_with(boards="/srv/boards")
    assert with_folder.board_ref("b1") == "/srv/boards/b1.yaml"
    assert with_folder.board_ref("/here/boards/b1.yaml") == "/srv/boards/b1.yaml"
    assert host_with().board_ref("/here/boards/b1.yaml") == "b1"
    assert _on_host(with_folder, ["campaign", "--board", "b1", "--runs", "1"]) == \
        ["campaign", "--board", "/srv/boards/b1.yaml", "--runs", "1"]
    assert _on_host(with_folder, ["campaign", "--board=b1"]) == ["campaign", "--board=/srv/boards/b1.yaml"]
    assert with_folder.reports == "/reports" and host_with(env={"SISCTL_REPORTS": "/r"}).reports == "/r"


def test_the_remote_line_quotes_every_word_through_a_real_shell(tmp_path, monkeypatch):
    monkeypatch.delenv("SISCTL_WAIT", raising=False)
    monkeypatch.setenv("SISCTL_PRIORITY", "7")
    monkeypatch.setenv("CI_JOB_ID", "4711")
    host = host_with(checkout=str(tmp_path), command=["printf", "%s\\n"], env={"SISCTL_STATE": "/s p"})
    hostile = ["run", "--cmd=echo $(id) `id` 'q' \"d\"; rm -rf /", "a b", "*", "~", "$HOME", "--", "-x"]
    line = remote_command(host, hostile, env={"SISCTL_REPORTS": "/r"}, first=f"mkdir -p {tmp_path / 'made'}")
    out = subprocess.run(["sh", "-c", line], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].isdigit()                                   # the pid, for interrupting it
    assert out[1:] == hostile                                 # every word arrived as it was
    assert (tmp_path / "made").is_dir()
    shown = subprocess.run(["sh", "-c", remote_command(host_with(checkout=str(tmp_path), command=["env"]), [])],
                           capture_output=True, text=True, check=True).stdout
    assert "SISCTL_LAB_HOST=lab2" in shown and "SISCTL_PRIORITY=7" in shown and "SISCTL_JOB_ID=4711" in shown


def test_a_checkout_that_is_not_there_is_exit_127(tmp_path):
    line = remote_command(host_with(checkout=str(tmp_path / "missing"), command=["true"]), [])
    assert subprocess.run(["sh", "-c", line], capture_output=True).returncode == 127


@pytest.fixture
def fresh_hold_options(monkeypatch):
    monkeypatch.setattr(claims, "_hold_options", {})
    monkeypatch.delenv("SISCTL_WAIT", raising=False)
    monkeypatch.delenv("SISCTL_PRIORITY", raising=False)


def test_wait_and_priority_options_win_over_the_environment(fresh_hold_options, monkeypatch):
    spec = CoordinatorSpec(wait_s=1800)
    assert claims._waiting(spec) == (1800, 0)
    monkeypatch.setenv("SISCTL_WAIT", "5m")
    monkeypatch.setenv("SISCTL_PRIORITY", "3")
    assert claims._waiting(spec) == (300, 3)
    hold_options("90s", "-2.5")
    assert claims._waiting(spec) == (90, -2.5)
    hold_options("", "")
    assert claims._waiting(spec) == (90, -2.5)


@pytest.mark.parametrize("wait, priority, words", [
    ("soon", "", "--wait"), ("-5m", "", "--wait"), ("nan", "", "--wait"), ("", "high", "--priority"),
    ("", "inf", "--priority"),
])
def test_bad_wait_or_priority_is_a_usage_error_naming_the_option(fresh_hold_options, wait, priority, words):
    with pytest.raises((UsageError, Exit)) as caught:
        hold_options(wait, priority)
    error = caught.value
    assert getattr(error, "exit_code", getattr(error, "code", None)) == 2
    assert words in str(error.message if isinstance(error, Exit) else error)


def test_keys_and_passwords_come_from_the_environment_or_the_secret_file(tmp_path, monkeypatch):
    from sisctl.fleet.remote import LabHostError, _credentials
    key, other = tmp_path / "id_lab", tmp_path / "id_env"
    key.write_text("k")
    other.write_text("k")
    secret = tmp_path / "secret.yaml"
    secret.write_text(yaml.safe_dump({"key_file": str(key), "password": "s3cret"}))
    monkeypatch.delenv("SISCTL_LAB_SSH_KEY", raising=False)
    host = host_with(secret_file=str(secret), password_env="LAB2_PASSWORD")
    assert _credentials(host) == {"key_filename": str(key), "password": "s3cret", "passphrase": "s3cret"}
    monkeypatch.setenv("SISCTL_LAB_SSH_KEY", str(other))
    monkeypatch.setenv("LAB2_PASSWORD", "from-env")
    assert _credentials(host) == {"key_filename": str(other), "password": "from-env", "passphrase": "from-env"}
    monkeypatch.setenv("SISCTL_LAB_SSH_KEY", str(tmp_path / "missing"))
    with pytest.raises(LabHostError, match="lab host lab2 .*private key .*missing.* is not a file"):
        _credentials(host)
    secret.write_text(yaml.safe_dump({"key": "x"}))
    with pytest.raises(ConfigError, match=f"{secret}: key 'key': unknown key"):
        _credentials(host)


@pytest.fixture
def sent_to_lab2(fresh_hold_options, monkeypatch) -> list:
    """Every board is on lab2 (its boards folder /srv/boards); what each task sends there, with nothing sent."""
    sent = []
    host = host_with(boards="/srv/boards")
    monkeypatch.setattr(remote, "lab_host_of", lambda spec: host)
    monkeypatch.setattr(remote, "run_remote", lambda host, argv, interactive=False: sent.append((argv, interactive)))
    monkeypatch.setattr(remote, "remote_campaign", lambda host, argv, **kw: sent.append((argv, False)) or
                        SimpleNamespace(code=0, folder="here", summary={"status": "passed", "headline": "h",
                                                                        "report": "here", "passed": 1, "failed": 0}))
    monkeypatch.setattr(signal, "signal", lambda *args: None)    # console's SIGHUP handler
    return sent


def test_each_task_sends_its_own_name_and_the_options_it_was_given(sent_to_lab2):
    from sisctl.cli.board import console, flash, run, smoke
    from sisctl.cli.campaign import campaign_run
    for board_task, options in ((flash, {"recipe": "linux-kbuild", "json_": True, "wait": "90s", "priority": "-2.5"}),
                                (run, {"cmd": "echo $HOME --x", "timeout": "5m", "cold": True}),
                                (console, {"cold": True}),
                                (campaign_run, {"kind": "fuzz", "duration": "90s", "checksum_repair": "0.5",
                                                "stop_on": "WARNING", "seed": 0, "json_": True})):
        with pytest.raises(Exit) as ended:
            board_task(Context(), **options)
        assert ended.value.code == 0
    smoke(Context(), recipe="linux-kbuild", json_=True)
    board = "--board=/srv/boards/qemu-virt-0.yaml"      # named as lab2 knows it (remote_campaign does that itself)
    assert sent_to_lab2 == [
        (["flash", board, "--recipe=linux-kbuild", "--json", "--wait=90s", "--priority=-2.5"], False),
        (["run", board, "--timeout=5m", "--cold", "--cmd=echo $HOME --x"], False),
        (["console", board, "--cold"], True),
        (["campaign", "--kind=fuzz", "--board=qemu-virt-0", "--duration=90s", "--checksum-repair=0.5",
          "--stop-on=WARNING", "--seed=0"], False),                  # --json stays here: this side prints
        (["smoke", "--board=qemu-virt-0", "--recipe=linux-kbuild"], False)]


def test_the_words_sent_parse_back_to_the_options_given(sent_to_lab2):
    """The remote sisctl reads them with the same parser: every option arrives with its value."""
    from sisctl.cli.campaign import campaign, campaign_run
    ns = Collection(campaign)     # as tasks.py has it (importing tasks.py would set its exit step)
    given = {"kind": "ext4-crash", "scenario": "generated-2", "mode": "reset", "runs": "1", "seed": 7,
             "wait": "30m", "priority": "-1"}
    with pytest.raises(Exit):
        campaign_run(Context(), **given)
    ((words, _),) = sent_to_lab2
    (parsed,) = Parser(contexts=ns.to_contexts()).parse_argv(words)
    assert parsed.name == "campaign.run"
    assert {name: parsed.args[name].value for name in (*given, "board")} == {**given, "board": "qemu-virt-0"}


def test_an_option_of_another_kind_stops_before_anything_is_sent(sent_to_lab2):
    from sisctl.cli.campaign import campaign_run
    with pytest.raises(Exit) as stopped:
        campaign_run(Context(), kind="fuzz", runs="3")
    assert stopped.value.code == 2 and "--runs is not an option of fuzz campaigns" in stopped.value.message
    assert sent_to_lab2 == []
