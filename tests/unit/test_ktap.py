"""The KTAP reader, on the sample logs the kernel source ships with KUnit's own parser
(tools/testing/kunit/test_data) and on console logs written here for what those lack."""
import subprocess
from pathlib import Path

import pytest

from sisctl import paths
from sisctl.campaign.ktap.campaign import Listed, listed_tests
from sisctl.campaign.ktap.ktap import parse

SAMPLES = "tools/testing/kunit/test_data"
TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    """The kernel's KTAP samples: from the unpacked kernel tree the kbuild recipes use, else the tarball."""
    tree = paths.cache_dir() / "kbuild-src" / "linux-source-6.1" / SAMPLES
    if tree.is_dir():
        return tree
    if not TARBALL.exists():
        pytest.skip(f"{TARBALL} (Debian's linux-source-6.1) is not installed")
    out = tmp_path_factory.mktemp("ktap")
    subprocess.run(["tar", "-xJf", str(TARBALL), "-C", str(out), "--wildcards", f"*/{SAMPLES}/*.log"], check=True)
    return next(out.glob(f"*/{SAMPLES}"))


def statuses(text: str) -> dict[str, str]:
    return {".".join(path): test.status for path, test in parse(text).root.leaves()}


def test_a_failure_keeps_its_assertion_and_values(samples):
    parsed = parse((samples / "test_is_test_passed-failure.log").read_text())
    leaves = dict((".".join(p), t) for p, t in parsed.root.leaves())
    assert [n for n, t in leaves.items() if t.status != "pass"] == ["example.example_simple_test"]
    failed = leaves["example.example_simple_test"]
    assert failed.status == "fail"
    assert any("EXPECTATION FAILED at lib/kunit/example-test.c:30" in d for d in failed.diagnostics)
    assert "Expected 1 + 1 == 3, but" in failed.diagnostics and "1 + 1 == 2" in failed.diagnostics
    assert len(leaves) == 10 and parsed.root.status == "fail"


def test_a_panic_mid_suite_makes_the_running_test_an_error_and_nothing_a_pass(samples):
    parsed = parse((samples / "test_kernel_panic_interrupt.log").read_text())
    assert parsed.crash.startswith("Kernel panic - not syncing: VFS: Unable to mount root fs")
    assert parsed.open_path == ("string-stream-test",)
    leaves = parsed.root.leaves()
    cut = [t for _, t in leaves if not t.name]
    assert len(cut) == 1 and cut[0].status == "error" and "Kernel panic" in cut[0].reason
    assert cut[0].number == 2   # string_stream_test_empty_on_creation (1) had reported
    assert parsed.root.status == "error"


def test_skips_keep_their_reason(samples):
    leaves = {".".join(p): t for p, t in parse((samples / "test_skip_tests.log").read_text()).root.leaves()}
    assert leaves["example.example_skip_test"].status == "skip"
    assert leaves["example.example_skip_test"].reason == "this test should be skipped"
    assert parse((samples / "test_skip_all_tests.log").read_text()).root.status == "skip"


@pytest.mark.parametrize("name", ["test_config_printk_time.log", "test_multiple_prefixes.log",
                                  "test_output_with_prefix_isolated_correctly.log", "test_pound_sign.log",
                                  "test_is_test_passed-missing_plan.log", "test_is_test_passed-all_passed.log"])
def test_prefixes_and_kernel_messages_around_the_output_are_not_tests(samples, name):
    found = statuses((samples / name).read_text())
    assert found and set(found.values()) == {"pass"}, found
    assert all(not name.startswith(("printk", "random")) for name in found)


def test_nested_parameterised_results(samples):
    found = statuses((samples / "test_is_test_passed-all_passed_nested.log").read_text())
    assert set(found.values()) == {"pass"} and any(name.count(".") >= 2 for name in found), found


def test_no_header_is_not_a_pass(samples):
    parsed = parse((samples / "test_is_test_passed-no_tests_run_no_header.log").read_text())
    assert not parsed.found and parsed.root.status == "error"


