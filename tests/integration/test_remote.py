"""A second lab host made of a real sshd on loopback, where sisctl runs with its own state, reports
and boards: the controller drives its QEMU board with `run` and a short ext4-crash campaign whose
records arrive in the controller's folder; a changed host key is refused and an unreachable host
fails fast, both exit 75 naming the host."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from sisctl import paths
from sisctl.net import free_port
from sisctl.paths import PROJECT
from tests.conftest import qemu_processes_mentioning
from tests.integration.conftest import keygen

INVOKE = str(PROJECT / ".venv" / "bin" / "invoke")
HOST = "lab2"
BOARD = "qemu-remote-0"


@pytest.fixture(scope="module")
def lab2_dirs(tmp_path_factory) -> dict[str, Path]:
    """The second host's own state, reports, boards and lab.yaml, kept across this module's tests
    (its board is flashed once); and the controller's file of the same board, naming its host."""
    root = tmp_path_factory.mktemp("lab2")
    dirs = {name: root / name for name in ("state", "reports", "boards", "controller-boards")}
    for folder in dirs.values():
        folder.mkdir()
    board = yaml.safe_load((PROJECT / "boards" / "qemu-virt-0.yaml").read_text())
    board.update(name=BOARD, lab={"host": HOST})
    for folder in ("boards", "controller-boards"):
        (dirs[folder] / f"{BOARD}.yaml").write_text(yaml.safe_dump(board))
    dirs["lab"] = root / "lab.yaml"           # nothing listens at its database: records stay spooled there
    dirs["lab"].write_text(yaml.safe_dump({"tsdb": {"url": f"http://127.0.0.1:{free_port()}"}}))
    return dirs


def controller_lab(tmp_path: Path, lab2_dirs: dict, ssh, **host) -> Path:
    """The controller's lab.yaml: lab host lab2 reached over `ssh` (the conftest sshd)."""
    spec = {"address": ssh.host, "port": ssh.port, "user": ssh.user, "known_hosts": ssh.known_hosts,
            "checkout": str(PROJECT), "boards": str(lab2_dirs["boards"]), "connect_timeout_s": 3,
            "env": {"SISCTL_STATE": str(lab2_dirs["state"]), "SISCTL_REPORTS": str(lab2_dirs["reports"]),
                    "SISCTL_LAB": str(lab2_dirs["lab"]), "SISCTL_CACHE": str(paths.cache_dir()),
                    "SISCTL_COORDINATOR": ""}, **host}
    path = tmp_path / "controller-lab.yaml"
    path.write_text(yaml.safe_dump({"tsdb": {"url": f"http://127.0.0.1:{free_port()}"}, "hosts": {HOST: spec}}))
    return path


def controller_env(lab: Path, ssh) -> dict[str, str]:
    env = {**os.environ, "SISCTL_LAB": str(lab), "SISCTL_LAB_SSH_KEY": ssh.key_file, "SISCTL_COORDINATOR": ""}
    env.pop("SISCTL_LAB_HOST", None)
    return env


def controller(lab: Path, ssh, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([INVOKE, *args], cwd=PROJECT, env=controller_env(lab, ssh), capture_output=True,
                          timeout=timeout)


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_run_on_a_board_of_another_lab_host_streams_its_output_and_exit_code(tmp_path, lab2_dirs, sshd, lab_dirs):
    lab = controller_lab(tmp_path, lab2_dirs, sshd)
    board = str(lab2_dirs["controller-boards"] / f"{BOARD}.yaml")
    done = controller(lab, sshd, "run", "--board", board, "--", "uname", "-m")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"aarch64\n"                        # exactly the command's output
    assert (lab2_dirs["state"] / "boards" / BOARD / "flashed.json").exists()    # flashed and run on lab2, with its state
    assert not (lab_dirs["state"] / "boards" / BOARD).exists()
    failed = controller(lab, sshd, "run", "--board", board, "--wait", "30s", "--priority", "2",
                        "--", "sh", "-c", "echo 'it said: $1' >&2; exit 3")
    assert failed.returncode == 3 and failed.stderr.decode().endswith("it said: $1\n"), failed.stderr.decode()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "ci-cancel"])
