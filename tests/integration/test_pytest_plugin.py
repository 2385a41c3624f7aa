"""The pytest plugin as a lab engineer uses it: their own test file, --sisctl-board, a real QEMU board."""
from __future__ import annotations

import xml.etree.ElementTree as ET

pytest_plugins = ["pytester"]

LAB_TESTS = '''
import pytest

def test_kernel_is_arm64(sh):
    assert sh("uname -m").strip() == "aarch64"

def test_each_test_gets_a_fresh_session(sh):
    assert sh("ls /tmp/left-by-another-test 2>/dev/null; echo end").strip() == "end"
    sh("touch /tmp/left-by-another-test")

def test_again_fresh(sh):
    assert sh("ls /tmp/left-by-another-test 2>/dev/null; echo end").strip() == "end"
    sh("touch /tmp/left-by-another-test")

def test_a_failing_command_fails_the_test(sh):
    sh("echo broken >&2; exit 3")

def test_session_object(session):
    assert session.run("echo hi").text == "hi\\n"

@pytest.mark.board_tags(type="rpi4")
def test_only_on_a_pi(sh):
    sh("true")
'''


def test_plugin_runs_lab_tests_on_a_real_board(board, pytester):
    pytester.makepyfile(test_lab=LAB_TESTS)
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess("--sisctl-board", board.name, f"--junitxml={junit}", "-rs")
    result.assert_outcomes(passed=4, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*'echo broken >&2; exit 3' ended by exit 3: broken*",
                                 "*board qemu-virt-0 lacks tags {'type': 'rpi4'}*"])
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["test_kernel_is_arm64"].iter("property")}
    flashed = board.flashed()
    assert props["board"] == board.name and props["build_id"] == flashed.build_id
    assert props["kernel_sha256"] == flashed.image_sha256 and props["firmware"].startswith("QEMU")


def test_without_a_board_the_board_tests_are_skipped_saying_how(pytester):
    pytester.makepyfile(test_lab="def test_x(sh):\n    sh('true')\n")
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no board given: run pytest with --sisctl-board NAME*"])


def test_an_unknown_board_is_one_clear_line_and_no_junit_that_reads_as_a_pass(pytester):
    pytester.makepyfile(test_lab="def test_x(sh):\n    sh('true')\n")
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess("--sisctl-board", "no-such-board", f"--junitxml={junit}")
    assert result.ret == 2
    assert "no such board" in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert not junit.exists()   # "0 tests, 0 errors" would read as a pass
