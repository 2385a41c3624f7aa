"""The ext4 crash-injection campaign kind: workloads, crash states, the durability oracle."""
from __future__ import annotations

from importlib import import_module
from typing import Any

from sisctl.campaign.core import phases
from sisctl.campaign.core.kind import Context, Findings
from sisctl.campaign.core.options import config_from_json
from sisctl.campaign.ext4crash.fsworkloads import SCENARIOS
from sisctl.campaign.ext4crash.options import ON_BOARD_MODES, OPTIONS, CampaignConfig, config_from_options
from sisctl.campaign.ext4crash.summary import scenario_cases, summarize, terminal_summary
from sisctl.errors import UsageError


# Each mode's campaign: (module of sisctl/campaign/ext4crash, class). A mode is a module and a line here
# (and its name in options.MODES); docs/development.md says how.
CAMPAIGNS = {"powerloss": ("campaign", "Ext4CrashCampaign"), "reset": ("campaign", "Ext4CrashCampaign"),
             "power-cut": ("powercut", "PowerCutCampaign"), "log-writes": ("logwrites", "LogWritesCampaign")}


class Ext4CrashKind:
    name = "ext4-crash"
    shardable = True      # the (scenario, run) units split across boards
    options = OPTIONS

    def config_from_options(self, board: str, seed: int, options: dict[str, Any]) -> CampaignConfig:
        return config_from_options(board, seed, options)

    def config_from_json(self, data: dict) -> CampaignConfig:
        return config_from_json(CampaignConfig, OPTIONS, data)

    def execute(self, ctx: Context, config: CampaignConfig) -> None:
        if not ctx.board.has_agent:   # the kernel's own commands drive it (runs_without_agent said yes)
            from sisctl.campaign.ext4crash.promptcrash import PromptCrashCampaign
            PromptCrashCampaign(ctx, config).run()
            return
        module, name = CAMPAIGNS[config.mode]     # the board side, imported only when run
        getattr(import_module(f"sisctl.campaign.ext4crash.{module}"), name)(ctx, config).run()

    def check_board(self, config: CampaignConfig, board) -> None:
        """What a mode needs of a board, refused before anything boots."""
        spec = board.spec
        if spec.qemu is not None:
            return      # sisctl gives a QEMU board the disks each mode needs
        if config.mode not in ON_BOARD_MODES:
            raise UsageError(f"{board.name}: --mode {config.mode} crashes QEMU's disks (a write log, a QMP "
                             f"reset); on a real board use --mode {' or '.join(ON_BOARD_MODES)}")
        if spec.storage is None:
            raise UsageError(f"{spec.source}: key 'storage': --mode {config.mode} destroys a scratch device; name "
                             "it (storage: {scratch: {label: NAME}}, a GPT partition name, or {serial: ..., partition: N})")
        if config.mode == "log-writes" and spec.storage.log is None:
            raise UsageError(f"{spec.source}: key 'storage.log': --mode log-writes keeps its write log on a device "
                             "of the board's; name it as the scratch device is named")
        if config.mode == "power-cut" and spec.power.model == "manual":
            raise UsageError(f"{spec.source}: key 'power.model': --mode power-cut cuts the power at a seeded "
                             "moment, which a switch worked by hand (manual) cannot")

    def runs_without_agent(self, config: CampaignConfig, board) -> bool:
        """A kernel without the agent whose profile names its crash commands runs the reset mode."""
        if getattr(board.spec.target, "crash", None) is None:
            return False
        if config.profile == "on":
            raise UsageError(f"{board.name}: --profile on samples by sisctl's agent, which this board's target "
                             "does not run")
        if config.mode != "reset":
            raise UsageError(f"{board.name}: without sisctl's agent only --mode reset runs (powerloss rebuilds "
                             "crash states from a write log, and needs the agent to recover them)")
        generated = [s for s in config.scenarios if s.startswith("generated-")]
        if generated:
            raise UsageError(f"--scenario {generated[0]}: generated scenarios are sisctl's own workloads; the "
                             f"kernel of {board.name} runs the named ones ({', '.join(SCENARIOS)})")
        return True

    def findings(self, config: CampaignConfig, records: list[dict], figures: dict) -> Findings:
        by_board = figures.get("by_board") or {}
        summary = {"mode": config.mode, "states_per_minute": figures.get("states_per_minute"),
                   **summarize(records), "phases": phases.by_board(figures)}
        if len(by_board) > 1:
            summary["states_per_minute"] = combined_rate(by_board.values())
            summary["by_board"] = board_figures(records, by_board)
        headline = f"{summary['states']} crash states, {summary['failed']} failed" + (
            f" on {len(by_board)} boards" if len(by_board) > 1 else "")
        return Findings(summary, scenario_cases(summary), headline)

    def terminal(self, summary: dict) -> str:
        return terminal_summary(summary)

    def page_sections(self, summary: dict, records: list[dict]) -> list:
        from sisctl.campaign.ext4crash.report import page_sections
        return page_sections(summary, records)


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
