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
            ctx.board, config, ctx.out, ctx.progress, records=ctx.records,
            on_record=lambda record: write([campaign_point(record, ctx.board.name, ctx.out.name, config.mode,
                                                           time.time_ns())]))
        try:
            campaign.run()
        finally:
            elapsed = time.monotonic() - campaign.started
            ctx.figures["states_per_minute"] = round(campaign.checked / elapsed * 60, 1) if elapsed else None

    def findings(self, config: CampaignConfig, records: list[dict], figures: dict) -> Findings:
        summary = {"mode": config.mode, "states_per_minute": figures.get("states_per_minute"),
                   **summarize(records)}
        headline = f"{summary['states']} crash states, {summary['failed']} failed"
        return Findings(summary, scenario_cases(summary), headline)

    def terminal(self, summary: dict) -> str:
        return terminal_summary(summary)

    def page_sections(self, summary: dict, records: list[dict]) -> list:
        return report.page_sections(summary, records)


KIND = Ext4CrashKind()
