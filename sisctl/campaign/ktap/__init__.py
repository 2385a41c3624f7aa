"""The KTAP campaign kind: the kernel's own KUnit suites, run at boot, a record per test."""
from __future__ import annotations

from typing import Any

from sisctl.campaign.core.kind import Context, Findings
from sisctl.campaign.core.options import config_from_json, option_values
from sisctl.campaign.ktap.options import OPTIONS, KtapConfig
from sisctl.errors import UsageError
from sisctl.campaign.ktap.summary import cases, headline, summarize, terminal_summary


class KtapKind:
    name = "ktap"
    options = OPTIONS

    def config_from_options(self, board: str, seed: int, options: dict[str, Any]) -> KtapConfig:
        config = KtapConfig(board, seed, **option_values(self.name, OPTIONS, options))
        if not config.suites and not config.kselftest:
            raise UsageError("--suites none and no --kselftest: a ktap campaign with nothing to run")
        return config

    def config_from_json(self, data: dict) -> KtapConfig:
        return config_from_json(KtapConfig, OPTIONS, data)

    def execute(self, ctx: Context, config: KtapConfig) -> None:
        from sisctl.campaign.ktap.campaign import KtapCampaign   # the board side, only when run
        KtapCampaign(ctx, config).run()

    def findings(self, config: KtapConfig, records: list[dict], figures: dict) -> Findings:
        summary = {"suites_glob": config.suites, "kernel": config.kernel, **summarize(records)}
        if figures.get("booted"):
            summary["booted"] = figures["booted"]   # the --kernel it booted, not the board's flashed one
        return Findings(summary, cases(records), headline(summary))

    def terminal(self, summary: dict) -> str:
        return terminal_summary(summary)


KIND = KtapKind()
