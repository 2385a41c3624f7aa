"""The fuzz campaign's options: target, duration, corpus, coverage feedback and the share of inputs
whose checksums are repaired; each bad value is a UsageError naming it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sisctl import paths
from sisctl.campaign.fuzz.inputs import REPAIR_SHARE, TARGETS
from sisctl.errors import UsageError

OPTIONS = ("target", "duration", "corpus", "coverage", "checksum_repair", "stop_on", "minimize")
UNITS = {"s": 1, "m": 60, "h": 3600}


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

    @property
    def targets(self) -> list[str]:
        return list(TARGETS) if self.target == "all" else [self.target]

    def corpus_dir(self) -> Path:
        return Path(self.corpus) if self.corpus else paths.state_dir() / "fuzz-corpus"


def parse_duration(text: Any) -> float:
    """'90s', '10m', '1h' or plain seconds; UsageError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"--duration {text!r}: expected a positive duration such as 90s, 10m or 1h")
    return float(match.group(1)) * UNITS[match.group(2) or "s"]


def config_from_options(board: str, seed: int, options: dict[str, Any]) -> FuzzConfig:
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise UsageError(f"--{sorted(unknown)[0]} is not an option of fuzz campaigns "
                         "(they take --target, --duration, --corpus, --coverage, --checksum-repair, --stop-on, --minimize)")
    target = options.get("target", "all")
    if target not in (*TARGETS, "all"):
        raise UsageError(f"--target {target!r}: expected one of {', '.join(TARGETS)}, all")
    corpus = str(options.get("corpus") or "")
    if corpus and Path(corpus).exists() and not Path(corpus).is_dir():
        raise UsageError(f"--corpus {corpus}: not a folder")
    coverage = str(options.get("coverage") or "on")
    if coverage not in ("on", "off"):
        raise UsageError(f"--coverage {coverage!r}: expected on or off")
    minimize = str(options.get("minimize") or "on")
    if minimize not in ("on", "off"):
        raise UsageError(f"--minimize {minimize!r}: expected on or off")
    return FuzzConfig(board, target, parse_duration(options.get("duration", "10m")), seed,
                      str(Path(corpus).resolve()) if corpus else "", coverage=coverage,
                      checksum_repair=parse_share(options.get("checksum_repair")),
                      stop_on=str(options.get("stop_on") or ""), minimize=minimize)


def parse_share(text: Any) -> float:
    """--checksum-repair: a share from 0 to 1."""
    if text is None:
        return REPAIR_SHARE
    try:
        share = float(text)
    except (TypeError, ValueError):
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise UsageError(f"--checksum-repair {text!r}: expected a share from 0 to 1 (default {REPAIR_SHARE})")
    return share
