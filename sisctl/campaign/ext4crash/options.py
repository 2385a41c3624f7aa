"""The ext4-crash campaign's options (scenario, mode, runs) and the config they make; each bad value
is a UsageError naming it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sisctl.campaign.core.options import Option, one_of, option_values
from sisctl.campaign.core.profiling import profile_option
from sisctl.campaign.ext4crash.fsworkloads import SCENARIOS
from sisctl.errors import UsageError

MODES = ("powerloss", "reset", "power-cut", "log-writes")
ON_BOARD_MODES = ("power-cut", "log-writes")    # run on real boards too: states checked on the board


@dataclass
class CampaignConfig:
    board: str
    scenarios: list[str]
    mode: Literal[MODES] = "powerloss"
    runs: int = 2
    seed: int = 1
    reorder_per_epoch: int = 2      # powerloss: extra states per epoch that lose unflushed writes
    keep_all: bool = False          # keep logs/images of runs without failures too
    profile: str = "off"            # on: sample the kernel in the workload and guest check phases


def scenario_names(choice: Any) -> list[str]:
    if choice == "all":
        return list(SCENARIOS)
    given = choice if isinstance(choice, list) else str(choice).split(",")   # a list: a plan's, campaign.json's
    names = [str(n).strip() for n in given if str(n).strip()]
    if not names:
        raise UsageError("--scenario: give 'all', a scenario name or a comma list")
    for name in names:
        generated = name.startswith("generated-") and name[10:].isdigit() and 1 <= int(name[10:]) <= 3
        if name not in SCENARIOS and not generated:
            raise UsageError(f"--scenario {name!r}: unknown scenario; known: {', '.join(SCENARIOS)}, "
                             "generated-N (N = 1..3 operations)")
    return names


def parse_runs(runs: Any) -> int:
    if isinstance(runs, bool) or not str(runs).strip().isdigit() or int(runs) < 1:
        raise UsageError(f"--runs {runs!r}: expected a whole number of runs per scenario, 1 or more")
    return int(runs)


OPTIONS = (
    Option("scenario", scenario_names, "all", "scenario name, comma list, 'all', or generated-N", field="scenarios"),
    Option("mode", one_of("mode", MODES), "powerloss", " or ".join(MODES)),
    Option("runs", parse_runs, 2, "runs per scenario"),
    profile_option("each run's workload and the recovery and check of its crash states"),
)


def config_from_options(board: str, seed: int, options: dict[str, Any]) -> CampaignConfig:
    return CampaignConfig(board, seed=seed, **option_values("ext4-crash", OPTIONS, options))