def test_stopping_the_controller_stops_the_remote_command_and_its_board(tmp_path, lab2_dirs, sshd, stop):
    lab = controller_lab(tmp_path, lab2_dirs, sshd)
    board = str(lab2_dirs["controller-boards"] / f"{BOARD}.yaml")
    job = subprocess.Popen([INVOKE, "run", "--board", board, "--", "sleep", "120"], cwd=PROJECT,
                           env=controller_env(lab, sshd), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not qemu_processes_mentioning(str(lab2_dirs["state"])) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert qemu_processes_mentioning(str(lab2_dirs["state"])), "the remote board never started"
    time.sleep(2)                                    # the command runs in the guest
    job.send_signal(stop)
    _, err = job.communicate(timeout=90)
    assert job.returncode == 130, err.decode()
    assert not qemu_processes_mentioning(str(lab2_dirs["state"]))        # the remote board was stopped
    assert not processes_mentioning(str(lab2_dirs["boards"]))            # and the remote sisctl ended


def test_a_campaign_on_another_lab_host_streams_its_records_into_the_controllers_folder(
        tmp_path, lab2_dirs, sshd, monkeypatch):
    from sisctl.fleet.remote import lab_host_of, remote_campaign
    from sisctl.board.spec import find_board
    monkeypatch.setenv("SISCTL_LAB", str(controller_lab(tmp_path, lab2_dirs, sshd)))
    monkeypatch.setenv("SISCTL_LAB_SSH_KEY", sshd.key_file)
    host = lab_host_of(find_board(str(lab2_dirs["controller-boards"] / f"{BOARD}.yaml")))
    assert host is not None and host.name == HOST
    local = tmp_path / "controller-campaign"
    progress = tmp_path / "progress.log"
    started = time.monotonic()
    with open(progress, "wb") as log:
        done = remote_campaign(host, ["campaign", "--kind", "ext4-crash", "--board", BOARD, "--scenario",
                                      "write_during_allocation", "--mode", "reset", "--runs", "1"], local, log)
    elapsed = time.monotonic() - started
    assert done.code == 0, progress.read_text()[-2000:]
    remote = Path(done.summary["remote"]["report"])
    assert remote.parent.parent == lab2_dirs["reports"]         # filed in lab2's own reports
    assert (local / "records.jsonl").read_bytes() == (remote / "records.jsonl").read_bytes()
    print(f"remote campaign: {done.records} records, {done.records_while_running} copied while it ran, "
          f"{elapsed:.1f} s")
    assert done.records >= 2 and done.records_while_running >= 1        # streamed, not copied at the end
    assert done.summary["status"] == "passed" and done.summary["report"] == str(local)
    assert json.loads((local / "summary.json").read_text())["remote"]["host"] == HOST
    assert "<testsuite" in (local / "junit.xml").read_text() and (local / "index.html").exists()
    assert (local / "campaign.json").exists()


@pytest.fixture
def wrong_host_key(tmp_path, sshd) -> Path:
    """A known_hosts file holding another key for the sshd's address: a changed (or spoofed) host."""
    key_type, key_data = keygen(tmp_path / "other_host_key").split()[:2]
    path = tmp_path / "wrong_known_hosts"
    path.write_text(f"[{sshd.host}]:{sshd.port} {key_type} {key_data}\n")
    return path


def test_a_changed_host_key_is_refused(tmp_path, lab2_dirs, sshd, wrong_host_key):
    lab = controller_lab(tmp_path, lab2_dirs, sshd, known_hosts=str(wrong_host_key))
    board = str(lab2_dirs["controller-boards"] / f"{BOARD}.yaml")
    done = controller(lab, sshd, "run", "--board", board, "--", "true", timeout=60)
    last = done.stderr.decode().strip().splitlines()[-1]
    assert done.returncode == 75 and f"lab host {HOST}" in last and "host key does not match" in last, last
    unknown = tmp_path / "empty_known_hosts"
    unknown.write_text("")
    lab = controller_lab(tmp_path, lab2_dirs, sshd, known_hosts=str(unknown))
    done = controller(lab, sshd, "flash", "--board", board, timeout=60)
    last = done.stderr.decode().strip().splitlines()[-1]
    assert done.returncode == 75 and "host key is not in" in last and "refusing" in last, last
    assert unknown.read_text() == ""                    # nothing added to it


def test_an_unreachable_host_or_a_missing_sisctl_fails_fast_naming_the_host(tmp_path, lab2_dirs, sshd):
    board = str(lab2_dirs["controller-boards"] / f"{BOARD}.yaml")
    lab = controller_lab(tmp_path, lab2_dirs, sshd, port=free_port())          # nothing listens there
    started = time.monotonic()
    done = controller(lab, sshd, "run", "--board", board, "--", "true", timeout=60)
    last = done.stderr.decode().strip().splitlines()[-1]
    assert done.returncode == 75 and f"lab host {HOST} (" in last and "unreachable" in last, last
    assert time.monotonic() - started < 15
    lab = controller_lab(tmp_path, lab2_dirs, sshd, checkout=str(tmp_path / "no-checkout"))
    done = controller(lab, sshd, "run", "--board", board, "--", "true", timeout=60)
    last = done.stderr.decode().strip().splitlines()[-1]
    assert done.returncode == 75 and "cannot run sisctl there" in last and f"lab host {HOST}" in last, last
    # a campaign on that board goes to its lab host too, and fails the same way, before any folder exists here
    done = controller(lab, sshd, "campaign", "--kind", "ext4-crash", "--board", board, "--runs", "1", timeout=60)
    last = done.stderr.decode().strip().splitlines()[-1]
    assert done.returncode == 75 and "cannot run sisctl there" in last and f"lab host {HOST}" in last, last


def test_smoke_on_a_board_of_another_lab_host_copies_its_report_and_console_log_here(
        tmp_path, lab2_dirs, sshd, lab_dirs):
    lab = controller_lab(tmp_path, lab2_dirs, sshd)
    board = str(lab2_dirs["controller-boards"] / f"{BOARD}.yaml")
    done = controller(lab, sshd, "smoke", "--board", board, "--json")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    summary = json.loads(done.stdout)
    local, remote = Path(summary["report"]), Path(summary["remote"]["report"])
    assert local.parent == lab_dirs["reports"] and remote.parent.parent == lab2_dirs["reports"]
    assert summary["remote"]["host"] == HOST and summary["failed"] == 0 and summary["passed"] >= 7
    assert json.loads((local / "summary.json").read_text())["report"] == str(local)
    for name in ("junit.xml", "report.md"):
        assert (local / name).read_bytes() == (remote / name).read_bytes(), name
    assert summary["console_log"] == str(local / "console.log")
    assert "@@SIS " in (local / "console.log").read_text(errors="replace")
    page, page_there = (local / "index.html").read_text(), (remote / "index.html").read_text()
    assert 'href="console.log"' in page and 'href="console.log"' not in page_there    # it links the copy
    assert "smoke" in page and len(page) > len(page_there) / 2
    assert (local / "console.log").read_bytes() == Path(summary["remote"]["console_log"]).read_bytes()


def test_console_on_a_board_of_another_lab_host_is_a_terminal_there(tmp_path, lab2_dirs, sshd):
    lab = controller_lab(tmp_path, lab2_dirs, sshd)
    board = str(lab2_dirs["controller-boards"] / f"{BOARD}.yaml")
    job = subprocess.Popen([INVOKE, "console", "--board", board], cwd=PROJECT, env=controller_env(lab, sshd),
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""

    def until(text: bytes, timeout_s: float = 120) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout_s
        while text not in seen and time.monotonic() < deadline:
            if select.select([job.stdout], [], [], 0.5)[0]:
                seen += os.read(job.stdout.fileno(), 4096)
        assert text in seen, seen[-2000:]
    try:
        until(b"attached")
        job.stdin.write(b"echo remote-says-$((40+2))\n")
        job.stdin.flush()
        until(b"remote-says-42")                 # run by the guest's shell: the typed line was "$((40+2))"
        job.stdin.write(b"\x1d")                 # Ctrl-] detaches
        job.stdin.flush()
        until(b"detached", 60)
        assert job.wait(timeout=60) == 0, job.stderr.read().decode()[-2000:]
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert not qemu_processes_mentioning(str(lab2_dirs["state"]))       # the remote board was stopped


def test_a_remote_console_whose_input_ends_at_once_detaches_and_stops_the_board(tmp_path, lab2_dirs, sshd):
    """Its Ctrl-] is sent before the remote console has the terminal, which drops it: it is sent again."""
    lab = controller_lab(tmp_path, lab2_dirs, sshd)
    board = str(lab2_dirs["controller-boards"] / f"{BOARD}.yaml")
    done = subprocess.run([INVOKE, "console", "--board", board], cwd=PROJECT, env=controller_env(lab, sshd),
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=180)
    assert done.returncode == 0, (done.stdout + done.stderr).decode(errors="replace")[-2000:]
    assert b"detached" in done.stdout
    assert not qemu_processes_mentioning(str(lab2_dirs["state"]))
