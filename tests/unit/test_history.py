"""bench.history: a metric's history from past campaign summaries, and Apache Otava's change points in it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sisctl import errors
from sisctl.campaign.bench.history import (analyze, change_point, parse_min_change, parse_since,
                                           read_history, select)
from sisctl.campaign.bench.stats import Comparison
from sisctl.campaign.bench.suite import parse_metric
from sisctl.errors import UsageError
from sisctl.net import free_port

DAY = 86400.0
START = 1_790_000_000.0


def metric(key: str, baseline: float | None, candidate: float | None, better: str = "lower",
           min_effect: float = 0.02) -> dict:
    """A summary's metric entry as the campaign writes it (Comparison.as_dict)."""
    family = key.split(":", 1)[0]
    return Comparison(key, family, better, min_effect, blocks=4, baseline=baseline, candidate=candidate,
                      unit="ns").as_dict()


def write_campaign(reports: Path, name: str, epoch: float, metrics: list[dict], board: str = "qemu-virt-0",
                   baseline: str = "linux-kbuild", candidate: str = "linux-kbuild") -> Path:
    folder = reports / name
    folder.mkdir(parents=True)
    summary = {"campaign": name, "kind": "bench", "board": board, "status": "passed", "finished_epoch": epoch,
               "baseline": baseline, "candidate": candidate, "metrics": metrics}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def nightly(reports: Path, values: list[float], key: str = "work:fork_exit.instructions_per_op", **kw) -> list[str]:
    """One A/A campaign a night; each side measures the night's value."""
    names = []
    for night, value in enumerate(values):
        name = f"bench-2026{night:04d}"
        write_campaign(reports, name, START + night * DAY, [metric(key, value, value)], **kw)
        names.append(name)
    return names


def stepped(seed: int = 3) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(1000 + rng.normal(0, 5, 14)) + list(1100 + rng.normal(0, 5, 10))


def test_a_planted_step_is_found_where_it_was_planted(tmp_path):
    names = nightly(tmp_path, stepped())
    [(series, changes)] = analyze(tmp_path)
    assert series.key.label == "qemu-virt-0 linux-kbuild work:fork_exit.instructions_per_op"
    assert len(series.values) == 24
    [change] = changes
    assert (change.campaign, change.previous) == (names[14], names[13])
    assert change.epoch == START + 14 * DAY
    assert 995 < change.before < 1005 and 1095 < change.after < 1105
    assert 9 < change.change_pct < 11 and change.worse and change.pvalue < 0.001


@pytest.mark.parametrize("seed", range(5))
def test_a_flat_noisy_history_has_no_change_point(tmp_path, seed):
    rng = np.random.default_rng(seed)
    nightly(tmp_path, list(1000 * (1 + rng.normal(0, 0.02, 30))))
    [(series, changes)] = analyze(tmp_path, min_change=0.0)
    assert len(series.values) == 30 and changes == []


def test_a_change_smaller_than_the_metric_minimum_effect_is_not_named(tmp_path):
    rng = np.random.default_rng(1)
    nightly(tmp_path, list(1000 + rng.normal(0, 1, 15)) + list(1010 + rng.normal(0, 1, 15)))   # +1 %, min 2 %
    assert analyze(tmp_path)[0][1] == []
    assert len(analyze(tmp_path, min_change=0.0)[0][1]) == 1


def test_higher_is_better_metrics_call_a_drop_worse(tmp_path):
    values = [v / 1000 * 50 for v in stepped()][::-1]   # throughput falling from 55 to 50 MB/s
    for night, value in enumerate(values):
        write_campaign(tmp_path, f"bench-{night:02d}", START + night * DAY,
                       [metric("time:seq_write.mb_per_s", value, value, better="higher")])
    [change] = analyze(tmp_path)[0][1]
    assert change.change_pct < -8 and change.worse


def test_history_is_per_board_and_variant_and_an_aa_campaign_counts_once(tmp_path):
    write_campaign(tmp_path, "bench-a", START, [metric("work:null.ns_per_op", 10.0, 12.0)],
                   baseline="debian-arm64", candidate="linux-kbuild")
    write_campaign(tmp_path, "bench-b", START + DAY, [metric("work:null.ns_per_op", 11.0, 13.0)],
                   baseline="linux-kbuild", candidate="linux-kbuild")
    write_campaign(tmp_path, "bench-c", START + 2 * DAY, [metric("work:null.ns_per_op", 7.0, None)],
                   board="qemu-virt-1")
    (tmp_path / "ext4-crash-1").mkdir()
    (tmp_path / "ext4-crash-1" / "summary.json").write_text(json.dumps({"kind": "ext4-crash", "board": "x"}))
    history = read_history(tmp_path)
    got = {k.label: s.values for k, s in history.items()}
    assert got == {"qemu-virt-0 debian-arm64 work:null.ns_per_op": [10.0],
                   "qemu-virt-0 linux-kbuild work:null.ns_per_op": [12.0, 12.0],
                   "qemu-virt-1 linux-kbuild work:null.ns_per_op": [7.0]}
    assert [s.key.variant for s in select(history, board="qemu-virt-0", metric="null.ns_per_op")] == \
        ["debian-arm64", "linux-kbuild"]


