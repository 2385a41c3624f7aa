"""Write points to InfluxDB's v2 API (or anything that speaks it) through the on-disk spool.

`write()` only appends to the spool, so a slow or absent database never blocks a campaign; a
background thread sends the spool in order, in batches, retrying with back-off until it lands.

An acknowledged write is not yet a durable one: a database killed by SIGKILL loses what it had
buffered (VictoriaMetrics flushes to disk every few seconds). So lines stay in the spool after
their first acknowledgement; `durable_after_s` later they are sent once more, and only that second
acknowledgement lets the spool forget them. A failed send rewinds to the last forgotten line. A
line sent twice overwrites itself (same series and timestamp: InfluxDB's rule, and the embedded
database's deduplication), so counts stay exact.
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
    durable_after_s: float = 10.0    # longer than the database may hold acknowledged points in memory


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
        self._cursor = self.spool.sent()             # sent once up to here (this process only)
        self._acked: list[tuple[int, float]] = []    # (end offset, monotonic time) of first acknowledgements
        self._client = InfluxDBClient(url=config.url, token=config.token or "none", org=config.org,
                                      timeout=int(config.timeout_s * 1000))
        self._api = self._client.write_api(write_options=SYNCHRONOUS)
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._send_loop, name="telemetry", daemon=True)
        self._thread.start()

    def write(self, points: list[Point | str]) -> None:
        self.spool.append([p if isinstance(p, str) else p.to_line_protocol() for p in points])
        self._wake.set()

    def _send(self, lines: list[str]) -> bool:
        try:
            self._api.write(bucket=self.config.bucket, org=self.config.org, record="\n".join(lines))
        except Exception as err:  # noqa: BLE001 - any failure means: keep it spooled, try later
            self.last_error = f"{type(err).__name__}: {str(err)[:200]}"
            self._cursor, self._acked = self.spool.sent(), []   # all not surely durable goes again
            return False
        self.last_success, self.last_error = time.time(), ""
        return True

    def _send_once(self) -> bool:
        """Confirm one ripe batch or send one new batch; True if nothing is waiting to be sent now."""
        ripe = [end for end, at in self._acked if time.monotonic() - at >= self.config.durable_after_s]
        if ripe:
            lines, end = self.spool.pending(BATCH, stop=ripe[-1])
            if lines and not self._send(lines):
                return False
            self._acked = [(e, at) for e, at in self._acked if e > end]
            if self.spool.mark_sent(end):
                self._cursor, self._acked = 0, []
            return False
        lines, end = self.spool.pending(BATCH, start=self._cursor)
        if not lines:
            return True
        if self._send(lines):
            self._cursor = end
            self._acked.append((end, time.monotonic()))
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

    def unsent(self) -> int:
        """Lines not yet acknowledged even once."""
        return len(self.spool.pending(max_lines=-1, start=self._cursor)[0])

    def drain(self, timeout_s: float, durable: bool = False) -> bool:
        """Wait until every line was acknowledged (with `durable`: acknowledged twice and forgotten);
        True if so within the timeout. Lines not yet confirmed stay spooled for the next sink."""
        deadline = time.monotonic() + timeout_s
        waiting = self.spool.depth if durable else self.unsent
        while time.monotonic() < deadline:
            if waiting() == 0:
                return True
            self._wake.set()
            time.sleep(0.05)
        return waiting() == 0

    def status(self) -> dict:
        return {"url": self.config.url, "spool_depth": self.unsent(),
                "awaiting_confirmation": self.spool.depth() - self.unsent(),
                "last_success": self.last_success, "last_error": self.last_error}

    def close(self, drain_s: float = 5.0) -> None:
        self.drain(drain_s)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=self.config.timeout_s + 2)
        self._client.close()
