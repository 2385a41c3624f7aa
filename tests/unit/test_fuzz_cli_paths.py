"""fuzz.repro and fuzz.minimize take a finding by its name in the campaign, never a path out of it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
INVOKE = Path(sys.executable).parent / "invoke"


@pytest.mark.parametrize("task", ["fuzz.repro", "fuzz.minimize"])
@pytest.mark.parametrize("crash", ["../../outside", "../crashes/../../outside", "/etc"])
def test_a_crash_path_out_of_the_campaign_is_bad_input(tmp_path, task, crash):
    out = tmp_path / "reports" / "fuzz-1"
    (out / "crashes" / "warning-in-ext4-setattr-abc123").mkdir(parents=True)
    (out / "crashes" / "warning-in-ext4-setattr-abc123" / "crash.json").write_text("{}")
    (out / "campaign.json").write_text(json.dumps({"kind": "fuzz", "config": {"board": "qemu-virt-0", "seed": 1},
                                                   "boards": ["qemu-virt-0"]}))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "crash.json").write_text("{not json")
    done = subprocess.run([str(INVOKE), task, "--campaign", str(out), "--crash", crash], cwd=PROJECT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SISCTL_STATE": str(tmp_path / "state"),
                               "SISCTL_REPORTS": str(tmp_path / "reports")})
    assert done.returncode == 2, done.stderr
    assert "no such finding in fuzz-1; its findings: warning-in-ext4-setattr-abc123" in done.stderr
    assert "Traceback" not in done.stderr
