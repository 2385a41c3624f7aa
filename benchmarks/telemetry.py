"""Benchmark: points per second into the local database through the spooled sink, and the cost of
periodic PMU sampling on a guest workload's run time (sampled vs unsampled, interleaved).
`invoke speed.telemetry` runs it."""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sisctl.board.board import Board  # noqa: E402
from sisctl.board.spec import find_board  # noqa: E402
from sisctl.build.builder import build  # noqa: E402
from sisctl.build.recipe import find_recipe  # noqa: E402
from sisctl.net import free_port  # noqa: E402
from sisctl.telemetry.pmu import parse_pmu, pmu_command  # noqa: E402
from sisctl.telemetry.sink import SinkConfig, TelemetrySink  # noqa: E402
from sisctl.telemetry.tsdb import EmbeddedTsdb  # noqa: E402

WORKLOAD = "i=0; while [ $i -lt 40000 ]; do i=$((i+1)); done"


def points_per_second(tmp: Path, count: int) -> float:
    db = EmbeddedTsdb(f"127.0.0.1:{free_port()}", tmp / "tsdb")
    db.start()
    try:
        sink = TelemetrySink(SinkConfig(db.url, "bench", "sisctl"), tmp / "spool")
        base = time.time_ns() - 3600 * 10**9
        lines = [f"pmu,board=bench,run=r{i % 16} cycles={i}i,task_clock={2 * i}i {base + i * 1_000_000}"
                 for i in range(count)]
        started = time.monotonic()
        for chunk in range(0, count, 5000):
            sink.write(lines[chunk:chunk + 5000])
        if not sink.drain(300):
            raise SystemExit(f"not delivered: {sink.status()}")
        elapsed = time.monotonic() - started
        sink.close()
        stored = sum(len(s["values"]) for s in db.export('{__name__=~"pmu_.*",board="bench"}'))
        if stored != 2 * count:
            raise SystemExit(f"stored {stored} values, expected {2 * count}")
        return count / elapsed
    finally:
        db.stop()


def sampling_overhead(board: Board, runs: int, interval_ms: int) -> tuple[float, float]:
    """Median wall time of the workload (seconds, as the host sees the command) without and with
    periodic sampling; both run under the counters, so only the sampling differs."""
    plain, sampled = [], []
    with board.session(label="bench-pmu") as session:
        for _ in range(runs):
            for interval, out in ((0, plain), (interval_ms, sampled)):
                result = session.run(pmu_command(WORKLOAD, interval), timeout_s=300)
                if parse_pmu(result.stderr.decode()).exit_code != 0:
                    raise SystemExit(f"workload failed: {result.stderr[-300:]!r}")
                out.append(result.duration_s)
    return statistics.median(plain), statistics.median(sampled)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--board", default="qemu-virt-0")
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--interval-ms", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sisctl-bench-") as tmp:
        rate = points_per_second(Path(tmp), args.points)
    print(f"sink -> local database: {rate:,.0f} points/s ({args.points} points, batches of 1000, spooled)")
    spec = find_board(args.board)
    board = Board(spec)
    board.flash(build(find_recipe(spec.recipe), progress=lambda _: None), progress=lambda _: None)
    plain, sampled = sampling_overhead(board, args.runs, args.interval_ms)
    print(f"workload wall time: {plain:.3f} s unsampled, {sampled:.3f} s sampled every {args.interval_ms} ms "
          f"-> overhead {100 * (sampled / plain - 1):+.2f} %")


if __name__ == "__main__":
    main()
