"""Start, resume and replay campaigns; the invoke tasks call these."""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from sisctl import config, paths
from sisctl.board.board import Board
from sisctl.board.spec import find_board
from sisctl.campaign.ext4crash import CampaignConfig, Ext4CrashCampaign, PendingState
from sisctl.campaign.records import read_records
from sisctl.campaign.fsworkloads import SCENARIOS
from sisctl.campaign.summary import terminal_summary, write_reports
from sisctl.telemetry.lab import load_lab, open_sink
from sisctl.telemetry.points import campaign_point

KINDS = ("ext4-crash",)


def scenario_names(choice: str) -> list[str]:
    if choice == "all":
        return list(SCENARIOS)
    names = [n.strip() for n in choice.split(",") if n.strip()]
    for name in names:
        if name not in SCENARIOS and not name.startswith("generated-"):
            raise config.ConfigError("--scenario", name, f"unknown scenario; known: {', '.join(SCENARIOS)}, "
                                     "generated-N (N = 1..3 operations)")
    return names


def start(kind: str, board: str, scenario: str, mode: str, runs: int, seed: int,
          progress: Callable[[str], None] = print) -> dict:
    if kind not in KINDS:
        raise config.ConfigError("--kind", kind, f"unknown campaign kind; known: {', '.join(KINDS)}")
    if mode not in ("powerloss", "reset"):
        raise config.ConfigError("--mode", mode, "expected 'powerloss' or 'reset'")
    cfg = CampaignConfig(board, scenario_names(scenario), mode, runs, seed)
    out = paths.unique_dir(paths.reports_dir(), f"{kind}-{mode}-{time.strftime('%Y%m%d-%H%M%S')}")
    (out / "campaign.json").write_text(json.dumps({"kind": kind, **asdict(cfg)}, indent=1) + "\n")
    return _run(cfg, out, progress)


def resume(campaign: str, progress: Callable[[str], None] = print) -> dict:
    out = _campaign_dir(campaign)
    return _run(_load_config(out), out, progress)


def _load_config(out: Path) -> CampaignConfig:
    data = json.loads((out / "campaign.json").read_text())
    data.pop("kind", None)
    return CampaignConfig(**data)


def _campaign_dir(campaign: str) -> Path:
    out = Path(campaign)
    if not (out / "campaign.json").exists():
        out = paths.reports_dir() / campaign
    if not (out / "campaign.json").exists():
        raise config.ConfigError(campaign, "", "no campaign there (campaign.json missing)")
    return out


def _run(cfg: CampaignConfig, out: Path, progress: Callable[[str], None]) -> dict:
    board = Board(find_board(cfg.board))
    sink = open_sink(load_lab())   # spooled: a missing or slow database never stops the campaign
    campaign = Ext4CrashCampaign(board, cfg, out, progress, on_record=lambda record: sink.write(
        [campaign_point(record, board.name, out.name, cfg.mode, time.time_ns())]))
    started = time.monotonic()
    try:
        campaign.run()
    finally:
        sink.close(drain_s=2)
        elapsed = time.monotonic() - started
        records = list(read_records(out / "records.jsonl"))
        summary = write_reports(out, records, {
            "campaign": out.name, "report": str(out), "mode": cfg.mode, "seed": cfg.seed,
            "elapsed_s": round(elapsed, 1),
            "states_per_minute": round(campaign.checked / elapsed * 60, 1) if elapsed else None,
            "provenance": campaign.origin})
    progress("\n" + terminal_summary(summary))
    return summary


def replay(campaign: str, state_key: str, progress: Callable[[str], None] = print) -> dict:
    """Rebuild one recorded crash state and check it again; returns the new record."""
    out = _campaign_dir(campaign)
    cfg = _load_config(out)
    original = next((r for r in read_records(out / "records.jsonl") if r.get("state_key") == state_key), None)
    if original is None:
        raise config.ConfigError(out / "records.jsonl", state_key, "no record for this state")
    scenario, run, point = original["scenario"], original["run"], original["crash_point"]
    source = Path(point["source"])
    if not source.exists():
        raise config.ConfigError(source, "", "the run's log/image was not kept (runs that pass keep "
                                 "nothing unless the campaign keeps all)")
    replay_out = out / "replays" / f"{state_key.replace('/', '-')}-{time.strftime('%H%M%S')}"
    replay_out.mkdir(parents=True)
    campaign = Ext4CrashCampaign(Board(find_board(cfg.board)), cfg, replay_out, progress, base=Path(point["base"]))
    campaign.pending = [PendingState(scenario, run, point["state"], source, point["log_entries"], point["dropped"])]
    campaign.run_checks_only()
    record = next(r for r in read_records(replay_out / "records.jsonl") if r.get("type") == "state")
    progress(f"{state_key}: was {original['outcome']}, now {record['outcome']}"
             + "".join(f"\n  {v['kind']} {v['path']}: {v['guarantee']} ({v['detail']})" for v in record["violations"]))
    return record
