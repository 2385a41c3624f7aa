"""The ext4 crash-injection campaign kind: workloads, crash states, the durability oracle."""
from __future__ import annotations

import time
from dataclasses import fields
from typing import Any

from sisctl.campaign.core.kind import Context, Findings
from sisctl.campaign.ext4crash import report
from sisctl.campaign.ext4crash.campaign import CampaignConfig, Ext4CrashCampaign
from sisctl.campaign.ext4crash.fsworkloads import SCENARIOS
from sisctl.campaign.ext4crash.summary import scenario_cases, summarize, terminal_summary
from sisctl.errors import UsageError
from sisctl.telemetry.points import campaign_point

MODES = ("powerloss", "reset")


def scenario_names(choice: str) -> list[str]:
    if choice == "all":
        return list(SCENARIOS)
    names = [n.strip() for n in choice.split(",") if n.strip()]
    if not names:
        raise UsageError("--scenario: give 'all', a scenario name or a comma list")
    for name in names:
        generated = name.startswith("generated-") and name[10:].isdigit() and 1 <= int(name[10:]) <= 3
        if name not in SCENARIOS and not generated:
            raise UsageError(f"--scenario {name!r}: unknown scenario; known: {', '.join(SCENARIOS)}, "
                             "generated-N (N = 1..3 operations)")
    return names


class Ext4CrashKind:
    name = "ext4-crash"
    shardable = True      # the (scenario, run) units split across boards

    def config_from_options(self, board: str, seed: int, options: dict[str, Any]) -> CampaignConfig:
        unknown = set(options) - {"scenario", "mode", "runs"}
        if unknown:
            raise UsageError(f"--{sorted(unknown)[0]} is not an option of ext4-crash campaigns "
                             "(they take --scenario, --mode, --runs)")
        mode = options.get("mode", "powerloss")
        if mode not in MODES:
            raise UsageError(f"--mode {mode!r}: expected one of {', '.join(MODES)}")
        runs = options.get("runs", 2)
        if isinstance(runs, bool) or not str(runs).strip().isdigit() or int(runs) < 1:
            raise UsageError(f"--runs {runs!r}: expected a whole number of runs per scenario, 1 or more")
        runs = int(runs)
        return CampaignConfig(board, scenario_names(options.get("scenario", "all")), mode, runs, seed)

    def config_from_json(self, data: dict) -> CampaignConfig:
        known = {f.name for f in fields(CampaignConfig)}
        return CampaignConfig(**{k: v for k, v in data.items() if k in known})

    def execute(self, ctx: Context, config: CampaignConfig) -> None:
        write = ctx.write_points
        campaign = Ext4CrashCampaign(
            ctx.board, config, ctx.out, ctx.progress, records=ctx.records, shard=ctx.shard, work=ctx.scratch,
            check_stop=ctx.check_stop,
            on_record=lambda record: write([campaign_point(record, ctx.board.name, ctx.out.name, config.mode,
                                                           time.time_ns())]))
        try:
            campaign.run()
        finally:
            elapsed = time.monotonic() - campaign.started
            ctx.figures.update(states_per_minute=round(campaign.checked / elapsed * 60, 1) if elapsed else None,
                               states_checked=campaign.checked, elapsed_s=round(elapsed, 1))

    def findings(self, config: CampaignConfig, records: list[dict], figures: dict) -> Findings:
        by_board = figures.get("by_board") or {}
        summary = {"mode": config.mode, "states_per_minute": figures.get("states_per_minute"),
                   **summarize(records)}
        if len(by_board) > 1:
            summary["states_per_minute"] = combined_rate(by_board.values())
            summary["by_board"] = board_figures(records, by_board)
        headline = f"{summary['states']} crash states, {summary['failed']} failed" + (
            f" on {len(by_board)} boards" if len(by_board) > 1 else "")
        return Findings(summary, scenario_cases(summary), headline)

    def terminal(self, summary: dict) -> str:
        return terminal_summary(summary)

    def page_sections(self, summary: dict, records: list[dict]) -> list:
        return report.page_sections(summary, records)


def combined_rate(figures) -> float | None:
    """States per minute of all boards together: states checked over the longest board's time."""
    figures = [f for f in figures if f.get("elapsed_s")]
    if not figures:
        return None
    return round(sum(f.get("states_checked", 0) for f in figures) / max(f["elapsed_s"] for f in figures) * 60, 1)


def board_figures(records: list[dict], by_board: dict[str, dict]) -> dict[str, dict]:
    """Per board: its crash states (all of the campaign's, resumes included), failures and rate."""
    states = [r for r in records if r.get("type") == "state"]
    return {board: {"states": sum(r.get("board") == board for r in states),
                    "failed": sum(r.get("board") == board and r["outcome"] != "ok" for r in states),
                    "states_per_minute": figures.get("states_per_minute")}
            for board, figures in by_board.items()}


KIND = Ext4CrashKind()
