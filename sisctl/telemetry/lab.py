"""lab/lab.yaml: where telemetry goes, and the embedded database 'invoke lab.up' runs."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sisctl import config, paths
from sisctl.fleet.config import CoordinatorSpec
from sisctl.config import Seconds
from sisctl.telemetry.sink import SinkConfig, TelemetrySink, token_from
from sisctl.telemetry.tsdb import EmbeddedTsdb


@dataclass
class TsdbSpec:
    url: str = "http://127.0.0.1:8428"
    org: str = "sisctl"
    bucket: str = "sisctl"
    token_env: str = "SISCTL_INFLUX_TOKEN"
    token_file: str | None = None
    timeout_s: Seconds = 2.0
    durable_after_s: Seconds = 10.0   # a point is sent again this long after it was first acknowledged


@dataclass
class EmbeddedSpec:
    binary: str = "victoria-metrics"
    listen: str = "127.0.0.1:8428"


@dataclass
class GrafanaSpec:
    url: str = ""                                   # e.g. http://grafana.lab:3000; "" = reports link no board
    campaign_board: str = "sisctl-campaign-results-prom"   # uid of the campaign-results board to link


@dataclass
class LabSpec:
    tsdb: TsdbSpec = field(default_factory=TsdbSpec)
    embedded: EmbeddedSpec = field(default_factory=EmbeddedSpec)
    coordinator: CoordinatorSpec = field(default_factory=CoordinatorSpec)   # the fleet (sisctl/fleet)
    grafana: GrafanaSpec = field(default_factory=GrafanaSpec)


def lab_file() -> Path:
    return Path(os.environ.get("SISCTL_LAB") or paths.PROJECT / "lab" / "lab.yaml")


def load_lab() -> LabSpec:
    return config.load(LabSpec, lab_file())


def embedded_tsdb(lab: LabSpec) -> EmbeddedTsdb:
    return EmbeddedTsdb(lab.embedded.listen, paths.state_dir() / "tsdb", lab.embedded.binary)


def open_sink(lab: LabSpec) -> TelemetrySink:
    t = lab.tsdb
    return TelemetrySink(SinkConfig(t.url, t.org, t.bucket, token_from(t.token_env, t.token_file), t.timeout_s,
                                    t.durable_after_s),
                         paths.state_dir() / "telemetry-spool")
