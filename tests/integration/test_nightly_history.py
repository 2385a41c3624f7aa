"""Three real plan runs of one KUnit step: clean, then a kernel with one failing case, then clean
again. The second names the new failure with its last pass and first fail, and tells a webhook;
the third says fixed;
`invoke report.history` prints the case's three results. History never changes an exit code."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import kcidb_io
import pytest

from tests.conftest import http_receiver

pytestmark = [pytest.mark.integration, pytest.mark.kbuild]

PROJECT = Path(__file__).resolve().parents[2]
INVOKE = Path(sys.executable).parent / "invoke"
PLAN = """name: history-check
boards: [qemu-virt-tiny]
steps:
  - kind: ktap
    options: {{kernel: "{kernel}", suites: "ext4_*"}}
"""
CASE = "ext4_inode_test.inode_test_xtimestamp_decoding.1901-12-13 Lower bound of 32bit < 0 timestamp, no extra bits"


@pytest.fixture
def webhook(tmp_path):
    """A loopback receiver for the nightly's notifications, named in a lab file of this test's own."""
    with http_receiver() as (url, received):
        lab = tmp_path / "lab.yaml"
        lab.write_text(f"notify:\n  webhook: {{url: '{url}'}}\n")
        yield lab, received


def night(tmp_path: Path, kernel: str, lab: Path | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    plan = tmp_path / "history-check.yaml"
    plan.write_text(PLAN.format(kernel=kernel))
    env = {**os.environ, **({"SISCTL_LAB": str(lab)} if lab else {})}
    done = subprocess.run([str(INVOKE), "nightly", "--plan", str(plan)], cwd=PROJECT, capture_output=True,
                          text=True, timeout=900, env=env)
    report = Path(done.stdout.strip().rsplit("report ", 1)[-1]).parent
    return done, json.loads((report / "summary.json").read_text())


def test_a_new_failure_then_fixed_across_three_nights(lab_dirs, kbuild_artifact, tmp_path, webhook):
    lab, received = webhook
    first, one = night(tmp_path, "linux-kbuild-kunit", lab)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert one["history"]["counts"]["new test"] == 16 and one["history"]["counts"]["new failure"] == 0

    assert received == []   # nothing new failed: nobody is told
    second, two = night(tmp_path, "linux-kbuild-kunit+planted_kunit_ext4=1", lab)
    assert second.returncode == 1, second.stdout[-3000:]
    new = [v for v in two["history"]["verdicts"] if v["class"] == "new failure"]
    assert [v["case"] for v in new] == [CASE] and new[0]["job"] == "ktap.qemu-virt-tiny"
    assert new[0]["last_pass"]["run"] == Path(one["report"]).name
    assert new[0]["first_fail"]["run"] == Path(two["report"]).name and new[0]["first_fail"]["build_id"]
    assert f"new failure: ktap.qemu-virt-tiny {CASE}" in second.stdout
    assert "new failures sent by webhook" in second.stdout
    assert [[f["case"] for f in body["new_failures"]] for _, body in received] == [[CASE]]
    assert received[0][1]["run"] == Path(two["report"]).name
    page = (Path(two["report"]) / "index.html").read_text()
    assert page.index("Since the last run") < page.index("Jobs") and "new failure" in page

    # the same run in KernelCI's format, checked by kcidb-io's own schema
    exported = subprocess.run([str(INVOKE), "report.kcidb", "--job", Path(two["report"]).name], cwd=PROJECT,
                              capture_output=True, text=True, timeout=60)
    assert exported.returncode == 0 and "valid" in exported.stdout, exported.stderr
    data = json.loads((Path(two["report"]) / "kcidb.json").read_text())
    kcidb_io.schema.LATEST.validate(data)
    failed = [t for t in data["tests"] if t["status"] == "FAIL"]
    assert [t["path"] for t in failed] == ["ktap.ext4_inode_test.inode_test_xtimestamp_decoding"]
    assert failed[0]["misc"]["name"] == CASE and "EXPECTATION FAILED" in failed[0]["log_excerpt"]
    assert data["builds"][0]["misc"]["build_id"] == new[0]["first_fail"]["build_id"]

    third, three = night(tmp_path, "linux-kbuild-kunit", lab)
    assert third.returncode == 0, third.stdout[-3000:]
    assert [(v["case"], v["class"]) for v in three["history"]["verdicts"]] == [(CASE, "fixed")]
    assert len(received) == 1   # a fix is on the page, not in anyone's inbox

    shown = subprocess.run([str(INVOKE), "report.history", "--case", "1901-12-13 Lower*no extra"], cwd=PROJECT,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    outcomes = [line.split()[2] for line in shown.stdout.splitlines() if line.startswith("  ")]
    assert outcomes == ["pass", "fail", "pass"], shown.stdout
    missing = subprocess.run([str(INVOKE), "report.history", "--case", "no-such-case"], cwd=PROJECT,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no case of any recorded plan run matches --case" in missing.stderr
