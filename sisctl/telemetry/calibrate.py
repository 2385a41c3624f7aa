"""Calibrate a board's power model against a real meter: read watts while the board idles and
while it is busy, and fit P = idle_w + cpu_w * utilisation by least squares."""
from __future__ import annotations

import statistics
import time
from typing import Callable

from sisctl.telemetry.power import PowerError

BUSY = "end=$(( $(date +%s) + {s} )); while [ $(date +%s) -lt $end ]; do :; done"


def fit_linear(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """(idle_w, cpu_w) from (utilisation, watts) samples."""
    utils = [u for u, _ in samples]
    if len(samples) < 2 or max(utils) - min(utils) < 0.2:
        raise PowerError("calibration needs readings at clearly different loads (idle and busy)")
    slope, intercept = statistics.linear_regression(utils, [w for _, w in samples])
    return intercept, slope


def calibrate(read_watts: Callable[[], float], start_busy: Callable[[float], None],
              wait_idle: Callable[[float], None], seconds: float = 10.0, every_s: float = 1.0) -> tuple[float, float]:
    """Sample the meter over an idle and a busy phase of `seconds` each.

    `start_busy(s)` starts s seconds of full load on the board and returns at once; `wait_idle(s)`
    keeps it idle that long. Readings come from a host-side meter (tasmota, http)."""
    samples: list[tuple[float, float]] = []
    for utilisation, phase in ((0.0, wait_idle), (1.0, start_busy)):
        phase(seconds)
        deadline = time.monotonic() + seconds
        time.sleep(min(every_s, seconds / 4))   # let the load settle
        while time.monotonic() < deadline - every_s / 2:
            samples.append((utilisation, read_watts()))
            time.sleep(every_s)
    return fit_linear(samples)
