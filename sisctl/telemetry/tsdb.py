"""The embedded lab database: Debian's VictoriaMetrics, which accepts InfluxDB line protocol on
/api/v2/write, on loopback, with its data under the lab's state folder."""
from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from sisctl.errors import InfrastructureError
from sisctl.portholder import port_holder
from sisctl.services import running_pid, stop_service


class TsdbError(InfrastructureError):
    pass


class EmbeddedTsdb:
    def __init__(self, listen: str, data_dir: Path, binary: str = "victoria-metrics"):
        self.listen, self.data_dir, self.binary = listen, data_dir, binary
        self.pid_file = data_dir / "tsdb.pid"

    @property
    def url(self) -> str:
        return f"http://{self.listen}"

    def pid(self) -> int | None:
        """The running database's pid, if the pid file names a live victoria-metrics."""
        return running_pid(self.pid_file, self._program)

    @property
    def _program(self) -> str:
        return self.binary.rsplit("/", 1)[-1]

    def start(self, timeout_s: float = 20.0) -> int:
        if (pid := self.pid()) is not None:
            return pid
        host, _, port = self.listen.rpartition(":")
        if holder := port_holder(host, int(port)):   # its answers to the health check would not be ours
            raise TsdbError(f"{self.listen} is already in use by {holder}; stop it, or give the lab "
                            "database another address (embedded.listen in lab/lab.yaml)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [self.binary, f"-httpListenAddr={self.listen}", f"-storageDataPath={self.data_dir / 'data'}",
                "-dedup.minScrapeInterval=1ms", "-search.latencyOffset=0s", "-loggerLevel=ERROR"]
        try:
            with open(self.data_dir / "tsdb.log", "ab") as log:
                process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                           start_new_session=True)
        except FileNotFoundError:
            raise TsdbError(f"{self.binary} not found: run 'invoke setup'") from None
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise TsdbError(f"{self.binary} exited with {process.returncode}; see {self.data_dir / 'tsdb.log'}")
            if self.healthy() and process.poll() is None:
                return process.pid
            time.sleep(0.1)
        self.stop()
        raise TsdbError(f"{self.binary} did not answer on {self.url} within {timeout_s:.0f} s")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as reply:
                return reply.status == 200
        except OSError:
            return False

    def stop(self, timeout_s: float = 10.0) -> None:
        stop_service(self.pid_file, self._program, timeout_s)

    def export(self, match: str) -> list[dict]:
        """Every stored series matching a series selector, with its samples (for checks and tests)."""
        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=5).read()
        query = urllib.parse.urlencode({"match[]": match, "start": 0, "end": int(time.time()) + 3600})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=10) as reply:
            return [json.loads(line) for line in reply.read().decode().splitlines() if line.strip()]


    def query(self, expr: str) -> list[dict]:
        """An instant query through the Prometheus API (what the Grafana boards use)."""
        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=5).read()
        query = urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{query}", timeout=10) as reply:
            answer = json.loads(reply.read())
        if answer.get("status") != "success":
            raise TsdbError(f"query {expr!r} failed: {answer}")
        return answer["data"]["result"]
