"""Benchmark campaign inputs and bookkeeping: variants, suites, options, agent output, block order,
which runs count, and how verdicts become JUnit cases."""
from __future__ import annotations

import json

import pytest

from sisctl.build.variant import checked_variant, parse_variant
from sisctl.campaign.bench import KIND, families_for
from sisctl.campaign.bench.options import parse_budget
from sisctl.campaign.bench.analysis import comparisons
from sisctl.campaign.bench.campaign import block_order, guest_command, layout_word
from sisctl.campaign.bench.metrics import (OutputError, agent_metrics, command_metrics, kernel_identity,
                                          skipped_reason)
from sisctl.campaign.bench.report import cases, terminal_table
from sisctl.campaign.bench.suite import load_suite
from sisctl.config import ConfigError
from sisctl.errors import UsageError

AGENT_OUT = """bench fork_exit ops 30
bench fork_exit ns 6000000
bench fork_exit cycles 5900000
bench fork_exit instructions unsupported 2
bench fork_exit task_clock_ns 5800000
"""


def test_variants_parse_recipe_and_kernel_options():
    v = parse_variant("debian-arm64+mitigations=off+nosmt")
    assert v.recipe == "debian-arm64" and v.cmdline == ("mitigations=off", "nosmt")
    assert v.append == "mitigations=off nosmt" and v.text == "debian-arm64+mitigations=off+nosmt"
    assert parse_variant("linux-kbuild").cmdline == ()


@pytest.mark.parametrize("text,problem", [("", "expected RECIPE"), ("linux-kbuild+", "not a kernel command-line"),
                                          ("linux-kbuild+a;reboot", "not a kernel command-line"),
                                          ("linux-kbuild+$(x)", "not a kernel command-line")])
def test_bad_variants_name_the_option(text, problem):
    with pytest.raises(UsageError, match=f"--baseline.*{problem}"):
        parse_variant(text, "--baseline")


def test_unknown_recipe_names_the_option_and_known_recipes():
    with pytest.raises(UsageError, match=r"--candidate 'nosuch\+quiet'.*debian-arm64"):
        checked_variant("nosuch+quiet", "--candidate")


def test_shipped_suites_load():
    default = load_suite("default")
    assert default.families == ["work", "time"] and len(default.workloads) == 11 and default.needs_disk
    assert {"pipe_pingpong", "pipe_pingpong_cross"} <= {w.name for w in default.workloads}
    cpu = load_suite("cpu")
    assert not cpu.needs_disk and "time" in cpu.families
    quick = load_suite("quick")
    assert quick.families == ["work"] and not quick.needs_disk
    assert quick.min_effect_for("null_syscall", "work") == 0.02
    assert quick.min_effect_for("fork_exit", "work") == 0.05   # its own: its run-to-run spread is 2-3 %


@pytest.mark.parametrize("text,key,problem", [
    ("workloads: []", "workloads", "at least one"),
    ("workloads: [{name: a, agent: [nosuch, 1]}]", "workloads[0].agent", "names an agent workload"),
    ("workloads: [{name: a, agent: [fsync_4k, 10]}]", "workloads[0].agent", "{dir}"),
    ("workloads: [{name: a, agent: [null_syscall, '1;reboot']}]", "workloads[0].agent[1]", "a word"),
    ("workloads: [{name: a}]", "workloads[0]", "exactly one"),
    ("workloads: [{name: a, command: 'true'}]", "workloads[0].metrics", "at least one metric"),
    ("workloads: [{name: a, command: 'x', metrics: [{name: m, pattern: '(x'}]}]",
     "workloads[0].metrics[0].pattern", "not a valid regular expression"),
    ("workloads: [{name: a, command: 'x', metrics: [{name: m, pattern: 'x'}]}]",
     "workloads[0].metrics[0].pattern", "exactly one group"),
    ("workloads: [{name: a, command: 'x', metrics: [{name: m, pattern: '(x)', better: up}]}]",
     "workloads[0].metrics[0].better", "lower or higher"),
    ("workloads: [{name: a, agent: [exec, 1]}, {name: a, agent: [exec, 2]}]", "workloads[1].name", "twice"),
    ("families: [work, power]\nworkloads: [{name: a, agent: [exec, 1]}]", "families", "distinct families"),
    ("min_effect: {work: 5}\nworkloads: [{name: a, agent: [exec, 1]}]", "min_effect.work", "fraction"),
    ("min_blocks: 1\nworkloads: [{name: a, agent: [exec, 1]}]", "min_blocks", ">= 2"),
    ("reps: two\nworkloads: [{name: a, agent: [exec, 1]}]", "reps", "integer"),
    ("colour: red\nworkloads: [{name: a, agent: [exec, 1]}]", "colour", "unknown key"),
])
def test_bad_suites_name_file_and_key(tmp_path, text, key, problem):
    path = tmp_path / "mine.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        load_suite(str(path))
    assert err.value.key == key and str(path) in str(err.value) and problem in str(err.value)


