"""The fuzz campaign's options (target, duration, corpus, coverage feedback, the share of inputs whose
checksums are repaired, stop-on, minimisation) and the config they make; each bad value is a
UsageError naming it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sisctl import paths
from sisctl.campaign.core.options import Option, on_off, one_of, option_values
from sisctl.campaign.core.profiling import profile_option
from sisctl.campaign.fuzz.inputs import REPAIR_SHARE, TARGETS
from sisctl.duration import parse_duration
from sisctl.errors import UsageError


@dataclass
class FuzzConfig:
    board: str
    target: str = "all"
    duration_s: float = 600.0
    seed: int = 1
    corpus: str = ""              # folder of the persistent corpus; "" = the default one under the state folder
    batch: int = 16               # execs per record (two restores)
    slots: int = 8                # inputs per snapshot restore (a crash re-runs them one by one)
    coverage: str = "on"          # on: KCOV feedback where the kernel has it; off: outcome signatures only
    checksum_repair: float = REPAIR_SHARE   # share of ext4-image inputs whose checksums are recomputed
    stop_on: str = ""             # end the campaign at the first finding whose title contains this
    minimize: str = "on"          # on: after fuzzing, minimise each finding (after the duration); off: leave it
    profile: str = "off"          # on: sample the kernel while it runs the inputs

    @property
    def targets(self) -> list[str]:
        return list(TARGETS) if self.target == "all" else [self.target]

    def corpus_dir(self) -> Path:
        return Path(self.corpus) if self.corpus else paths.state_dir() / "fuzz-corpus"


def parse_corpus(text: Any) -> str:
    """--corpus: a folder (made when missing), as an absolute path; "" for the default one."""
    corpus = str(text)
    if corpus and Path(corpus).exists() and not Path(corpus).is_dir():
        raise UsageError(f"--corpus {corpus}: not a folder")
    return str(Path(corpus).resolve()) if corpus else ""


def parse_share(text: Any) -> float:
    """--checksum-repair: a share from 0 to 1."""
    try:
        share = float(text)
    except (TypeError, ValueError):
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise UsageError(f"--checksum-repair {text!r}: expected a share from 0 to 1 (default {REPAIR_SHARE})")
    return share


OPTIONS = (
    Option("target", one_of("target", (*TARGETS, "all")), "all", f"{', '.join(TARGETS)} or all"),
    Option("duration", lambda text: parse_duration(text, "--duration", above=0), "10m",
           "how long to fuzz, e.g. 90s, 10m, 1h", field="duration_s"),
    Option("corpus", parse_corpus, "", "corpus folder kept across campaigns (default: one under the state folder)"),
    Option("coverage", on_off("coverage"), "on", "on (KCOV feedback where the kernel has it) or off"),
    Option("checksum_repair", parse_share, REPAIR_SHARE,
           "share of ext4-image inputs whose checksums are recomputed, 0..1"),
    Option("stop_on", str, "", "end at the first finding whose title contains this text"),
    Option("minimize", on_off("minimize"), "on",
           "on (after fuzzing, minimise each new finding and confirm it on a cold boot) or off"),
    profile_option("running each batch of inputs"),
)


def config_from_options(board: str, seed: int, options: dict[str, Any]) -> FuzzConfig:
    return FuzzConfig(board, seed=seed, **option_values("fuzz", OPTIONS, options))
