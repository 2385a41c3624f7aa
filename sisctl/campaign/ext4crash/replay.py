"""Rebuild one recorded crash state and check it again (a record's `reproduce` command)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from sisctl.campaign.core.records import read_records
from sisctl.campaign.core.runner import campaign_dir, load_campaign
from sisctl.campaign.ext4crash.campaign import Ext4CrashCampaign, PendingState
from sisctl.campaign.ext4crash.options import ON_BOARD_MODES
from sisctl.errors import UsageError
from sisctl.jobs.boards import held_board


def replay(campaign: str, state_key: str, progress: Callable[[str], None] = print) -> dict:
    """Returns the new record of the state."""
    out = campaign_dir(campaign)
    kind, cfg = load_campaign(out)
    if kind.name != "ext4-crash":
        raise UsageError(f"{out}: a {kind.name} campaign; replay rebuilds ext4-crash states")
    original = next((r for r in read_records(out / "records.jsonl") if r.get("state_key") == state_key), None)
    if original is None:
        raise UsageError(f"{out / 'records.jsonl'}: no record for state {state_key!r}")
    if original.get("mode") in ON_BOARD_MODES:
        why = ("the cut moment is seeded, what the device had written by then is not" if original["mode"] == "power-cut"
               else "its workloads are seeded; the write log it replays is the kernel's, kept on the board")
        raise UsageError(f"{state_key}: a {original['mode']} state lived on the board's scratch device only until the "
                         f"next run restored it, so it cannot be rebuilt; run the campaign again with its seed ({why})")
    try:
        scenario, run, point = original["scenario"], original["run"], original["crash_point"]
        source, base = Path(point["source"]), Path(point["base"])
        rebuilt = PendingState(scenario, run, point["state"], source, point["log_entries"], point["dropped"])
    except (KeyError, TypeError) as err:
        raise UsageError(f"{out / 'records.jsonl'}: the record of state {state_key!r} is not a whole state "
                         f"record ({type(err).__name__}: {err})") from None
    if not source.exists():
        raise UsageError(f"{source}: the run's log/image was not kept (runs that pass keep nothing "
                         "unless the campaign keeps all)")
    replay_out = out / "replays" / f"{state_key.replace('/', '-')}-{time.strftime('%H%M%S')}"
    replay_out.mkdir(parents=True)
    board = original.get("board") or cfg.board    # a sharded campaign's state replays on the board that found it
    with Ext4CrashCampaign.direct(held_board(board), cfg, replay_out, progress, base=base) as campaign:
        campaign.pending = [rebuilt]
        campaign.run_checks_only()
    record = next(r for r in read_records(replay_out / "records.jsonl") if r.get("type") == "state")
    progress(f"{state_key}: was {original['outcome']}, now {record['outcome']}"
             + "".join(f"\n  {v['kind']} {v['path']}: {v['guarantee']} ({v['detail']})" for v in record["violations"]))
    return record
