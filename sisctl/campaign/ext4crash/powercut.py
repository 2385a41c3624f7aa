"""The power-cut mode of the ext4-crash campaign: the plug pulled for real, on any board.

Each run: a session boots, proves the scratch device, restores the starting image onto it
(sisctl/campaign/ext4crash/onboard.py), starts the workload and cuts the power at a seeded moment
inside its ops (a real board through its power switch, a QEMU board by killing QEMU). A second
session boots the kernel again, which recovers the file system when it mounts it; the board
dumps it, runs e2fsck -fn and reads the persistence marks, and the host judges with the oracle.
"""
from __future__ import annotations

import json
import random
import time

from sisctl import paths
from sisctl.board.errors import BoardError
from sisctl.campaign.ext4crash.campaign import WORK, PendingState
from sisctl.campaign.ext4crash.guestfs import workload_script
from sisctl.campaign.ext4crash.onboard import OnBoardCampaign
from sisctl.campaign.ext4crash.ops import format_ops


class PowerCutCampaign(OnBoardCampaign):
    # --- a run ----------------------------------------------------------------------------------
    def _cut_window(self, scenario: str, ops) -> tuple[float, float]:
        """When the ops run, in seconds after the workload is sent: (begin, length). Measured once
        per scenario in a session of its own, from the guest's clock around the ops and the host's
        around the whole command (what is left is the way there and back over the console)."""
        begin, length = self._measured_once("cut-windows.json", scenario,
                                            lambda: self._measure_window(scenario, ops))
        return begin, length

    def _measure_window(self, scenario: str, ops) -> list[float]:
        with self._session(f"{scenario}-timing") as session:
            device = self._device(session)
            self._restore(session, device)
            result = session.run(workload_script(WORK, format_ops(ops), unmount=True, device=device,
                                                 timed=True), timeout_s=600)
        clock = {w[0]: int(w[1]) / 1e9 for w in (line.split() for line in result.text.splitlines())
                 if len(w) == 2 and w[0] in ("t0", "t1", "t2", "t3") and w[1].isdigit()}
        if not result.ok or len(clock) != 4:
            raise BoardError(self.board.name, f"timing the workload {scenario} failed: "
                             f"{(result.text + result.stderr.decode(errors='replace')).strip()[-300:]}")
        sent = max(0.0, result.duration_s - (clock["t3"] - clock["t0"]))   # there and back
        return [sent + clock["t1"] - clock["t0"], clock["t2"] - clock["t1"]]

    def _one_run(self, scenario: str, run: int) -> None:
        current = self._workload(scenario, run)
        state = PendingState(scenario, run, "power-cut", self.out / "runs" / f"{scenario}-{run}.cut")
        if state.key not in self.done:
            if not state.source.exists():   # else: cut before a kill, still to be checked
                self._cut_during_workload(scenario, run, current)
            self._check_after_cut(state)
        self._finish_run(scenario, run, [state.source])

    def _cut_during_workload(self, scenario: str, run: int, current) -> None:
        begin, length = self._cut_window(scenario, current.ops)
        delay = begin + random.Random(current.seed).uniform(0.0, 1.0) * length   # inside the ops
        with self._session(f"{scenario}-{run}") as session:
            device = self._device(session)
            self._restore(session, device)
            session.agent.start(workload_script(WORK, format_ops(current.ops), unmount=False, device=device),
                                timeout_s=600)
            time.sleep(delay)
            with self.phases("power cut"):
                session.power_cut()
        paths.write_atomic(self.out / "runs" / f"{scenario}-{run}.cut", json.dumps({"after_s": round(delay, 3)}))
        self.progress(f"{scenario} run {run}: power cut {delay:.2f} s into the workload")

    def _check_after_cut(self, state: PendingState) -> None:
        cut = json.loads(state.source.read_text())
        with self._session(f"{state.scenario}-{state.run}-recovery") as session:
            device = self._device(session)   # proven again: after a power cycle devices may be found anew
            self._check_on_board(session, device, state, {"boot_s": round(session.boot_s, 3),
                                                          "boot_mode": session.boot_mode,
                                                          "cut_after_s": cut.get("after_s")})
