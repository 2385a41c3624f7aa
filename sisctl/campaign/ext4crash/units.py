"""What both ways of running ext4-crash share: this board's (scenario, run) units, the ones not
yet done, each record written with its telemetry point, and the rate figures at the end, however
the campaign ended."""
from __future__ import annotations

import time
from typing import Callable

from sisctl.campaign.core.kind import Context
from sisctl.campaign.core.phases import Phases
from sisctl.campaign.core.shards import share
from sisctl.campaign.ext4crash.options import CampaignConfig
from sisctl.telemetry.points import campaign_point


def board_units(config: CampaignConfig, shard: tuple[int, int]) -> list[tuple[str, int]]:
    """This board's (scenario, run) units: the same split on every resume."""
    return share([(scenario, run) for scenario in config.scenarios for run in range(config.runs)], shard)


def run_units(ctx: Context, config: CampaignConfig, runs_done: set[str], one_run: Callable[[str, int], None]) -> None:
    """`one_run(scenario, run)` for each of this board's units not in `runs_done`; progress counts
    the done ones first."""
    units = board_units(config, ctx.shard)
    ctx.progress.total(len(units), "runs")
    ctx.progress.advance(sum(f"{s}/{r}" in runs_done for s, r in units))
    for scenario, run in units:
        if f"{scenario}/{run}" not in runs_done:
            ctx.check_stop()
            one_run(scenario, run)


def append_record(ctx: Context, mode: str, record: dict) -> None:
    """To the campaign's records, and as a telemetry point."""
    ctx.records.append(record)
    ctx.write_points([campaign_point(record, ctx.board.name, ctx.out.name, mode, time.time_ns())])


def rate_figures(checked: int, started: float, phases: Phases) -> dict:
    elapsed = time.monotonic() - started
    return {"states_per_minute": round(checked / elapsed * 60, 1) if elapsed else None,
            "states_checked": checked, "elapsed_s": round(elapsed, 1), "phases": phases.as_dict()}
