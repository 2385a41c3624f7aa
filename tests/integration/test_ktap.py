"""KUnit on a real kbuild kernel in QEMU: the clean kernel passes every case, a planted failure is
exactly one JUnit failure with its assertion, and a planted panic mid-suite is one error with the
panic's title while every other test still gets its result from the boots after it."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sisctl.board.board import Board
from sisctl.board.spec import find_board
from sisctl.build.builder import build
from sisctl.build.recipe import find_recipe
from sisctl.campaign.core.records import read_records
from sisctl.campaign.core.runner import resume
from tests.conftest import killed_campaign, new_folder, qemu_processes_mentioning

pytestmark = [pytest.mark.integration, pytest.mark.kbuild]

PROJECT = Path(__file__).resolve().parents[2]
INVOKE = Path(sys.executable).parent / "invoke"
KERNEL = "linux-kbuild-kunit"
FIRST_EXT4_CASE = "ext4_inode_test.inode_test_xtimestamp_decoding.1901-12-13 Lower bound of 32bit < 0 timestamp, no extra bits"


@pytest.fixture(scope="module")
def tiny(lab_dirs, kbuild_artifact) -> Board:
    build(find_recipe(KERNEL))   # minutes the first time, cached after
    board = Board(find_board("qemu-virt-tiny"))
    board.flash(kbuild_artifact)   # the campaign boots its --kernel without flashing it
    return board


def campaign(board: Board, kernel: str, *extra: str) -> tuple[subprocess.CompletedProcess, dict, dict]:
    done = subprocess.run([str(INVOKE), "campaign", "--kind", "ktap", "--board", board.name, "--kernel", kernel,
                           "--boot-timeout", "2m", *extra, "--json"], cwd=PROJECT, capture_output=True, text=True,
                          timeout=900)
    summary = json.loads(done.stdout)
    junit = ET.parse(Path(summary["report"]) / "junit.xml").getroot()
    outcomes = {}
    for case in junit.iter("testcase"):
        kind = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        outcomes[case.get("name")] = (kind, next((c.text or "" for c in case if c.tag == kind), ""))
    return done, summary, outcomes


def test_the_clean_kernel_passes_every_case(tiny):
    done, summary, outcomes = campaign(tiny, KERNEL)
    assert done.returncode == 0, (summary.get("reason"), done.stderr[-2000:])
    assert summary["status"] == "passed" and summary["boots"] == 1
    assert {"ext4_inode_test", "list-kunit-test", "example"} <= set(summary["suites"])
    assert FIRST_EXT4_CASE in outcomes and outcomes[FIRST_EXT4_CASE][0] == "passed"
    assert sum(name.startswith("list-kunit-test.") for name in outcomes) > 30
    assert outcomes["example.example_skip_test"][0] == "skipped"
    assert {kind for kind, _ in outcomes.values()} == {"passed", "skipped"}
    booted = build(find_recipe(KERNEL))   # the kernel it booted is named, not only the board's flashed one
    properties = {p.get("name"): p.get("value") for p in ET.parse(Path(summary["report"]) / "junit.xml").getroot()
                  .iter("property")}
    assert booted.build_id[:12] in properties["booted kernel"] and summary["booted"]["build_id"] == booted.build_id


def test_a_planted_failure_is_exactly_that_case_with_its_assertion(tiny):
    done, summary, outcomes = campaign(tiny, f"{KERNEL}+planted_kunit_ext4=1", "--suites", "ext4_*")
    assert done.returncode == 1, (summary.get("reason"), done.stderr[-2000:])
    failed = {name: text for name, (kind, text) in outcomes.items() if kind != "passed"}
    assert list(failed) == [FIRST_EXT4_CASE]
    assert outcomes[FIRST_EXT4_CASE][0] == "failure"
    assert "EXPECTATION FAILED at fs/ext4/inode-test.c" in failed[FIRST_EXT4_CASE]
    assert set(summary["suites"]) == {"ext4_inode_test"} and summary["counts"]["pass"] == 15


def test_a_panic_mid_suite_is_that_test_an_error_and_the_rest_still_run(tiny):
    done, summary, outcomes = campaign(tiny, f"{KERNEL}+planted_kunit_panic=1")
    assert done.returncode == 1, (summary.get("reason"), done.stderr[-2000:])
    kind, text = outcomes["example.example_skip_test"]
    assert kind == "error" and "planted in example_skip_test" in text and "panic" in text
    assert outcomes["example.example_simple_test"][0] == "passed"
    # after the reboot: the rest of the suite, and the suites after it
    assert outcomes["example.example_mark_skipped_test"][0] == "skipped"
    assert outcomes["example.example_all_expect_macros_test"][0] == "passed"
    assert [name for name, (kind, _) in outcomes.items() if kind in ("error", "failure")] == \
        ["example.example_skip_test"]
    assert summary["listed"] == len({n for n in outcomes if n.count(".") == 1} |
                                    {".".join(n.split(".")[:2]) for n in outcomes})
    assert summary["boots"] > 1 and any("planted in example_skip_test" in c for c in summary["crashes"])


def test_a_kernel_without_kunit_or_a_filter_that_matches_nothing_is_bad_input(tiny):
    done = subprocess.run([str(INVOKE), "campaign", "--kind", "ktap", "--board", tiny.name, "--kernel", "linux-kbuild"],
                          cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "is the kernel built with CONFIG_KUNIT=y?" in done.stdout + done.stderr
    done = subprocess.run([str(INVOKE), "campaign", "--kind", "ktap", "--board", tiny.name, "--kernel", KERNEL,
                           "--suites", "no_such_suite*"], cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "no KUnit test matches --suites 'no_such_suite*'" in done.stdout + done.stderr


def test_kselftests_built_for_arm64_run_one_at_a_time_with_subtests_as_cases(tiny):
    """linux-kbuild-kunit is tinyconfig-based: size and sigaltstack pass; mincore's basic interface
    passes while its locked, huge-page, file and tmpfs cases fail (the kernel has none of them);
    membarrier is not built in, so its tests skip (exit 4)."""
    done, summary, outcomes = campaign(tiny, KERNEL, "--suites", "none", "--kselftest", "size,sigaltstack,mincore,membarrier")
    assert done.returncode == 1, (summary.get("reason"), done.stderr[-2000:])
    assert outcomes["kselftest.size.get_size"][0] == "passed"
    assert outcomes["kselftest.sigaltstack.sas"][0] == "passed"
    assert outcomes["kselftest.mincore.mincore_selftest.global.basic_interface"][0] == "passed"
    assert outcomes["kselftest.mincore.mincore_selftest.global.check_huge_pages"][0] == "failure"
    kind, text = outcomes["kselftest.mincore.mincore_selftest"]
    assert kind == "failure" and text.startswith("exit 1") and "global.check_huge_pages: fail" in text
    assert outcomes["kselftest.membarrier.membarrier_test_single_thread"][0] == "skipped"
    assert not any(name.startswith(("ext4_", "list-", "example")) for name in outcomes)   # --suites none
    assert summary["boots"] == 1


def past_its_crash_boot(folder: Path) -> bool:
    return sum(r.get("type") == "boot" for r in read_records(folder / "records.jsonl")) >= 2


def test_a_killed_campaign_resumes_with_the_tests_it_has_no_record_of(tiny, lab_dirs):
    """SIGKILL after the crash boot: the resumed campaign keeps every record and runs each other test once."""
    out = killed_campaign(lab_dirs["reports"], "ktap-*", "ktap", tiny.name,
                          {"kernel": f"{KERNEL}+planted_kunit_panic=1"}, 1, past_its_crash_boot)
    assert out, "the campaign never got past its crash boot"
    before = [r for r in read_records(out / "records.jsonl") if r.get("type") == "test"]
    summary = resume(str(out), progress=lambda _: None)
    after = [r for r in read_records(out / "records.jsonl") if r.get("type") == "test"]
    keys = [(r["suite"], r["case"], r["param"]) for r in after]
    assert len(keys) == len(set(keys)), "a test was recorded twice"
    assert after[:len(before)] == before, "a record written before the kill was lost or changed"
    listed = next(r["tests"] for r in read_records(out / "records.jsonl") if r.get("type") == "list")
    assert {f"{s}.{c}" for s, c, _ in keys} == set(listed)
    assert summary["status"] == "failed" and summary["counts"]["error"] == 1


@pytest.mark.slow
def test_sigterm_ends_a_campaign_as_ctrl_c_does(tiny, lab_dirs):
    """A cancelled CI job: exit 143, summary and JUnit say aborted, no QEMU left, resume finishes it."""
    earlier = set(lab_dirs["reports"].glob("ktap-*"))
    job = subprocess.Popen([str(INVOKE), "campaign", "--kind", "ktap", "--board", tiny.name, "--kernel",
                            f"{KERNEL}+planted_kunit_panic=1"], cwd=PROJECT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        out = new_folder(lab_dirs["reports"], "ktap-*", earlier, past_its_crash_boot)
        assert out, "the campaign never got past its crash boot"
        job.send_signal(signal.SIGTERM)
        _, stderr = job.communicate(timeout=60)
    finally:
        job.kill()
        job.wait()
    assert job.returncode == 143, stderr[-2000:]
    assert "SIGTERM received; every machine this command started has been stopped" in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "aborted" and summary["reason"] == "interrupted (SIGTERM)"
    errors = [c for c in ET.parse(out / "junit.xml").getroot().iter("testcase") if c.find("error") is not None]
    assert any("aborted: interrupted (SIGTERM)" in (c.find("error").text or "") for c in errors)
    assert not qemu_processes_mentioning(str(lab_dirs["state"])), "a QEMU of the campaign is left"
    assert resume(str(out), progress=lambda _: None)["status"] == "failed"   # the planted panic, nothing else

