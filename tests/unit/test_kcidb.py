"""KCIDB export: a plan run's jobs as checkouts, builds and tests that kcidb-io's schema accepts;
names that are not dotted identifiers kept whole in misc; a bad document caught by the same check."""
import copy
import json

import kcidb_io
import pytest

from sisctl.report.junit import Case, write_junit
from sisctl.report.kcidb import InvalidDocument, document, kcidb_path, validate


def job_folder(root, name, kind, cases, build_id="abc123"):
    folder = root / name
    folder.mkdir(parents=True)
    write_junit(folder / "junit.xml", kind, cases)
    (folder / "summary.json").write_text(json.dumps({
        "kind": kind, "board": "qemu-virt-0", "finished_epoch": 1_800_000_000,
        "provenance": {"board": "qemu-virt-0", "kernel_version": "6.1.192", "build_id": build_id,
                       "kernel_sha256": "f" * 64, "firmware": "QEMU emulator version 7.2", "sisctl_version": "0.1.0"}}))
    return folder


@pytest.fixture
def plan_run(tmp_path):
    ktap = job_folder(tmp_path, "ktap-1", "ktap", [
        Case("ext4_inode_test.inode_test_xtimestamp_decoding.1901-12-13 Lower bound", False, "EXPECTATION FAILED"),
        Case("list-kunit-test.list_test_list_init", True), Case("example.example_skip_test", True, "skip", skipped=True)])
    fuzz = job_folder(tmp_path, "fuzz-1", "fuzz", [Case("WARNING in ext4_setattr", False, "report", error=True)],
                      build_id="def456")
    run = tmp_path / "nightly-1"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"kind": "nightly", "plan": "nightly", "finished_epoch": 1_800_000_100,
                                                  "jobs": [{"id": "ktap.qemu-virt-0", "kind": "ktap", "report": str(ktap)},
                                                           {"id": "fuzz.qemu-virt-0", "kind": "fuzz", "report": str(fuzz)},
                                                           {"id": "bench.qemu-virt-0", "kind": "bench", "report": ""}]}))
    return run


def test_a_plan_run_is_a_valid_kcidb_document(plan_run):
    data = document(plan_run)
    kcidb_io.schema.LATEST.validate(data)   # the schema's own check, not ours
    assert [b["id"] for b in data["builds"]] == ["sisctl:abc123", "sisctl:def456"]
    by_path = {t["path"]: t for t in data["tests"]}
    param = by_path["ktap.ext4_inode_test.inode_test_xtimestamp_decoding"]
    assert param["status"] == "FAIL" and param["misc"]["name"].endswith("1901-12-13 Lower bound")
    assert "EXPECTATION FAILED" in param["log_excerpt"]
    assert by_path["ktap.list-kunit-test.list_test_list_init"]["status"] == "PASS"
    assert by_path["ktap.example.example_skip_test"]["status"] == "SKIP"
    finding = by_path["fuzz"]   # a title is no dotted identifier: kept whole in misc
    assert finding["status"] == "ERROR" and finding["misc"]["name"] == "WARNING in ext4_setattr"
    assert finding["environment"]["misc"]["board"] == "qemu-virt-0"


def test_a_broken_document_is_caught_by_the_schema(plan_run):
    data = document(plan_run)
    broken = copy.deepcopy(data)
    broken["tests"][0]["path"] = "ktap.has spaces"
    with pytest.raises(InvalidDocument, match=r"at tests\.0\.path"):
        validate(broken)
    broken = copy.deepcopy(data)
    broken["tests"][0]["status"] = "OK"
    with pytest.raises(InvalidDocument, match=r"at tests\.0\.status"):
        validate(broken)


def test_paths_keep_the_parts_that_fit():
    assert kcidb_path("ktap", "suite.case") == ("ktap.suite.case", "")
    assert kcidb_path("ktap", "suite.case.a param") == ("ktap.suite.case", "suite.case.a param")
    assert kcidb_path("ext4-crash", "generated-2") == ("ext4-crash.generated-2", "")


@pytest.mark.parametrize("damage, named", [
    (lambda run, job: (job / "junit.xml").write_text("<testsuite><testcase"), "junit.xml: not a readable JUnit"),
    (lambda run, job: (job / "summary.json").write_text("{cut"), "summary.json: not a readable summary"),
    (lambda run, job: (run / "summary.json").write_text("[]"), "summary.json: not a summary"),
    (lambda run, job: (run / "summary.json").write_text('{"kind": "nightly", "jobs": "x"}'),
     "not a plan run's summary"),
])
def test_damaged_files_are_bad_input_naming_the_file(plan_run, tmp_path, damage, named):
    from sisctl.errors import UsageError
    damage(plan_run, tmp_path / "ktap-1")
    with pytest.raises(UsageError, match=named):
        document(plan_run)


def test_a_run_without_results_is_refused_not_written_empty(tmp_path):
    from sisctl.errors import UsageError
    run = tmp_path / "nightly-2"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"kind": "nightly", "jobs": [
        {"id": "ktap.b", "kind": "ktap", "report": str(tmp_path / "gone")}]}))
    with pytest.raises(UsageError, match="no job of it has results"):
        document(run)


def test_a_target_that_is_a_folder_leaves_no_partial_file(tmp_path):
    from sisctl import paths
    target = tmp_path / "kcidb.json"
    target.mkdir()
    with pytest.raises(OSError):
        paths.write_atomic(target, "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kcidb.json"]
