"""`invoke lab.up` runs the embedded coordinator on loopback next to the database; commands find it
with nothing configured; `lab.down` stops both and leaves no process behind."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from sisctl.fleet.embedded import EmbeddedCoordinator
from sisctl.net import free_port
from sisctl.paths import PROJECT

INVOKE = str(PROJECT / ".venv" / "bin" / "invoke")


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for init to reap it."""
    try:
        return "\tZ" not in Path(f"/proc/{pid}/status").read_text().split("State:")[1][:4]
    except (FileNotFoundError, IndexError):
        return False


def test_lab_up_runs_the_embedded_coordinator_and_lab_down_stops_it(tmp_path):
    listen, tsdb = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    (tmp_path / "lab.yaml").write_text(yaml.safe_dump({
        "tsdb": {"url": f"http://{tsdb}"}, "embedded": {"listen": tsdb}, "coordinator": {"listen": listen}}))
    env = {k: v for k, v in os.environ.items() if k != "SISCTL_COORDINATOR"}
    env.update(SISCTL_STATE=str(tmp_path / "state"), SISCTL_LAB=str(tmp_path / "lab.yaml"))

    def invoke(*args):
        return subprocess.run([INVOKE, *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)

    before = invoke("fleet.list")
    assert before.returncode == 2 and "a fleet task needs a coordinator, and none is configured" in before.stderr
    up = invoke("lab.up")
    coordinator = EmbeddedCoordinator(listen, tmp_path / "state" / "coordinator")
    try:
        assert up.returncode == 0, up.stderr
        assert f"labgrid coordinator running at {listen}" in up.stdout
        pid = coordinator.pid()
        assert pid is not None
        listed = invoke("fleet.list")
        assert listed.returncode == 0 and "no boards on the coordinator" in listed.stdout, listed.stderr
    finally:
        down = invoke("lab.down")
    assert down.returncode == 0, down.stderr
    assert coordinator.pid() is None and not running(pid)
    after = invoke("fleet.list")
    assert after.returncode == 2                # back to local file locks: nothing to list
