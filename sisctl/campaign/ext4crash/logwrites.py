"""The log-writes mode of the ext4-crash campaign: the kernel's own write log, kept on the board.

Each run, in one session: the workload runs on device-mapper's log-writes target over the scratch
device, which records every write, flush and FUA onto the log device. The board lists the log's
entries (not their data); the host picks the crash states as the powerloss mode does from QEMU's
log (the prefix to each flush, plus states that lose some unflushed writes), and for each the board
restores the starting image, replays the log up to that state onto the scratch device, then
recovers, dumps and checks it there (sisctl/campaign/ext4crash/onboard.py). No image travels.
"""
from __future__ import annotations

import random
import shlex
from pathlib import Path

from sisctl.board.board import BoardSession
from sisctl.board.errors import BoardError
from sisctl.campaign.ext4crash import blocklog
from sisctl.campaign.ext4crash.campaign import PendingState
from sisctl.campaign.ext4crash.disk import DISK_BYTES
from sisctl.campaign.ext4crash.onboard import MIB, OnBoardCampaign
from sisctl.errors import UsageError

MAPPED = "sisctl-lw"


class LogWritesCampaign(OnBoardCampaign):
    ROLES = {"scratch": 2 * DISK_BYTES, "log": 16 * MIB}

    def _one_run(self, scenario: str, run: int) -> None:
        current = self._workload(scenario, run)
        with self._session(f"{scenario}-{run}") as session:
            devices = self._devices(session)
            device, log = devices["scratch"], devices["log"]
            self._restore(session, device)
            with self.phases("workload", guest=True):
                self._logged_workload(session, device, log, scenario, run, current.ops)
            with self.phases("write log read"):
                listing = self._on_board(session, f"sisagent log-entries {shlex.quote(log)}", "listing the write log")
                try:
                    written = parse_entries(listing, Path(log))
                except ValueError as err:
                    raise BoardError(self.board.name, f"{scenario} run {run}: {err}") from None
            with self.phases("crash states chosen"):
                states = blocklog.prefix_states(written) + blocklog.reorder_states(
                    written, random.Random(current.seed), self.config.reorder_per_epoch)
            for chosen in states:
                state = PendingState(scenario, run, chosen.name, Path(log), chosen.upto, sorted(chosen.dropped))
                if state.key in self.done:
                    continue
                self.ctx.check_stop()
                self._restore(session, device)
                with self.phases("image from write log"):
                    self._on_board(session, f"sisagent log-replay {shlex.quote(log)} {shlex.quote(device)} "
                                            f"{state.upto} {','.join(map(str, state.dropped)) or '-'}",
                                   f"rebuilding {state.key} from the write log")
                self._check_on_board(session, device, state, {"log_entries": len(written.entries)})
        self._finish_run(scenario, run, [])

    def _logged_workload(self, session: BoardSession, device: str, log: str, scenario: str, run: int, ops) -> None:
        self._on_board(session, f"dd if=/dev/zero of={shlex.quote(log)} bs=4096 count=1 conv=fsync 2>&1",
                       "clearing the write log")   # a stale log must never read as this run's
        started = session.run(f"sisagent logwrites {MAPPED} {shlex.quote(device)} {shlex.quote(log)}", timeout_s=60)
        if not started.ok:
            raise UsageError(f"{self.board.name}: the kernel could not put device-mapper's log-writes target over "
                             f"{device} ({started.stderr.decode(errors='replace').strip()[-200:]}): it needs "
                             "CONFIG_DM_LOG_WRITES, or dm_log_writes in the board's boot.modules")
        try:
            self._run_workload(session, ops, scenario, run, started.text.strip())
        finally:
            self._on_board(session, f"sisagent logwrites-end {MAPPED}", "ending the write log")


def parse_entries(text: str, path: Path) -> blocklog.BlockLog:
    """The board's listing of a log (`sisagent log-entries`), without the mark that ends it; a log
    without that mark is incomplete (ValueError)."""
    lines = [line.split() for line in text.splitlines()]
    supers = [words for words in lines if len(words) == 3 and words[0] == "super"]
    if not supers or not all(w.isdigit() for w in supers[0][1:]):
        raise ValueError(f"no log super in the board's listing: {text[:200]!r}")
    claimed, sectorsize = int(supers[0][1]), int(supers[0][2])
    entries = [blocklog.Entry(int(w[1]), int(w[2]), int(w[3]), int(w[4]), int(w[5])) for w in lines
               if len(w) == 6 and w[0] == "e" and all(x.isdigit() for x in w[1:])]
    if len(entries) != claimed or [e.index for e in entries] != list(range(claimed)):
        raise ValueError(f"the board listed {len(entries)} of the log's {claimed} entries")
    if not entries or not entries[-1].flags & blocklog.MARK or entries[-1].changes_disk:
        raise ValueError(f"the write log on {path} lacks its end mark after {len(entries)} entries: the log "
                         "device filled up (dm-log-writes then stops logging) or logging failed")
    return blocklog.BlockLog(path, sectorsize, claimed, entries[:-1])
