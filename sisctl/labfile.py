"""lab/lab.yaml: where telemetry goes, the embedded database 'invoke lab.up' runs, the fleet's
coordinator and the lab hosts boards may be attached to. The schema only: every floor reads it."""
from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from sisctl import config, paths
from sisctl.config import EnvName, HostPort, HostPortOrNone, HttpUrl, HttpUrlOrNone, Seconds, SecretPath, between


@dataclass
class TsdbSpec:
    url: HttpUrl = "http://127.0.0.1:8428"
    org: str = "sisctl"
    bucket: str = "sisctl"
    token_env: EnvName = "SISCTL_INFLUX_TOKEN"
    token_file: SecretPath | None = None
    timeout_s: Seconds = 2.0
    durable_after_s: Seconds = 10.0   # a point is sent again this long after it was first acknowledged


@dataclass
class EmbeddedSpec:
    binary: str = "victoria-metrics"
    listen: HostPort = "127.0.0.1:8428"


@dataclass
class GrafanaSpec:
    url: HttpUrlOrNone = ""                         # e.g. http://grafana.lab:3000; "" = reports link no board
    campaign_board: str = "sisctl-campaign-results-prom"   # uid of the campaign-results board to link


@dataclass
class CoordinatorSpec:
    address: HostPortOrNone = ""          # a lab's coordinator (host:port); '' : the embedded one while it runs
    listen: HostPort = "127.0.0.1:20408"  # where 'invoke lab.up' runs the embedded coordinator
    lease_s: Seconds = 60.0               # a holder silent this long loses its board to the reaper
    wait_s: Seconds = 1800.0              # default wait for a busy board (--wait / SISCTL_WAIT)
    poll_s: Seconds = 0.25                # how often a waiter polls its reservation
    health_every_jobs: Annotated[int, between(1, None)] = 50   # a health check after this many jobs...
    health_every_hours: Seconds = 24.0    # ...or this long since the last one
    connect_timeout_s: Seconds = 5.0


@dataclass
class LabHostSpec:
    """A lab host of lab/lab.yaml `hosts:`: boards whose `lab.host` names it are driven by running
    sisctl there over SSH (sisctl/fleet/remote.py). No secrets here: the private key's path comes
    from the environment variable `key_env` or from `secret_file`, a password from `password_env`."""
    address: str                                  # host name or IP the controller reaches it at
    checkout: str                                 # absolute path of the sisctl checkout on that host
    user: str = "sisctl"
    port: Annotated[int, between(1, 65535)] = 22
    known_hosts: str = "~/.ssh/known_hosts"       # its host key must be there: unknown or changed keys are refused
    command: list[str] = field(default_factory=lambda: [".venv/bin/invoke"])   # sisctl, relative to checkout
    boards: str = ""                 # folder of board files on that host; '' : the checkout's boards/
    env: dict[str, str] = field(default_factory=dict)   # environment of sisctl there (SISCTL_STATE, ...)
    key_env: EnvName = "SISCTL_LAB_SSH_KEY"           # variable holding the private key's path
    password_env: EnvName = ""                        # variable holding a password or the key's passphrase
    secret_file: SecretPath | None = None            # YAML with key_file: and/or password:, outside the repo
    connect_timeout_s: Seconds = 10.0


@dataclass
class WebhookSpec:
    url: HttpUrlOrNone = ""                    # '' : none; a plan run with new failures POSTs JSON here
    token_env: EnvName = "SISCTL_NOTIFY_TOKEN"     # sent as 'Authorization: Bearer ...' when the variable is set
    timeout_s: Seconds = 10.0


@dataclass
class EmailSpec:
    to: list[str] = field(default_factory=list)   # none : no e-mail
    sender: str = "sisctl@localhost"
    smtp: HostPort = "127.0.0.1:25"            # host:port of the lab's mail relay
    starttls: bool = False
    user_env: EnvName = ""                         # variables holding the relay's login, when it wants one
    password_env: EnvName = ""
    timeout_s: Seconds = 10.0


@dataclass
class NotifySpec:
    """Who hears of a plan run's new failures (sisctl/report/notify.py)."""
    webhook: WebhookSpec = field(default_factory=WebhookSpec)
    email: EmailSpec = field(default_factory=EmailSpec)
    reports_url: HttpUrlOrNone = ""          # where the reports folder is served, for links ('' : file paths)


@dataclass
class LabSpec:
    tsdb: TsdbSpec = field(default_factory=TsdbSpec)
    embedded: EmbeddedSpec = field(default_factory=EmbeddedSpec)
    coordinator: CoordinatorSpec = field(default_factory=CoordinatorSpec)   # the fleet (sisctl/fleet)
    grafana: GrafanaSpec = field(default_factory=GrafanaSpec)
    hosts: dict[str, LabHostSpec] = field(default_factory=dict)   # other lab hosts, reached over SSH
    notify: NotifySpec = field(default_factory=NotifySpec)


def lab_file() -> Path:
    return Path(os.environ.get("SISCTL_LAB") or paths.PROJECT / "lab" / "lab.yaml")


def load_lab() -> LabSpec:
    path = lab_file()
    lab = config.load(LabSpec, path)
    for name, host in lab.hosts.items():
        _check_host(path, name, host)
    return lab


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
        if not re.fullmatch(config.ENV_NAME, variable):
            raise config.ConfigError(path, f"{key}.env.{variable}", "not an environment variable name")

