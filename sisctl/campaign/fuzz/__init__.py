"""The fuzz campaign kind: ext4 images and VFS operations on the kernel under test, with triage,
reproducers and minimisation."""
from __future__ import annotations

from typing import Any

from sisctl.campaign.core import phases
from sisctl.campaign.core.kind import Context, Findings
from sisctl.campaign.core.options import config_from_json
from sisctl.campaign.fuzz.options import OPTIONS, FuzzConfig, config_from_options
from sisctl.errors import UsageError
from sisctl.campaign.fuzz.summary import cases, coverage_summary, summarize, terminal_summary


class FuzzKind:
    name = "fuzz"
    shardable = True      # one worker per board, each its own stream of inputs; crashes and corpus shared
    options = OPTIONS

    def config_from_options(self, board: str, seed: int, options: dict[str, Any]) -> FuzzConfig:
        return config_from_options(board, seed, options)

    def config_from_json(self, data: dict) -> FuzzConfig:
        return config_from_json(FuzzConfig, OPTIONS, data)

    def execute(self, ctx: Context, config: FuzzConfig) -> None:
        from sisctl.campaign.fuzz.campaign import FuzzCampaign   # imports the board side only when run
        FuzzCampaign(ctx, config).run()

    def check_board(self, config: FuzzConfig, board) -> None:
        if board.spec.qemu is None:
            raise UsageError(f"{board.name}: fuzz campaigns run on QEMU boards: every batch of inputs starts from "
                             "a snapshot of the running kernel and its disks, which a real board does not have")

    def findings(self, config: FuzzConfig, records: list[dict], figures: dict) -> Findings:
        summary = {"target": config.target, "duration_s": config.duration_s,
                   "checksum_repair": config.checksum_repair,
                   **coverage_summary(config.coverage, records, coverage_figures(figures)), **summarize(records),
                   "phases": phases.by_board(figures)}
        headline = (f"{summary['execs']} execs ({summary['execs_per_s']}/s), "
                    f"{len(summary['unique_crashes'])} unique findings")
        return Findings(summary, cases(summary), headline)

    def terminal(self, summary: dict) -> str:
        return terminal_summary(summary)

    def page_sections(self, summary: dict, records: list[dict]) -> list:
        from sisctl.campaign.fuzz.report import page_sections
        return page_sections(summary, records)


def coverage_figures(figures: dict) -> dict | None:
    """The coverage figures of a campaign; with shards, those of the shard that ended last (the
    shards share one coverage set, so the last one holds every shard's PCs)."""
    if "coverage" in figures:
        return figures["coverage"]
    shards = [f["coverage"] for f in figures.get("by_board", {}).values() if f.get("coverage")]
    return max(shards, key=lambda c: c.get("campaign", {}).get("total", {}).get("pcs", 0), default=None)


KIND = FuzzKind()
