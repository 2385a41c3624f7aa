"""The lab's telemetry: its embedded database and a sink to the database lab/lab.yaml names."""
from __future__ import annotations

from sisctl import paths
from sisctl.labfile import LabSpec, load_lab
from sisctl.telemetry.sink import SinkConfig, TelemetrySink, token_from
from sisctl.telemetry.tsdb import EmbeddedTsdb


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
