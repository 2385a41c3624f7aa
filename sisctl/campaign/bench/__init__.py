"""The benchmark campaign kind: baseline vs candidate kernel variants, interleaved on one board."""
from __future__ import annotations

import time
from typing import Any

from sisctl.campaign.bench.options import OPTIONS, BenchConfig
from sisctl.campaign.bench.suite import Suite, load_suite
from sisctl.campaign.core import phases
from sisctl.campaign.core.kind import Context, Findings
from sisctl.campaign.core.options import config_from_json, option_values
from sisctl.errors import UsageError


def families_for(suite: Suite, qemu: bool) -> tuple[list[str], list[str]]:
    """The families a board can measure, and the one whose verdicts gate: work (icount) on QEMU,
    where wall time under TCG is advisory; time on a real board, where icount does not exist."""
    families = [f for f in suite.families if qemu or f == "time"]
    if not families:
        raise UsageError(f"suite {suite.name}: its families ({', '.join(suite.families)}) need a QEMU board "
                         "(the work family runs under -icount); add 'time' to measure a real board")
    gate = "work" if qemu and "work" in families else "time"
    return families, [gate] if gate in families else families[:1]


class BenchKind:
    name = "bench"
    options = OPTIONS

    def config_from_options(self, board: str, seed: int, options: dict[str, Any]) -> BenchConfig:
        from sisctl.board.spec import find_board
        given = dict(options)
        workloads = given.pop("workloads", None)   # not an option of the command line: bench.bisect-step's
        values = option_values(self.name, OPTIONS, given)
        suite = load_suite(values["suite"])
        missing = sorted(set(workloads or ()) - {w.name for w in suite.workloads})
        if missing:
            raise UsageError(f"suite {suite.name} has no workload {missing[0]}")
        if board.startswith("tag:"):   # a test plan's step before a board is taken: checked when it runs
            return BenchConfig(board, seed=seed, workloads=workloads, **values)
        qemu = find_board(board).qemu is not None
        families_for(suite, qemu)   # refuse what the board cannot measure
        if not qemu and (suite.only(set(workloads)) if workloads else suite).needs_disk:
            raise UsageError(f"suite {suite.name}: its ext4 workloads run on a virtio disk, which only QEMU boards "
                             "have; give a suite without them for a real board")
        return BenchConfig(board, seed=seed, workloads=workloads, **values)

    def config_from_json(self, data: dict) -> BenchConfig:
        return config_from_json(BenchConfig, OPTIONS, data)

    def suite(self, config: BenchConfig) -> Suite:
        suite = load_suite(config.suite)
        return suite.only(set(config.workloads)) if config.workloads else suite

    def runs_without_agent(self, config: BenchConfig, board) -> bool:
        """A suite of shell commands alone (no agent workload, no benchmark disk) runs on any target."""
        suite = self.suite(config)
        return all(w.agent is None for w in suite.workloads) and not suite.needs_disk

    def execute(self, ctx: Context, config: BenchConfig) -> None:
        from sisctl.campaign.bench.campaign import BenchCampaign   # the board side, only when run
        from sisctl.telemetry.points import bench_verdict_point
        suite = self.suite(config)
        families, gate = families_for(suite, ctx.board.spec.qemu is not None)
        campaign = BenchCampaign(ctx, config, suite, families, set(gate))
        try:
            campaign.run()
            if config.profile == "on":
                from sisctl.campaign.bench.profiles import profile_changes
                profile_changes(campaign, campaign.current())
        finally:
            ctx.figures["stopped"] = campaign.stopped or "did not finish"
            ctx.figures["phases"] = campaign.phases.as_dict()
            now = time.time_ns()
            ctx.write_points([bench_verdict_point(c.as_dict(), ctx.board.name, ctx.out.name, config.baseline,
                                                  config.candidate, now) for c in campaign.current()])

    def findings(self, config: BenchConfig, records: list[dict], figures: dict) -> Findings:
        from sisctl.board.spec import find_board
        from sisctl.campaign.bench.analysis import comparisons
        from sisctl.campaign.bench.profiles import grower_text, profiles_of
        from sisctl.campaign.bench.report import cases, headline
        suite = self.suite(config)
        families, gate = families_for(suite, find_board(config.board).qemu is not None)
        found = comparisons(records, suite.min_effect_for, set(gate))
        blocks = sum(r.get("type") == "block" for r in records)
        summary = {"baseline": config.baseline, "candidate": config.candidate, "suite": suite.name,
                   "budget_s": config.budget_s, "blocks": blocks, "families": families,
                   "gate_families": gate, "stopped": figures.get("stopped", ""),
                   "metrics": [c.as_dict() for c in found], "phases": phases.by_board(figures),
                   **({"booted": figures["booted"]} if figures.get("booted") else {})}
        profiles = profiles_of(records)
        if profiles:
            summary["profiles"] = profiles
        verdicts = cases(found)
        for case in verdicts:
            if not case.skipped and case.detail.startswith(("regressed", "improved")):
                case.detail += grower_text(profiles.get(case.name.split(":", 1)[1].split(".", 1)[0]))
        return Findings(summary, verdicts, headline(found, blocks))

    def terminal(self, summary: dict) -> str:
        from sisctl.campaign.bench.report import terminal_table
        return terminal_table(summary)

    def page_sections(self, summary: dict, records: list[dict]) -> list:
        from sisctl.campaign.bench.profiles import profile_section
        from sisctl.campaign.bench.report import page_sections
        table = profile_section(records)
        return page_sections(summary, records) + ([table] if table else [])


KIND = BenchKind()
