"""lab/lab.yaml: where telemetry goes, the embedded database 'invoke lab.up' runs, the fleet's
coordinator and the lab hosts boards may be attached to."""
from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from sisctl import config, paths
from sisctl.fleet.config import CoordinatorSpec, LabHostSpec
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
    hosts: dict[str, LabHostSpec] = field(default_factory=dict)   # other lab hosts, reached over SSH


def lab_file() -> Path:
    return Path(os.environ.get("SISCTL_LAB") or paths.PROJECT / "lab" / "lab.yaml")


def load_lab() -> LabSpec:
    path = lab_file()
    lab = config.load(LabSpec, path)
    for name, host in lab.hosts.items():
        _check_host(path, name, host)
    return lab


ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_host(path: Path, name: str, host: LabHostSpec) -> None:
    """What the types alone do not say: names, absolute paths, variable names."""
    key = f"hosts.{name}"
    if not config.name_ok(name):
        raise config.ConfigError(path, key, "a lab host name is letters, digits, '.', '_' and '-'")
    if not host.address.strip() or any(c.isspace() for c in host.address):
        raise config.ConfigError(path, f"{key}.address", f"expected a host name or address, got {host.address!r}")
    if not posixpath.isabs(host.checkout):
        raise config.ConfigError(path, f"{key}.checkout", f"expected an absolute path on {name}, got {host.checkout!r}")
    if host.boards and not posixpath.isabs(host.boards):
        raise config.ConfigError(path, f"{key}.boards", f"expected an absolute path on {name}, got {host.boards!r}")
    if not host.command or not all(word.strip() for word in host.command):
        raise config.ConfigError(path, f"{key}.command", "expected the sisctl command on that host as a "
                                 "non-empty list of words, e.g. [.venv/bin/invoke]")
    for variable in host.env:
        if not ENV_NAME.fullmatch(variable):
            raise config.ConfigError(path, f"{key}.env.{variable}", "not an environment variable name")
    for option in ("key_env", "password_env"):
        value = getattr(host, option)
        if value and not ENV_NAME.fullmatch(value):
            raise config.ConfigError(path, f"{key}.{option}", f"expected an environment variable name, got {value!r}")


def embedded_tsdb(lab: LabSpec) -> EmbeddedTsdb:
    return EmbeddedTsdb(lab.embedded.listen, paths.state_dir() / "tsdb", lab.embedded.binary)


def send_points(points: list, wait_s: float = 2.0) -> tuple[int, str, str]:
    """Send `points` to the lab's database through a sink of their own, waiting up to `wait_s` for
    the database to take them: (points it has not taken, the last error, the database's URL). The
    points not taken stay in the telemetry spool and go with the next sink that runs."""
    lab = load_lab()
    sink = open_sink(lab)
    try:
        sink.write(points)
        sink.drain(wait_s)
        return sink.unsent(), sink.last_error or "", lab.tsdb.url
    finally:
        sink.close(drain_s=0)


def open_sink(lab: LabSpec) -> TelemetrySink:
    t = lab.tsdb
    return TelemetrySink(SinkConfig(t.url, t.org, t.bucket, token_from(t.token_env, t.token_file), t.timeout_s,
                                    t.durable_after_s),
                         paths.state_dir() / "telemetry-spool")
