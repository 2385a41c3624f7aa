"""Test plans: every mistake names the file and the key before anything runs; the plan's verdict."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from sisctl.config import ConfigError
from sisctl.nightly.plan import find_plan, load_plan
from sisctl.nightly.report import write_plan_report
from sisctl.nightly.run import _by_board, plan_status

GOOD = """name: p
boards: [qemu-virt-0]
steps:
  - kind: smoke
  - kind: ext4-crash
    variants: [debian-arm64, linux-kbuild]
    options: {scenario: generated-1, runs: 1}
"""


def plan_file(tmp_path, text):
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def test_a_plan_expands_into_jobs_per_board_and_kernel(tmp_path):
    plan, jobs = load_plan(plan_file(tmp_path, GOOD))
    assert plan.name == "p"
    assert [(j.kind, j.board, j.kernel) for j in jobs] == [
        ("smoke", "qemu-virt-0", "(board default)"), ("ext4-crash", "qemu-virt-0", "debian-arm64"),
        ("ext4-crash", "qemu-virt-0", "linux-kbuild")]
    assert len({j.id for j in jobs}) == 3


def test_each_board_flashes_each_kernel_once(tmp_path):
    text = GOOD + """  - kind: ext4-crash
    variants: [debian-arm64, linux-kbuild]
    options: {scenario: generated-2, mode: reset, runs: 1}
"""
    _, jobs = load_plan(plan_file(tmp_path, text))
    order = [j.kernel for j in _by_board(jobs)["qemu-virt-0"]]
    assert order == ["(board default)", "debian-arm64", "debian-arm64", "linux-kbuild", "linux-kbuild"]


@pytest.mark.parametrize("edit, key, words", [
    (("kind: smoke", "kind: smokey"), "steps[0].kind", "expected one of smoke"),
    (("runs: 1", "runs: 0"), "steps[1].options", "--runs"),
    (("generated-1", "generated-x"), "steps[1].options", "unknown scenario"),
    (("runs: 1}", "runs: 1, stop_on: x}"), "steps[1].options", "--stop-on is not an option of ext4-crash campaigns"),
    (("linux-kbuild]", "no-such-recipe]"), "steps[1].variants[1]", "no such recipe"),
    (("linux-kbuild]", "linux-kbuild+bad word]"), "steps[1].variants[1]", "not a kernel command-line word"),
    (("linux-kbuild]", "linux-kbuild+nosmp]"), "steps[1].variants", "for bench steps"),
    (("[qemu-virt-0]", "[no-such-board]"), "boards[0]", "no such board"),
    (("  - kind: smoke\n", "  - kind: smoke\n    options: {runs: 1}\n"), "steps[0].options", "no options"),
    (("steps:", "stepz:"), "stepz", "unknown key"),
])
def test_plan_mistakes_name_file_and_key(tmp_path, edit, key, words):
    path = plan_file(tmp_path, GOOD.replace(*edit))
    with pytest.raises(ConfigError) as caught:
        load_plan(path)
    assert caught.value.path == str(path) and caught.value.key == key, str(caught.value)
    assert words in str(caught.value)


@pytest.mark.parametrize("board, words", [("tag:type=rpi4", "tag:type=rpi4 needs a coordinator, and none is configured"),
                                          ("tag:", "tag: names no tag")])
def test_a_tag_selection_needs_a_coordinator_before_anything_runs(tmp_path, monkeypatch, board, words):
    monkeypatch.setenv("SISCTL_COORDINATOR", "")
    with pytest.raises(ConfigError) as caught:
        load_plan(plan_file(tmp_path, GOOD.replace("[qemu-virt-0]", f"['{board}']")))
    assert caught.value.key == "boards[0]" and words in str(caught.value), caught.value


def test_an_empty_plan_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="at least one step"):
        load_plan(plan_file(tmp_path, "name: p\nboards: [qemu-virt-0]\nsteps: []\n"))


def test_the_shipped_plans_load():
    for name in ("nightly",):
        _, jobs = load_plan(find_plan(name))
        assert jobs and jobs[0].kind == "smoke"


@pytest.mark.parametrize("statuses, verdict", [
    (["passed", "passed"], "passed"), (["passed", "failed", "error"], "failed"),
    (["passed", "error"], "error"), ([], "error"), (["passed", "aborted"], "aborted")])
def test_plan_verdict(statuses, verdict):
    assert plan_status([{"status": s} for s in statuses]) == verdict


def test_plan_junit_has_a_suite_per_job_and_errors_for_jobs_that_could_not_run(tmp_path):
    _, jobs = load_plan(plan_file(tmp_path, GOOD))
    own = tmp_path / "crash"
    own.mkdir()
    (own / "junit.xml").write_text('<testsuite name="ext4-crash" tests="1" failures="1">'
                                   '<testcase classname="ext4-crash" name="generated-1"><failure message="x"/>'
                                   '</testcase></testsuite>')
    results = {jobs[0].id: {"id": jobs[0].id, "kind": "smoke", "board": "qemu-virt-0", "kernel": "k",
                            "status": "error", "reason": "qemu-virt-0: in use by pid 1", "headline": "",
                            "report": "", "elapsed_s": 1.0},
               jobs[1].id: {"id": jobs[1].id, "kind": "ext4-crash", "board": "qemu-virt-0", "kernel": "k",
                            "status": "failed", "reason": "", "headline": "1 failed", "report": str(own),
                            "elapsed_s": 2.0}}
    out = tmp_path / "nightly"
    out.mkdir()
    summary = write_plan_report(out, "p", jobs, results, plan_status(list(results.values())), 3.0)
    assert summary["status"] == "failed"
    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == [j.id for j in jobs]
    assert suites[0].find("testcase/error").text.startswith("error: qemu-virt-0: in use")
    assert suites[1].find("testcase/failure") is not None
    assert suites[2].find("testcase/error").text == "aborted: not run"
    assert "report" in (out / "index.html").read_text()
