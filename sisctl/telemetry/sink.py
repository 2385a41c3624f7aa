"""Write points to InfluxDB's v2 API (or anything that speaks it) through the on-disk spool.

`write()` only appends to the spool, so a slow or absent database never blocks a campaign; a
background thread sends the spool in order, in batches, retrying with back-off until it lands.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from influxdb_client import InfluxDBClient, Point
from influxdb_client.client.write_api import SYNCHRONOUS

from sisctl.telemetry.spool import Spool

BATCH = 1000


@dataclass
class SinkConfig:
    url: str
    org: str
    bucket: str
    token: str = ""
    timeout_s: float = 2.0


def token_from(env: str, secret_file: str | None) -> str:
    """The token comes from the environment or a secret file, never from committed YAML."""
    if os.environ.get(env):
        return os.environ[env]
    if secret_file and Path(os.path.expanduser(secret_file)).exists():
        return Path(os.path.expanduser(secret_file)).read_text().strip()
    return ""


class TelemetrySink:
    def __init__(self, config: SinkConfig, spool_dir: Path):
        self.config, self.spool = config, Spool(spool_dir)
        self.last_success: float | None = None
        self.last_error = ""
        self._client = InfluxDBClient(url=config.url, token=config.token or "none", org=config.org,
                                      timeout=int(config.timeout_s * 1000))
        self._api = self._client.write_api(write_options=SYNCHRONOUS)
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._send_loop, name="telemetry", daemon=True)
        self._thread.start()

    def write(self, points: list[Point | str]) -> None:
        self.spool.append([p if isinstance(p, str) else p.to_line_protocol() for p in points])
        self._wake.set()

    def _send_once(self) -> bool:
        """Send one batch; True if the spool is empty afterwards."""
        lines, end = self.spool.pending(BATCH)
        if not lines:
            return True
        try:
            self._api.write(bucket=self.config.bucket, org=self.config.org, record="\n".join(lines))
        except Exception as err:  # noqa: BLE001 - any failure means: keep it spooled, try later
            self.last_error = f"{type(err).__name__}: {str(err)[:200]}"
            return False
        self.spool.mark_sent(end)
        self.last_success, self.last_error = time.time(), ""
        return False

    def _send_loop(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            empty = self._send_once()
            if empty:
                backoff = 0.1
                self._wake.wait(1.0)
                self._wake.clear()
            elif self.last_error:
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def drain(self, timeout_s: float) -> bool:
        """Wait until the spool is empty (or the timeout); True if everything was delivered."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.spool.depth() == 0:
                return True
            self._wake.set()
            time.sleep(0.05)
        return self.spool.depth() == 0

    def status(self) -> dict:
        return {"url": self.config.url, "spool_depth": self.spool.depth(),
                "last_success": self.last_success, "last_error": self.last_error}

    def close(self, drain_s: float = 5.0) -> None:
        self.drain(drain_s)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=self.config.timeout_s + 2)
        self._client.close()