CONSOLE = """\
[    0.512000] KTAP version 1
[    0.512100] 1..2
[    0.512200]     KTAP version 1
[    0.512300]     # Subtest: ext4_inode_test
[    0.512400]     1..1
[    0.512500]         KTAP version 1
[    0.512600]         # Subtest: inode_test_xtimestamp_decoding
[    0.512700]         ok 1 1901-12-13 Lower bound of 32bit < 0 timestamp, no extra bits
[    0.512750] random: crng init done
[    0.512800]         # inode_test_xtimestamp_decoding: EXPECTATION FAILED at fs/ext4/inode-test.c:260
[    0.512801]         Expected test_param->expected.tv_nsec + 1 == timestamp.tv_nsec, but
[    0.512900]         not ok 2 1901-12-14 Upper bound of 32bit < 0 timestamp, no extra bits
[    0.513000]     # inode_test_xtimestamp_decoding: pass:1 fail:1 skip:0 total:2
[    0.513100]     not ok 1 inode_test_xtimestamp_decoding
[    0.513200] not ok 1 ext4_inode_test
[    0.513300]     KTAP version 1
[    0.513400]     # Subtest: list-kunit-test
[    0.513500]     1..3
[    0.513600]     ok 1 list_test_list_init
[    0.513700]     ok 2 list_test_list_add # TODO not yet
[    0.513800] ------------[ cut here ]------------
[    0.513900] WARNING: CPU: 0 PID: 12 at lib/list-test.c:70 list_test_list_add_tail+0x24/0x90
[    0.514000]     ok 3 list_test_list_add_tail
[    0.514100] ok 2 list-kunit-test
"""


def test_a_console_with_nesting_interleaved_messages_todo_and_a_warning():
    parsed = parse(CONSOLE)
    leaves = {".".join(p): t for p, t in parsed.root.leaves()}
    param = "ext4_inode_test.inode_test_xtimestamp_decoding"
    assert leaves[f"{param}.1901-12-13 Lower bound of 32bit < 0 timestamp, no extra bits"].status == "pass"
    failed = leaves[f"{param}.1901-12-14 Upper bound of 32bit < 0 timestamp, no extra bits"]
    assert failed.status == "fail" and failed.diagnostics[-1].startswith("Expected test_param")
    assert "random: crng init done" not in failed.diagnostics   # a kernel message, less indented
    assert leaves["list-kunit-test.list_test_list_add"].status == "skip"
    assert leaves["list-kunit-test.list_test_list_add"].reason == "TODO not yet"
    warned = leaves["list-kunit-test.list_test_list_add_tail"]   # KUnit said ok; the kernel warned in it
    assert warned.status == "error" and warned.reason.startswith("kernel report: WARNING: CPU: 0 PID: 12")
    assert parsed.root.status == "error" and not parsed.crash


def test_a_short_plan_is_an_error_not_a_pass():
    parsed = parse("KTAP version 1\n1..1\n    # Subtest: s\n    1..3\n    ok 1 a\n    ok 2 b\nok 1 s\n")
    suite = parsed.root.subtests[0]
    assert suite.status == "error" and suite.reason == "planned 3 tests, 1 never reported"
    assert parsed.root.status == "error"


def test_output_that_stops_leaves_the_open_test_an_error():
    parsed = parse("KTAP version 1\n1..1\n    # Subtest: s\n    1..2\n    ok 1 a\n")
    leaves = parsed.root.leaves()
    assert [t.status for _, t in leaves] == ["pass", "error"]
    assert leaves[1][1].reason == "the output ended before its result"


def test_the_test_list_reads_suite_and_case():
    console = ("[    0.1] KTAP version 1\n[    0.1] ext4_inode_test.inode_test_xtimestamp_decoding\n"
               "[    0.1] list-kunit-test.list_test_list_init\n[    0.2] Run /init as init process\n")
    assert listed_tests(console) == [Listed("ext4_inode_test", "inode_test_xtimestamp_decoding"),
                                     Listed("list-kunit-test", "list_test_list_init")]
    assert listed_tests("no header here\nsuite.case\n") == []


def test_kselftest_outcomes_read_as_the_kernels_runner_reads_them():
    from sisctl.campaign.ktap.kselftest import outcome
    assert outcome("exit", 0, "ok 1 x\n") == ("pass", "", [])
    status, reason, _ = outcome("exit", 4, "TAP version 13\n1..1\nok 1 # SKIP no hugetlbfs here\n")
    assert (status, reason) == ("skip", "SKIP no hugetlbfs here")
    status, reason, diagnostics = outcome("exit", 1, "TAP version 13\n1..2\nok 1 a\nnot ok 2 b\n")
    assert (status, reason) == ("fail", "exit 1") and diagnostics[0] == "b: fail"
    assert outcome("timeout", -1, "still going\n")[:2] == ("error", "did not finish within its timeout")
    assert outcome("signal", 11, "")[:2] == ("fail", "killed by signal 11")


def test_ktap_options_from_a_plan():
    from sisctl.campaign.core.options import option_values
    from sisctl.campaign.ktap.options import OPTIONS
    from sisctl.errors import UsageError
    assert option_values("ktap", OPTIONS, {"kselftest": ["size", "kcmp"]})["kselftest"] == "size,kcmp"
    with pytest.raises(UsageError, match="in a test plan's options the key is 'boot_timeout'"):
        option_values("ktap", OPTIONS, {"boot-timeout": "1m"})
