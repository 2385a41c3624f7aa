"""Power readings, one small reader per meter model (`model:` in a board's power_meter section).

- estimate: the linear model P = idle_w + cpu_w * utilisation + mem_w_per_gbps * memory GB/s,
  with per-board coefficients; always tagged estimated=true, never mistaken for a measurement.
- tasmota: a Tasmota smart plug's `Status 8` JSON (StatusSNS.ENERGY.Power, watts).
- http: any meter or PDU that answers JSON; `json_path` says where the watts are.
- hwmon: an INA219/INA226-style sensor in sysfs (power1_input, microwatts), read through a
  command runner (the board's agent, or SSH on a lab host).
"""
from __future__ import annotations

import http.client
import json
import shlex
import time
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Callable, Literal

if TYPE_CHECKING:
    from influxdb_client import Point

from sisctl.config import Seconds, between
from sisctl.errors import InfrastructureError
from sisctl.telemetry.points import make_point


class PowerError(InfrastructureError):
    pass


@dataclass
class PowerMeterSpec:
    """Where a board's power readings come from (sisctl/telemetry/power.py)."""
    model: Literal["estimate", "tasmota", "http", "hwmon"] = "estimate"
    url: str = ""                       # tasmota / http
    json_path: str = "power"            # http: dotted path to the watts in the JSON reply
    hwmon_path: str = "/sys/class/hwmon/hwmon0/power1_input"
    timeout_s: Seconds = 3.0
    idle_w: Annotated[float, between(0)] = 2.7   # estimate: P = idle_w + cpu_w * util + mem_w_per_gbps * GB/s
    cpu_w: Annotated[float, between(0)] = 3.7
    mem_w_per_gbps: Annotated[float, between(0)] = 0.3


@dataclass(frozen=True)
class PowerReading:
    watts: float
    source: str
    estimated: bool

    def point(self, board: str, time_ns: int | None = None) -> Point:
        return make_point("power", {"board": board, "source": self.source,
                                    "estimated": str(self.estimated).lower()},
                          {"watts": self.watts}, time_ns or time.time_ns())


def estimate(spec: PowerMeterSpec, utilisation: float, mem_gbps: float = 0.0) -> PowerReading:
    if not 0.0 <= utilisation <= 1.0:
        raise PowerError(f"utilisation {utilisation} is outside 0..1")
    return PowerReading(spec.idle_w + spec.cpu_w * utilisation + spec.mem_w_per_gbps * mem_gbps, "estimate", True)


def _get_json(url: str, timeout_s: float) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:
            return json.loads(reply.read())
    except (OSError, ValueError, http.client.HTTPException) as err:
        raise PowerError(f"power meter {url} did not answer with JSON within {timeout_s:g} s: {err}") from None


def _dig(data: dict, path: str, url: str) -> float:
    value = data
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise PowerError(f"{url}: no '{path}' in the meter's reply")
        value = value[key]
    return float(value)


def tasmota(spec: PowerMeterSpec) -> PowerReading:
    url = f"{spec.url.rstrip('/')}/cm?cmnd=Status%208"
    return PowerReading(_dig(_get_json(url, spec.timeout_s), "StatusSNS.ENERGY.Power", url), "tasmota", False)


def http_json(spec: PowerMeterSpec) -> PowerReading:
    return PowerReading(_dig(_get_json(spec.url, spec.timeout_s), spec.json_path, spec.url), "http", False)


def hwmon(spec: PowerMeterSpec, run: Callable[[str], str]) -> PowerReading:
    """`run` executes a shell command where the sensor is and returns its output."""
    text = run(f"cat {shlex.quote(spec.hwmon_path)}").strip()
    try:
        return PowerReading(int(text) / 1e6, "hwmon", False)
    except ValueError:
        raise PowerError(f"{spec.hwmon_path}: expected microwatts, read {text[:80]!r}") from None


def read_power(spec: PowerMeterSpec, run: Callable[[str], str] | None = None,
               utilisation: float | None = None) -> PowerReading:
    if spec.model == "estimate":
        if utilisation is None:
            raise PowerError("the estimate model needs the CPU utilisation of the interval")
        return estimate(spec, utilisation)
    if spec.model == "tasmota":
        return tasmota(spec)
    if spec.model == "http":
        return http_json(spec)
    if run is None:
        raise PowerError("the hwmon model needs a way to run a command on the sensor's host")
    return hwmon(spec, run)


def estimate_from_pmu(spec: PowerMeterSpec, task_clock_ns: int, wall_s: float) -> PowerReading:
    """The model's estimate for a workload whose CPU time (PMU task-clock) and wall time are known."""
    return estimate(spec, min(1.0, task_clock_ns / max(1.0, wall_s * 1e9)))
