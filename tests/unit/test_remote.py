"""Remote lab hosts without SSH: lab.yaml's hosts, which boards are remote, the remote shell line
(run through a real shell), and the --wait / --priority options every board task shares."""
from __future__ import annotations

import subprocess

import pytest
import yaml
from invoke import Exit

from sisctl.board.spec import BoardSpec, LabSpec as BoardLab
from sisctl.cli.common import hold_options
from sisctl.config import ConfigError
from sisctl.errors import UsageError
from sisctl.fleet import claims
from sisctl.fleet.config import CoordinatorSpec, LabHostSpec
from sisctl.fleet.remote import THIS_HOST_VARIABLE, Host, _on_host, lab_host_of, remote_command
from sisctl.paths import PROJECT
from sisctl.telemetry.lab import load_lab

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
    assert hold_options("90s", "-2.5") == ["--wait", "90s", "--priority", "-2.5"]
    assert claims._waiting(spec) == (90, -2.5)
    assert hold_options("", "") == [] and claims._waiting(spec) == (90, -2.5)


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
