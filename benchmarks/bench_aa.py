"""Benchmark: how often does the gate cry wolf? A/A campaigns (a variant against itself).

1. Records one long A/A campaign (the same variant as baseline and candidate, a fixed number of
   blocks, both metric families), or reads one given with --from.
2. Replays many shorter campaigns from its blocks: each draws blocks in a random order without
   replacement and swaps the two sides of each block with probability 1/2 (valid because both
   sides run the same kernel), then applies the campaign's own rule: verdicts after every block
   from min_blocks on, stop when every metric is decided. A regressed or improved verdict is a
   false positive. Prints the rate per campaign and per metric, with a 95 % Clopper-Pearson
   upper bound (the replays share blocks, so the bound is optimistic: read it with the number of
   recorded blocks in mind).
3. Prints the smallest change each family detects with 80 % power for 3, 6 and 12 blocks, from
   the block-to-block spread of the recorded blocks, next to the minimum effect of the policy.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scipy import stats  # noqa: E402

from benchmarks.bench_planted import ensure_flashed  # noqa: E402
from sisctl.campaign.bench.analysis import block_values  # noqa: E402
from sisctl.campaign.bench.stats import all_decided, compare, decide, detectable_change  # noqa: E402
from sisctl.campaign.bench.suite import load_suite  # noqa: E402
from sisctl.campaign.core import runner  # noqa: E402
from sisctl.campaign.core.phases import table  # noqa: E402
from sisctl.campaign.core.records import read_records  # noqa: E402

SUITE = """# A/A recording: the quick suite's workloads, a fixed number of blocks
families: [{families}]
reps: 3
min_blocks: {blocks}
max_blocks: {blocks}
workloads:
  - {{name: null_syscall, agent: [null_syscall, 5000]}}
  - {{name: mmap_touch, agent: [mmap_touch, 1024]}}
  - {{name: fork_exit, agent: [fork_exit, 30]}}
"""


def record(board: str, variant: str, blocks: int, families: str, folder: Path) -> Path:
    suite = folder / "aa-suite.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    suite.write_text(SUITE.format(blocks=blocks, families=families))
    ensure_flashed(board, variant.split("+")[0])
    summary = runner.start("bench", board, {"baseline": variant, "candidate": variant, "suite": str(suite),
                                            "budget": "3h"}, 1, progress=lambda _: None)
    print(f"recorded: {summary['headline']} in {summary['elapsed_s']:.0f} s; {summary['report']}")
    for name, phases in summary.get("phases", {}).items():
        boots = phases.get("cold boot", {}).get("count", 0)
        print(f"{name}, per benchmark boot ({boots}):\n{table(phases, boots, 'boot')}")
    return Path(summary["report"])


def replay(values: dict, min_effect: dict, min_blocks: int, max_blocks: int, rng: random.Random) -> dict:
    """One replayed campaign: metric key -> its final verdict."""
    keys = sorted(values)
    pool = sorted(set.intersection(*(set(values[k]["blocks"]) for k in keys)))
    order = rng.sample(pool, min(max_blocks, len(pool)))
    flips = {b: rng.random() < 0.5 for b in order}
    found = []
    for n in range(min_blocks, len(order) + 1):
        found = []
        for k in keys:
            blocks = [values[k]["blocks"][b][::-1] if flips[b] else values[k]["blocks"][b] for b in order[:n]]
            found.append(compare(k, values[k]["family"], values[k]["better"], min_effect[values[k]["family"]], blocks))
        for family in {c.family for c in found}:
            decide([c for c in found if c.family == family])
        if all_decided(found):
            break
    return {c.key: c.verdict for c in found}


def bound(k: int, n: int) -> str:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return f"{k}/{n} = {k / n:.1%} (95% upper bound {ci.high:.1%})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="qemu-virt-0")
    parser.add_argument("--variant", default="linux-kbuild")
    parser.add_argument("--blocks", type=int, default=8, help="blocks to record")
    parser.add_argument("--families", default="work, time", help="families to record, e.g. 'work'")
    parser.add_argument("--from", dest="source", help="a recorded A/A campaign folder instead of recording one")
    parser.add_argument("--replays", type=int, default=2000)
    parser.add_argument("--max-blocks", type=int, default=6, help="blocks per replayed campaign at most")
    args = parser.parse_args()
    folder = Path(args.source) if args.source else record(args.board, args.variant, args.blocks, args.families,
                                                          Path("reports") / "bench-aa")
    records = list(read_records(folder / "records.jsonl"))
    values = block_values(records)
    policy = load_suite("default")
    rng = random.Random(1)
    families = sorted({v["family"] for v in values.values()})
    campaigns_fp, per_metric = {f: 0 for f in ["any", *families]}, {k: 0 for k in values}
    for _ in range(args.replays):
        verdicts = replay(values, policy.min_effect, policy.min_blocks, args.max_blocks, rng)
        wrong = [k for k, v in verdicts.items() if v in ("regressed", "improved")]
        for family in ["any", *families]:
            campaigns_fp[family] += any(family in ("any", values[k]["family"]) for k in wrong)
        for k in wrong:
            per_metric[k] += 1
    n_blocks = len({b for v in values.values() for b in v["blocks"]})
    print(f"\nA/A: {folder.name}, {n_blocks} recorded blocks, {args.replays} replayed campaigns "
          f"(min {policy.min_blocks}, max {args.max_blocks} blocks; min effect {json.dumps(policy.min_effect)})")
    print(f"campaigns with a false regressed/improved verdict in any family: "
          f"{bound(campaigns_fp['any'], args.replays)}")
    for family in families:
        keys = [k for k in values if values[k]["family"] == family]
        fp = sum(per_metric[k] for k in keys)
        print(f"  {family} family: campaigns {bound(campaigns_fp[family], args.replays)}; "
              f"per metric {bound(fp, args.replays * len(keys))}")
    print("\nsmallest change detected with 80% power (block-to-block spread of the recording):")
    print(f"{'metric':36} {'block sd':>9} {'3 blocks':>9} {'6 blocks':>9} {'12 blocks':>9}  min effect")
    per_family: dict[str, list[float]] = {}
    for key, entry in sorted(values.items()):
        logs = [math.log(statistics.median(c) / statistics.median(b)) for b, c in entry["blocks"].values()]
        mde = [detectable_change(logs, n) for n in (3, 6, 12)]
        per_family.setdefault(entry["family"], []).append(max(mde[1], policy.min_effect[entry["family"]]))
        print(f"{key:36} {statistics.stdev(logs):9.2%} {mde[0]:9.2%} {mde[1]:9.2%} {mde[2]:9.2%}  "
              f"{policy.min_effect[entry['family']]:.0%}")
    for family, changes in sorted(per_family.items()):
        print(f"{family} family: smallest change flagged at 6 blocks (max of detectable and minimum effect): "
              f"median {statistics.median(changes):.1%}, worst {max(changes):.1%}")


if __name__ == "__main__":
    main()
