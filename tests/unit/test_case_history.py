"""Results across plan runs: the store rebuilt from the reports folder, and each case of a new run
classed against the runs before it (new failure, still failing, fixed, flaky, known issue, new test)."""
import json
from contextlib import closing
from pathlib import Path

import pytest

from sisctl.errors import UsageError
from sisctl.report.history import History
from sisctl.report.junit import Case, write_junit_suites
from sisctl.report.regressions import KnownIssue, classify, load_known_issues

JOB = "ktap.qemu-virt-0"


def night(reports: Path, n: int, outcomes: dict[str, str], build_id: str = "b1", plan: str = "nightly") -> Path:
    """A plan run's folder as the nightly writes it: summary.json with its jobs, junit.xml with a suite per job."""
    out = reports / f"nightly-2026120{n}-030000"
    out.mkdir(parents=True)
    cases = [Case(name, o in ("pass", "skip"), "" if o == "pass" else f"{o}: detail of {name}",
                  error=o == "error", skipped=o == "skip") for name, o in outcomes.items()]
    write_junit_suites(out / "junit.xml", [(JOB, cases, None)])
    (out / "summary.json").write_text(json.dumps({
        "kind": "nightly", "plan": plan, "finished_epoch": 1_800_000_000 + n * 86400, "status": "passed",
        "jobs": [{"id": JOB, "board": "qemu-virt-0", "kernel": f"6.1.{n}", "build_id": build_id,
                  "report": str(out / "job")}]}))
    return out


def verdicts_of(history: History, out: Path, known=()) -> dict[str, object]:
    cases = history.add(out)
    return {v.case.name: v for v in classify(cases, history.before(out.name, "nightly"), list(known))}


@pytest.fixture
def history(tmp_path):
    h = History.open(tmp_path / "state" / "history.sqlite", tmp_path / "reports")
    yield h
    h.close()


def test_a_new_failure_names_its_last_pass_and_first_fail_then_is_fixed(history, tmp_path):
    reports = tmp_path / "reports"
    first = verdicts_of(history, night(reports, 1, {"a": "pass", "b": "pass"}))
    assert {v.kind for v in first.values()} == {"new test"}
    second = verdicts_of(history, night(reports, 2, {"a": "fail", "b": "pass"}, build_id="b2"))
    assert list(second) == ["a"] and second["a"].kind == "new failure"
    assert second["a"].last_pass.run == "nightly-20261201-030000" and second["a"].last_pass.kernel == "6.1.1"
    assert second["a"].first_fail.run == "nightly-20261202-030000" and second["a"].first_fail.build_id == "b2"
    third = verdicts_of(history, night(reports, 3, {"a": "fail", "b": "pass"}, build_id="b2"))
    assert third["a"].kind == "still failing" and third["a"].first_fail.run == "nightly-20261202-030000"
    fourth = verdicts_of(history, night(reports, 4, {"a": "pass", "b": "pass"}, build_id="b3"))
    assert fourth["a"].kind == "fixed" and "b" not in fourth   # a steady pass says nothing


def test_an_alternating_case_on_one_kernel_is_flaky_not_a_regression(history, tmp_path):
    reports = tmp_path / "reports"
    for n, outcome in enumerate(["pass", "fail", "pass", "fail", "pass"], start=1):
        verdicts_of(history, night(reports, n, {"a": outcome}))
    last = verdicts_of(history, night(reports, 6, {"a": "error"}))
    assert last["a"].kind == "flaky" and last["a"].note == "last 6 runs on this kernel: PFPFPF"
    # a new kernel passes, then fails: its own history has no failure, so it is a regression
    assert verdicts_of(history, night(reports, 7, {"a": "pass"}, build_id="b9"))["a"].kind == "fixed"
    other = verdicts_of(history, night(reports, 8, {"a": "fail"}, build_id="b9"))
    assert other["a"].kind == "new failure" and other["a"].last_pass.build_id == "b9"


