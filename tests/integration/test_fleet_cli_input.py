"""Bad input to the fleet tasks: one line naming the option, exit 2, before any coordinator is asked."""
from __future__ import annotations

import os
import subprocess

import pytest

from sisctl.net import free_port
from sisctl.paths import PROJECT

INVOKE = str(PROJECT / ".venv" / "bin" / "invoke")


@pytest.mark.parametrize("args,env,named", [
    (["fleet.hold", "--board", "x", "--priority", "abc"], {}, "--priority"),
    (["fleet.hold", "--board", "x", "--seconds", "1x"], {}, "--seconds"),
    (["fleet.hold", "--board", "x", "--wait", "soon"], {}, "--wait"),
    (["fleet.hold", "--board", "x"], {"SISCTL_WAIT": "later"}, "SISCTL_WAIT"),
    (["fleet.hold", "--board", "tag:type"], {}, "--board tag:type"),
    (["fleet.maintenance", "--board", "x"], {}, "--on and --off"),
])
def test_bad_input_is_one_line_and_exit_2(args, env, named, tmp_path):
    nobody = f"127.0.0.1:{free_port()}"          # nothing listens: asking it would be exit 75
    done = subprocess.run([INVOKE, *args], cwd=PROJECT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SISCTL_COORDINATOR": nobody, "SISCTL_STATE": str(tmp_path), **env})
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and named in done.stderr and len(done.stderr.splitlines()) == 1


def test_an_unreachable_coordinator_is_an_infrastructure_error(tmp_path):
    nobody = f"127.0.0.1:{free_port()}"
    done = subprocess.run([INVOKE, "fleet.list"], cwd=PROJECT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SISCTL_COORDINATOR": nobody, "SISCTL_STATE": str(tmp_path)})
    assert done.returncode == 75 and f"labgrid coordinator at {nobody} did not answer" in done.stderr