def test_a_lab_suite_with_a_shell_command(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text("workloads:\n  - name: tar\n    command: 'time tar cf /dev/null /bin'\n"
                    "    metrics: [{name: real_s, pattern: 'real\\s+([0-9.]+)', unit: s}]\n")
    suite = load_suite(str(path))
    w = suite.workloads[0]
    assert not w.needs_disk and guest_command(w) == "time tar cf /dev/null /bin"   # no $BENCH_DIR: no disk
    disk = load_suite(str(path)).workloads[0]
    disk.command = "time tar cf $BENCH_DIR/t.tar /bin"
    assert disk.needs_disk and guest_command(disk).startswith("BENCH_DIR=/mnt/bench; export BENCH_DIR; time tar")
    [m] = command_metrics(w, "user 0.1\nreal   1.25\n")
    assert (m.name, m.value, m.better) == ("real_s", 1.25, "lower")
    with pytest.raises(OutputError, match="found no number"):
        command_metrics(w, "no timing here")


def test_agent_commands_are_quoted_and_get_the_mount():
    suite = load_suite("default")
    fsync = next(w for w in suite.workloads if w.name == "fsync_4k")
    assert guest_command(fsync) == "sisagent bench fsync_4k 100 /mnt/bench"


def test_agent_output_becomes_per_operation_metrics_and_unsupported_is_absent():
    metrics = {m.name: m for m in agent_metrics("fork_exit", AGENT_OUT)}
    assert metrics["ns_per_op"].value == 200000 and "instructions_per_op" not in metrics
    with_instr = AGENT_OUT.replace("instructions unsupported 2", "instructions 3000000")
    assert {m.name: m.value for m in agent_metrics("fork_exit", with_instr)}["instructions_per_op"] == 100000
    seq = "bench seq_write ops 8\nbench seq_write ns 500000000\nbench seq_write bytes 8388608\n"
    [mib] = agent_metrics("seq_write", seq)
    assert (mib.name, mib.value, mib.better) == ("mib_per_s", 16.0, "higher")
    fsync = "bench f ops 10\nbench f ns 100\nbench f p50_ns 7\nbench f p99_ns 9\n"
    assert {m.name for m in agent_metrics("f", fsync)} == {"ns_per_op", "p50_ns", "p99_ns"}
    jbd2 = "bench jbd2 ops 30\nbench jbd2 ns 120000000\nbench jbd2 commits 31\nbench jbd2 commit_us 3812\n"
    assert {m.name: m.value for m in agent_metrics("jbd2", jbd2)} == {"ns_per_op": 4000000, "commit_us": 3812}
    # no commit during the run: the running average is an older run's, so there is no figure
    with pytest.raises(OutputError, match="committed nothing"):
        agent_metrics("jbd2", "bench jbd2 ops 30\nbench jbd2 ns 1000\nbench jbd2 commits 0\n")
    with pytest.raises(OutputError, match="no 'ops' and 'ns'"):
        agent_metrics("fork_exit", "garbage\n")


def test_block_order_is_abba_or_baab_alternating_from_a_seeded_start():
    orders = {seed: [block_order(seed, b) for b in range(4)] for seed in range(20)}
    for seq in orders.values():
        assert all(o in (("baseline", "candidate", "candidate", "baseline"),
                         ("candidate", "baseline", "baseline", "candidate")) for o in seq)
        assert seq[0] == seq[2] != seq[1] == seq[3]
    assert len({seq[0] for seq in orders.values()}) == 2     # the seed picks the start
    assert block_order(7, 0) == block_order(7, 0)


def test_every_boot_gets_its_own_random_layout_word_and_the_same_one_on_replay():
    words = [layout_word(3, block, family, slot) for block in range(4) for family in ("work", "time")
             for slot in range(4)]
    assert all(w.startswith("sisctl.layout=") and len(w) < len("sisctl.layout=") + 64 for w in words)
    assert len({len(w) for w in words}) > 10                    # lengths spread, so the layout varies
    assert "." in words[0].split("=")[0]                        # a module-style name: never passed to init
    assert layout_word(3, 1, "work", 2) == layout_word(3, 1, "work", 2) != layout_word(4, 1, "work", 2)


@pytest.mark.parametrize("text,seconds", [("15m", 900), ("90s", 90), ("1h", 3600), ("600", 600), ("2.5m", 150)])
def test_budget(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["soon", "5", "-3m", "10x"])
def test_bad_budget(text):
    with pytest.raises(UsageError, match="--budget"):
        parse_budget(text)


def test_options_are_checked_before_anything_runs():
    with pytest.raises(UsageError, match="--baseline VARIANT is required"):
        KIND.config_from_options("qemu-virt-0", 1, {"candidate": "linux-kbuild"})
    with pytest.raises(UsageError, match="--mode is not an option of bench"):
        KIND.config_from_options("qemu-virt-0", 1, {"baseline": "linux-kbuild", "candidate": "linux-kbuild",
                                                    "mode": "reset"})
    with pytest.raises(ConfigError, match="no such suite"):
        KIND.config_from_options("qemu-virt-0", 1, {"baseline": "linux-kbuild", "candidate": "linux-kbuild",
                                                    "suite": "nosuch"})
    config = KIND.config_from_options("qemu-virt-0", 4, {"baseline": "linux-kbuild",
                                                         "candidate": "linux-kbuild+init_on_free=1",
                                                         "suite": "quick", "budget": "5m"})
    assert (config.budget_s, config.seed, config.suite) == (300, 4, "quick")
    assert KIND.config_from_json(config.__dict__) == config


def test_families_gate_work_on_qemu_and_time_on_real_boards():
    suite = load_suite("default")
    assert families_for(suite, qemu=True) == (["work", "time"], ["work"])
    assert families_for(suite, qemu=False) == (["time"], ["time"])
    with pytest.raises(UsageError, match="need a QEMU board"):
        families_for(load_suite("quick"), qemu=False)


def run(block, attempt, side, value, warmup=False, family="work"):
    return {"type": "run", "block": block, "attempt": attempt, "side": side, "warmup": warmup, "family": family,
            "workload": "w", "metrics": {"m": {"value": value, "unit": "ns", "better": "lower"}}}


def test_only_complete_blocks_and_measured_runs_count():
    records = []
    for block in range(3):
        records += [run(block, "a1", "baseline", 100), run(block, "a1", "candidate", 150),
                    run(block, "a1", "baseline", 1, warmup=True), run(block, "a1", "candidate", 1, warmup=True),
                    {"type": "block", "block": block, "attempt": "a1"}]
    records += [run(3, "a1", "baseline", 1), run(3, "a1", "candidate", 9999)]    # killed mid-block
    [c] = comparisons(records, lambda w, f: 0.05, {"work"})
    assert c.blocks == 3 and c.ratio == pytest.approx(1.5) and c.verdict == "regressed"
    # the same block redone under a new attempt replaces the torn one
    records += [run(3, "b2", "baseline", 100), run(3, "b2", "candidate", 150), {"type": "block", "block": 3,
                                                                                "attempt": "b2"}]
    [c] = comparisons(records, lambda w, f: 0.05, {"work"})
    assert c.blocks == 4 and c.ratio == pytest.approx(1.5)


def test_cases_fail_only_gate_regressions_and_skip_inconclusive_and_advisory():
    records = []
    for block in range(4):
        for fam in ("work", "time"):
            records += [run(block, "a", "baseline", 100, family=fam), run(block, "a", "candidate", 130, family=fam)]
        records.append({"type": "block", "block": block, "attempt": "a"})
    found = comparisons(records, lambda w, f: 0.05, {"work"})
    by = {c.name: c for c in cases(found)}
    assert not by["work:w.m"].passed and not by["work:w.m"].skipped
    assert by["time:w.m"].skipped and "advisory" in by["time:w.m"].detail
    one_block = comparisons(records[:5], lambda w, f: 0.05, {"work"})
    assert all(c.skipped and c.passed for c in cases(one_block))
    table = terminal_table({"baseline": "a", "candidate": "b", "suite": "s", "blocks": 4, "stopped": "x",
                            "metrics": [c.as_dict() for c in found]})
    assert "w.m" in table and "+30.0%" in table and "regressed" in table and "time (advisory)" in table


def test_bisect_step_maps_verdicts_to_git_bisect_exit_codes():
    from sisctl.campaign.bench.bisect import BAD, GOOD, SKIP, metric_workload, step_verdict

    def summary(verdict, status="failed", family="work", gate=True):
        return {"status": status, "reason": "boot timed out", "metrics": [
            {"key": f"{family}:fork_exit.ns_per_op", "family": family, "gate": gate, "verdict": verdict,
             "ratio": 1.08, "reason": "spans"}]}
    assert step_verdict(summary("regressed"), "fork_exit.ns_per_op", None)[0] == BAD
    assert step_verdict(summary("unchanged"), "work:fork_exit.ns_per_op", "work")[0] == GOOD
    assert step_verdict(summary("improved"), "fork_exit.ns_per_op", None)[0] == GOOD
    assert step_verdict(summary("inconclusive"), "fork_exit.ns_per_op", None)[0] == SKIP
    assert step_verdict(summary("regressed", status="error"), "fork_exit.ns_per_op", None) == (
        SKIP, "skip: boot timed out")
    # an advisory family's regression does not answer for the gate family
    assert step_verdict(summary("regressed", family="time", gate=False), "fork_exit.ns_per_op", None)[0] == SKIP
    assert step_verdict(summary("regressed"), "fork_exit.p99_ns", None)[0] == SKIP
    assert metric_workload("time:fork_exit.ns_per_op", "default") == ("time", "fork_exit")
    assert metric_workload("fork_exit.ns_per_op", "default") == (None, "fork_exit")
    for bad in ("nosuch.ns_per_op", "fork_exit", "power:fork_exit.ns_per_op"):
        with pytest.raises(UsageError, match="--metric"):
            metric_workload(bad, "default")


def test_a_real_board_gets_the_time_family_and_no_ext4_workloads():
    with pytest.raises(UsageError, match="virtio disk, which only QEMU boards"):
        KIND.config_from_options("rpi4-01", 1, {"baseline": "linux-kbuild", "candidate": "linux-kbuild"})
    # the CPU-side suite is what a Pi runs, in the time family (tryboot per boot, no -icount)
    config = KIND.config_from_options("rpi4-01", 1, {"baseline": "debian-arm64-generic", "suite": "cpu",
                                                     "candidate": "debian-arm64-generic+mitigations=off"})
    assert families_for(KIND.suite(config), qemu=False) == (["time"], ["time"])


def test_workloads_that_wait_on_the_disk_run_in_the_time_family_only(tmp_path):
    suite = load_suite("default")
    runs = {w.name: [f for f in suite.families if w.runs_in(f, suite.families)] for w in suite.workloads}
    assert runs["fsync_4k"] == runs["seq_write"] == runs["jbd2"] == ["time"]
    assert runs["null_syscall"] == runs["create_unlink"] == ["work", "time"]
    path = tmp_path / "work-only.yaml"
    path.write_text("families: [work]\nworkloads: [{name: f, agent: [fsync_4k, 10, '{dir}']}]\n")
    with pytest.raises(ConfigError, match="only the time family measures"):
        load_suite(str(path))
    path.write_text("families: [work]\nworkloads: [{name: f, agent: [exec, 1], families: [time]}]\n")
    with pytest.raises(ConfigError, match="suite's families"):
        load_suite(str(path))


def test_telemetry_points_use_schema_names():
    from sisctl.telemetry.points import bench_sample_points, bench_verdict_point
    record = run(0, "a", "candidate", 123.0) | {"board": "qemu-virt-0", "variant": "linux-kbuild+x=1",
                                                 "build_id": "abc"}
    [point] = bench_sample_points(record, "bench-1", 1)
    line = point.to_line_protocol()
    assert line.startswith("bench_sample,") and "metric=m" in line and "side=candidate" in line and "value=123" in line
    records = []
    for block in range(3):
        records += [run(block, "a", "baseline", 100), run(block, "a", "candidate", 130),
                    {"type": "block", "block": block, "attempt": "a"}]
    [c] = comparisons(records, lambda w, f: 0.05, {"work"})
    line = bench_verdict_point(c.as_dict(), "qemu-virt-0", "bench-1", "a", "b", 1).to_line_protocol()
    assert "verdict=regressed" in line and "regressed=1i" in line and "ratio=1.3" in line
    inconclusive = comparisons(records[:3], lambda w, f: 0.05, {"work"})[0]
    assert "ratio" not in bench_verdict_point(inconclusive.as_dict(), "b", "c", "a", "b", 1).to_line_protocol()


def test_a_workload_the_board_cannot_run_is_named_with_its_reason():
    out = "bench pipe_pingpong_cross skipped needs 2 CPUs, this machine runs it on 1\n"
    assert skipped_reason("pipe_pingpong_cross", out) == "needs 2 CPUs, this machine runs it on 1"
    assert skipped_reason("pipe_pingpong", out) == "" and skipped_reason("pipe_pingpong_cross", AGENT_OUT) == ""
    ident = kernel_identity("bench kernel build_id 3ede55\nbench kernel release 6.1.192\nbench kernel cpus 2\n")
    assert ident == {"build_id": "3ede55", "release": "6.1.192", "cpus": "2"}
    assert kernel_identity("bench kernel build_id unsupported 2\n") == {}


def test_an_unsupported_workload_is_one_skipped_case_with_the_reason_not_a_number(tmp_path):
    why = "needs 2 CPUs, this machine runs it on 1"
    records = []
    for block in range(3):
        for side in ("baseline", "candidate"):
            records += [run(block, "a", side, 100),
                        {**run(block, "a", side, 0), "workload": "cross", "metrics": {}, "skipped": why}]
        records.append({"type": "block", "block": block, "attempt": "a"})
    found = {c.key: c for c in comparisons(records, lambda w, f: 0.05, {"work"})}
    assert set(found) == {"work:w.m", "work:cross.unsupported"}
    cross = found["work:cross.unsupported"]
    assert (cross.verdict, cross.supported, cross.ratio, cross.baseline) == ("inconclusive", False, None, None)
    assert why in cross.reason and found["work:w.m"].verdict == "unchanged"
    case = {c.name: c for c in cases(list(found.values()))}["work:cross.unsupported"]
    assert case.skipped and why in case.detail
    table = terminal_table({"baseline": "a", "candidate": "a", "suite": "s", "blocks": 3, "stopped": "x",
                            "metrics": [c.as_dict() for c in found.values()]})
    assert f"inconclusive (unsupported on this board: {why})" in table
    # the history of campaigns reads it as a metric key with no values, not as bad input
    from sisctl.campaign.bench.history import read_history
    (tmp_path / "c1").mkdir()
    (tmp_path / "c1" / "summary.json").write_text(json.dumps({
        "kind": "bench", "board": "b", "campaign": "c1", "finished_epoch": 1.0, "baseline": "k", "candidate": "k",
        "metrics": [c.as_dict() for c in found.values()]}))
    assert {key.workload for key in read_history(tmp_path)} == {"w"}
    # a workload measured on some boot is compared as usual, not reported unsupported
    records.append({**run(0, "a", "baseline", 5), "workload": "cross"})
    assert "work:cross.unsupported" not in {c.key for c in comparisons(records, lambda w, f: 0.05, {"work"})}


def test_a_boot_of_another_kernel_than_the_variants_stops_the_campaign():
    """A Pi whose tryboot failed boots its known-good kernel: its samples must not count as the variant's."""
    from types import SimpleNamespace

    from sisctl.campaign.bench.campaign import BenchCampaign, WorkloadFailed

    def session(build_id):
        out = {"sisagent bench kernel": f"bench kernel build_id {build_id}\nbench kernel release 6.1.0\n",
               "cat /proc/cmdline": "console=ttyAMA0 mitigations=off\n"}
        return SimpleNamespace(name="pi", run=lambda command, timeout: SimpleNamespace(ok=True, text=out[command]))

    campaign = object.__new__(BenchCampaign)
    campaign.ctx = SimpleNamespace(board=SimpleNamespace(has_agent=True))
    artifact = SimpleNamespace(build_id="aa11")
    boot = {"side": "candidate", "variant": "debian-arm64-generic+mitigations=off", "block": 2}
    assert campaign._booted_kernel(session("aa11"), artifact, boot) == {
        "build_id": "aa11", "release": "6.1.0", "cmdline": "console=ttyAMA0 mitigations=off"}
    with pytest.raises(WorkloadFailed, match="booted kernel build id bb22, not the candidate .*aa11.*block 2"):
        campaign._booted_kernel(session("bb22"), artifact, boot)
