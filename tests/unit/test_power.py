"""Power readers: the model's arithmetic, and real HTTP meters served on loopback."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sisctl.board.spec import PowerMeterSpec
from sisctl.telemetry.power import PowerError, estimate, read_power


def test_estimate_is_linear_and_labelled_as_an_estimate():
    spec = PowerMeterSpec(idle_w=2.0, cpu_w=4.0, mem_w_per_gbps=0.5)
    reading = estimate(spec, 0.5, mem_gbps=2.0)
    assert reading.watts == pytest.approx(5.0) and reading.estimated
    assert 'estimated=true' in reading.point("b", 1).to_line_protocol()
    with pytest.raises(PowerError):
        estimate(spec, 1.5)


@pytest.fixture
def meter():
    replies = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = replies.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write((body or "").encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", replies
    server.shutdown()
    server.server_close()


def test_tasmota_plug(meter):
    url, replies = meter
    replies["/cm?cmnd=Status%208"] = json.dumps({"StatusSNS": {"ENERGY": {"Power": 7.25, "Voltage": 230}}})
    reading = read_power(PowerMeterSpec(model="tasmota", url=url))
    assert (reading.watts, reading.source, reading.estimated) == (7.25, "tasmota", False)


def test_generic_http_meter_and_its_errors(meter):
    url, replies = meter
    replies["/pdu/outlet/3"] = json.dumps({"outlet": {"watts": 11}})
    assert read_power(PowerMeterSpec(model="http", url=f"{url}/pdu/outlet/3", json_path="outlet.watts")).watts == 11
    with pytest.raises(PowerError, match="no 'outlet.volts'"):
        read_power(PowerMeterSpec(model="http", url=f"{url}/pdu/outlet/3", json_path="outlet.volts"))
    with pytest.raises(PowerError, match="did not answer"):
        read_power(PowerMeterSpec(model="http", url=f"{url}/missing"))


def test_hwmon_reads_microwatts_through_a_runner(tmp_path):
    sensor = tmp_path / "power1_input"
    sensor.write_text("3250000\n")
    spec = PowerMeterSpec(model="hwmon", hwmon_path=str(sensor))
    assert read_power(spec, run=lambda cmd: open(cmd.split()[1]).read()).watts == 3.25
    with pytest.raises(PowerError, match="microwatts"):
        read_power(spec, run=lambda cmd: "cat: no such file")