def test_a_known_issue_is_said_with_its_reason_instead_of_a_regression(history, tmp_path):
    reports = tmp_path / "reports"
    verdicts_of(history, night(reports, 1, {"a": "pass"}))
    known = [KnownIssue(r"detail of a\b", "upstream bug in 6.1.y", "https://bugs.example/1")]
    found = verdicts_of(history, night(reports, 2, {"a": "fail"}), known)
    assert found["a"].kind == "known issue" and found["a"].note == "upstream bug in 6.1.y https://bugs.example/1"


def test_the_store_is_rebuilt_from_the_reports_when_it_is_damaged(tmp_path):
    reports, store = tmp_path / "reports", tmp_path / "state" / "history.sqlite"
    night(reports, 1, {"a": "pass"})
    night(reports, 2, {"a": "fail"})
    (reports / "smoke-x").mkdir()
    (reports / "smoke-x" / "summary.json").write_text('{"kind": "smoke"}')   # not a plan run: left out
    store.parent.mkdir(parents=True)
    store.write_bytes(b"not a database at all" * 100)
    history = History.open(store, reports)
    try:
        rows = history.matching("a")
        assert [(r.run, r.outcome) for r in rows] == [("nightly-20261201-030000", "pass"),
                                                      ("nightly-20261202-030000", "fail")]
        third = night(reports, 3, {"a": "fail"})
        assert verdicts_of(history, third)["a"].kind == "still failing"
    finally:
        history.close()
    assert (store.parent / "history.sqlite.damaged").exists()


def test_known_issues_file_errors_name_the_file_and_key(tmp_path):
    path = tmp_path / "known-issues.yaml"
    assert load_known_issues(path) == []
    path.write_text("known_issues:\n  - {pattern: 'ext4_(', reason: x}\n")
    with pytest.raises(UsageError, match=r"known-issues.yaml: key 'known_issues\[0\].pattern'"):
        load_known_issues(path)
    path.write_text("known_issues:\n  - {pattern: ext4, reason: x, owner: me}\n")
    with pytest.raises(UsageError, match="owner"):
        load_known_issues(path)


def test_damaged_or_foreign_folders_are_skipped_and_missed_runs_are_filled_in(tmp_path):
    reports, store = tmp_path / "reports", tmp_path / "state" / "history.sqlite"
    first = night(reports, 1, {"a": "pass"})
    for name, text in (("nightly-20261201-000000", "[]"), ("nightly-20261201-000001", '{"kind": "nightly", "jobs": [1]}'),
                       ("nightly-20261201-000002", '{"kind": "nightly", "status": "aborted", "jobs": []}')):
        (reports / name).mkdir()
        (reports / name / "summary.json").write_text(text)
        (reports / name / "junit.xml").write_text("<testsuites/>")
    with closing(History.open(store, reports)) as history:
        assert {r.run for r in history.matching("a")} == {first.name}
    second = night(reports, 2, {"a": "fail"})   # finished while the store could not be written
    third = night(reports, 3, {"a": "fail"})
    with closing(History.open(store, reports)) as history:   # opening fills in the second and third
        verdict = verdicts_of(history, third)["a"]
    assert verdict.kind == "still failing" and verdict.first_fail.run == second.name


def test_only_star_is_a_wildcard_in_case_patterns(tmp_path):
    reports = tmp_path / "reports"
    night(reports, 1, {"decoding.1901": "pass", "a_b": "pass", "100%": "pass"})
    with closing(History.open(tmp_path / "h.sqlite", reports)) as history:
        assert {r.name for r in history.matching("decoding_1901")} == set()
        assert {r.name for r in history.matching("a_b")} == {"a_b"}
        assert {r.name for r in history.matching("%")} == {"100%"}
        assert {r.name for r in history.matching("dec*1901")} == {"decoding.1901"}


def test_an_empty_known_issue_pattern_is_refused(tmp_path):
    path = tmp_path / "known-issues.yaml"
    path.write_text("known_issues:\n  - {pattern: '', reason: everything}\n")
    with pytest.raises(UsageError, match=r"key 'known_issues\[0\].pattern': an empty pattern"):
        load_known_issues(path)