def test_since_keeps_only_recent_campaigns(tmp_path):
    nightly(tmp_path, [1.0, 2.0, 3.0])
    [series] = read_history(tmp_path, since=START + DAY).values()
    assert series.values == [2.0, 3.0]
    assert parse_since("30d", now=100 * DAY) == 70 * DAY
    assert parse_since("2w", now=100 * DAY) == 86 * DAY


@pytest.mark.parametrize("call, expected", [
    (lambda: parse_since("yesterday"), "--since 'yesterday'"),
    (lambda: parse_metric("fork_exit"), "--metric 'fork_exit': expected [FAMILY:]WORKLOAD.METRIC"),
    (lambda: parse_metric("wall:fork_exit.ns"), "unknown family 'wall'"),
    (lambda: parse_min_change("-1"), "--min-change '-1'"),
])
def test_bad_options_are_usage_errors(call, expected):
    with pytest.raises(UsageError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        call()


def test_filters_that_match_nothing_name_what_exists(tmp_path):
    nightly(tmp_path, [1.0, 2.0])
    history = read_history(tmp_path)
    with pytest.raises(UsageError, match=r"--board 'rpi4-0'.*\(boards: qemu-virt-0\)"):
        select(history, board="rpi4-0")
    with pytest.raises(UsageError, match="--metric 'time:fork_exit.instructions_per_op'"):
        select(history, metric="time:fork_exit.instructions_per_op")


@pytest.mark.parametrize("damage, expected", [
    (lambda s: "{not json", "summary.json: not JSON"),
    (lambda s: {**s, "finished_epoch": "late"}, "summary.json: key 'finished_epoch' missing or not a number"),
    (lambda s: {**s, "metrics": [{**s["metrics"][0], "baseline": "fast"}]},
     "summary.json: key 'metrics[0].baseline' missing or not a number"),
    (lambda s: {**s, "metrics": [{**s["metrics"][0], "key": "fork_exit"}]},
     "summary.json: key 'metrics[0].key' is 'fork_exit', not FAMILY:WORKLOAD.METRIC"),
    (lambda s: {k: v for k, v in s.items() if k != "board"}, "summary.json: key 'board' missing or not a str"),
])
def test_a_damaged_summary_is_named_with_its_key(tmp_path, damage, expected):
    folder = write_campaign(tmp_path, "bench-x", START, [metric("work:fork_exit.ns_per_op", 1.0, 1.0)])
    summary = damage(json.loads((folder / "summary.json").read_text()))
    (folder / "summary.json").write_text(summary if isinstance(summary, str) else json.dumps(summary))
    with pytest.raises(UsageError) as err:
        read_history(tmp_path)
    assert str(err.value).startswith(str(folder / "summary.json")) and expected in str(err.value)


def test_a_change_point_is_a_schema_checked_point_at_the_new_level(tmp_path):
    nightly(tmp_path, stepped())
    [change] = analyze(tmp_path)[0][1]
    line = change_point(change).to_line_protocol()
    assert line.startswith("bench_change,board=qemu-virt-0,family=work,metric=instructions_per_op,"
                           "variant=linux-kbuild,workload=fork_exit ")
    assert line.endswith(f" {int((START + 14 * DAY) * 1e9)}") and "change_pct=" in line


def run_task(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    lab = tmp_path / "lab.yaml"
    lab.write_text(f"tsdb: {{url: 'http://127.0.0.1:{free_port()}', timeout_s: 1}}\n")   # nothing listens
    env = {**os.environ, "SISCTL_REPORTS": str(tmp_path / "reports"), "SISCTL_LAB": str(lab),
           "SISCTL_STATE": str(tmp_path / "state")}
    return subprocess.run([str(Path(sys.executable).parent / "invoke"), "bench.history", *args],
                          capture_output=True, text=True, timeout=60, env=env)


def test_the_task_prints_change_points_and_spools_them_when_the_database_is_down(tmp_path):
    names = nightly(tmp_path / "reports", stepped())
    done = run_task(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "  20" in done.stdout and f" {names[14]}: " in done.stdout and "worse" in done.stdout
    assert "1 bench_change point(s) spooled for http://127.0.0.1:" in done.stdout
    assert "24 campaigns" in done.stdout and "only large steps show" not in done.stdout
    as_json = json.loads(run_task(tmp_path, "--json", "--metric", "work:fork_exit.instructions_per_op").stdout)
    assert [c["campaign"] for s in as_json["series"] for c in s["change_points"]] == [names[14]]


def test_a_short_history_says_so_and_bad_input_exits_2_with_one_line(tmp_path):
    nightly(tmp_path / "reports", [1.0, 2.0])
    short = run_task(tmp_path)
    assert short.returncode == 0 and "2 campaigns" in short.stdout and "only large steps show" in short.stdout
    done = run_task(tmp_path, "--since", "soon")
    assert done.returncode == errors.USAGE and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: --since 'soon'")
