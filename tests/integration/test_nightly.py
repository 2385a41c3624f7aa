"""`invoke nightly` as CI runs it: a real plan on a real QEMU board, one JUnit, one page, honest exit codes."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from sisctl.board.lock import BoardLock
from sisctl.campaign.core.records import read_records
from tests.conftest import new_folder

PROJECT = Path(__file__).resolve().parents[2]
INVOKE = Path(sys.executable).parent / "invoke"
PLAN = """name: short
boards: [qemu-virt-tiny]
steps:
  - kind: smoke
  - kind: ext4-crash
    options: {scenario: generated-1, runs: 1}
"""


def nightly(plan: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(INVOKE), "nightly", "--plan", str(plan), *args], cwd=PROJECT,
                          capture_output=True, text=True, timeout=900)


def newest(reports: Path) -> Path:
    return max(reports.glob("nightly-*"), key=lambda p: p.stat().st_mtime)


def test_a_plan_runs_end_to_end(lab_dirs, kbuild_artifact, tmp_path):
    plan = tmp_path / "short.yaml"
    plan.write_text(PLAN)
    dry = nightly(plan, "--dry-run")
    assert dry.returncode == 0 and "smoke.qemu-virt-tiny" in dry.stdout and "ext4-crash" in dry.stdout
    done = nightly(plan)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = newest(lab_dirs["reports"])
    assert done.stdout.strip().endswith(f"report {out / 'index.html'}")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "passed" and [j["status"] for j in summary["jobs"]] == ["passed", "passed"]
    assert summary["jobs"][0]["kernel"] == kbuild_artifact.manifest["kernel_version"]
    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == ["smoke.qemu-virt-tiny", "ext4-crash.qemu-virt-tiny"]
    assert all(s.get("failures") == "0" and s.get("errors") == "0" for s in suites)
    page = (out / "index.html").read_text()
    for job in summary["jobs"]:
        link = Path(job["report"]) / "index.html"
        assert link.exists() and str(Path("..") / link.parent.name / "index.html") in page


def test_a_board_that_cannot_be_had_is_an_infrastructure_error(lab_dirs, tmp_path):
    plan = tmp_path / "busy.yaml"
    plan.write_text(PLAN.replace("  - kind: smoke\n", ""))
    state = lab_dirs["state"] / "boards" / "qemu-virt-tiny"
    state.mkdir(parents=True, exist_ok=True)
    with BoardLock(state / "lock", "qemu-virt-tiny"):
        done = nightly(plan)
    assert done.returncode == 75, done.stdout[-2000:] + done.stderr[-2000:]
    suite = ET.parse(newest(lab_dirs["reports"]) / "junit.xml").getroot().find("testsuite")
    assert suite.get("errors") == "1" and suite.get("failures") == "0"
    assert "in use by pid" in suite.find("testcase/error").text
    assert "Traceback" not in done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: nightly short error: ext4-crash.qemu-virt-tiny: error (") and "in use by pid" in last


def test_a_bad_plan_is_refused_before_anything_runs(tmp_path):
    plan = tmp_path / "bad.yaml"
    plan.write_text(PLAN.replace("runs: 1", "runs: -3"))
    done = nightly(plan)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"error: {plan}: key 'steps[1].options'") and "--runs" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_sigterm_mid_plan_writes_its_summary_and_junit_as_aborted(lab_dirs, kbuild_artifact, tmp_path):
    """A cancelled CI job: the plan and the campaign it was running both say aborted; exit 143."""
    plan = tmp_path / "cancelled.yaml"
    plan.write_text("name: cancelled\nboards: [qemu-virt-tiny]\nsteps:\n  - kind: ktap\n"
                    "    options: {kernel: linux-kbuild-kunit+planted_kunit_panic=1}\n")
    earlier = set(lab_dirs["reports"].glob("*"))
    job = subprocess.Popen([str(INVOKE), "nightly", "--plan", str(plan)], cwd=PROJECT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        campaign = new_folder(lab_dirs["reports"], "ktap-*", earlier, lambda folder: any(
            r.get("type") == "boot" for r in read_records(folder / "records.jsonl")), timeout_s=600)
        assert campaign, "the plan's campaign never booted"
        job.send_signal(signal.SIGTERM)
        _, stderr = job.communicate(timeout=60)
    finally:
        job.kill()
        job.wait()
    assert job.returncode == 143, stderr[-2000:]
    out = max(set(lab_dirs["reports"].glob("nightly-*")) - earlier, key=lambda p: p.stat().st_mtime)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "aborted" and (out / "junit.xml").exists()
    assert json.loads((campaign / "summary.json").read_text())["status"] == "aborted"
    assert (campaign / "junit.xml").exists()
