"""Power readers: the model's arithmetic, and real HTTP meters served on loopback. Power switch
settings: each model's dataclass, its required keys named at load, and the digest auth of Shelly."""
from __future__ import annotations

import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
import pytest
import yaml

from sisctl import paths
from sisctl.board import power
from sisctl.board.power._http import digest_authorization
from sisctl.board.spec import load_board
from sisctl.config import ConfigError
from sisctl.telemetry.power import PowerError, PowerMeterSpec, estimate, read_power


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


# --- power switch settings ---------------------------------------------------------------------------

SSH = {"host": "lab-host.lab", "user": "lab"}
MINIMAL = {          # the least each model needs, and the keys it cannot do without
    "tasmota": ({"url": "http://plug.lab"}, {"url"}),
    "http": ({"on_url": "http://pdu.lab/3/on", "off_url": "http://pdu.lab/3/off"}, {"on_url", "off_url"}),
    "shelly_gen2": ({"url": "http://shelly.lab"}, {"url"}),
    "uhubctl": ({"hub": "1-1", "ssh": SSH}, {"hub", "ssh"}),
    "gpio": ({"chip": "gpiochip0", "line": 17, "ssh": SSH}, {"ssh"}),   # chip and line default to gpiochip0, line 0
    "manual": ({}, set()),
}


def real_board(tmp_path, power_section: dict):
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump({"name": "b", "console": {"url": "/dev/ttyUSB9"}, "boot": {"method": "uboot"},
                                    "power": power_section}))
    return path


def schema_errors(path) -> list[str]:
    schema = json.loads((paths.boards_dir() / "board.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]


def test_every_switch_model_is_covered_here():
    assert set(power.MODELS) - {"qmp"} == set(MINIMAL)


@pytest.mark.parametrize("model", MINIMAL)
def test_each_model_loads_with_its_own_dataclass(tmp_path, model):
    section, required = MINIMAL[model]
    spec = load_board(real_board(tmp_path, {"model": model, **section})).power
    assert spec.model == model and isinstance(spec, power.SwitchSettings)
    assert type(spec).__module__ == f"sisctl.board.power.{power.MODELS[model]}"
    assert (spec.off_time_s, spec.timeout_s) == (3.0, 5.0)          # the shared base's defaults
    assert {f.name for f in dataclasses.fields(spec) if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING} == required
    assert schema_errors(real_board(tmp_path, {"model": model, **section})) == []


@pytest.mark.parametrize("model, missing", [(m, k) for m, (_, required) in MINIMAL.items() for k in sorted(required)])
def test_a_missing_required_key_is_named_at_load(tmp_path, model, missing):
    section = {k: v for k, v in MINIMAL[model][0].items() if k != missing}
    path = real_board(tmp_path, {"model": model, **section})
    with pytest.raises(ConfigError) as caught:
        load_board(path)
    assert (caught.value.path, caught.value.key) == (str(path), f"power.{missing}")
    assert str(caught.value) == f"{path}: key 'power.{missing}': required key is missing"
    assert any(f"'{missing}' is a required property" in e for e in schema_errors(path))


def test_http_without_on_url_is_refused_at_load(tmp_path):
    path = real_board(tmp_path, {"model": "http", "off_url": "http://pdu.lab/3/off"})
    with pytest.raises(ConfigError, match=r"key 'power\.on_url': required key is missing"):
        load_board(path)


def test_an_unknown_model_lists_the_known_ones(tmp_path):
    path = real_board(tmp_path, {"model": "magic", "url": "http://x"})
    with pytest.raises(ConfigError) as caught:
        load_board(path)
    assert caught.value.key == "power.model" and "unknown model 'magic'" in str(caught.value)
    assert all(model in str(caught.value) for model in power.MODELS)
    assert schema_errors(path)


@pytest.mark.parametrize("section, key, words", [
    ({"model": "tasmota", "url": "http://plug.lab", "on_url": "http://x"}, "power.on_url", "unknown key for model tasmota"),
    ({"model": "tasmota", "url": "plug.lab"}, "power.url", "an http:// or https:// URL"),
    ({"model": "uhubctl", "hub": "1-1", "ssh": SSH, "port": 0}, "power.port", ">= 1"),
    ({"model": "http", "on_url": "http://a/on", "off_url": "http://a/off", "status_on": "*on"}, "power.status_on",
     "not a valid regular expression"),
    ({"model": "manual", "timeout_s": 0}, "power.timeout_s", "seconds > 0"),
    ({"model": "shelly_gen2", "url": "http://s", "switch_id": -1}, "power.switch_id", ">= 0"),
    ({"timeout_s": 1}, "power.timeout_s", "unknown key for model qmp; expected one of: model"),
])
def test_a_wrong_key_of_a_model_is_named(tmp_path, section, key, words):
    path = real_board(tmp_path, section)
    with pytest.raises(ConfigError) as caught:
        load_board(path)
    assert caught.value.key == key and words in str(caught.value)
    assert schema_errors(path)


def test_qmp_is_the_default_and_has_no_switch_driver():
    spec = load_board(paths.boards_dir() / "qemu-virt-0.yaml").power
    assert isinstance(spec, power.QmpPower) and spec.model == "qmp" and dataclasses.fields(spec) == ()
    with pytest.raises(power.PowerSwitchError, match="no switch driver; known: tasmota"):
        power.power_set(spec, True)


def test_the_shipped_boards_keep_their_power_settings():
    rpi4 = load_board(paths.boards_dir() / "rpi4-01.yaml").power
    assert (rpi4.model, rpi4.url, rpi4.off_time_s) == ("tasmota", "http://plug-rpi4-01.lab", 5.0)
    rpi5 = load_board(paths.boards_dir() / "rpi5-01.yaml").power
    assert (rpi5.model, rpi5.chip, rpi5.line, rpi5.active_low, rpi5.ssh.host) == ("gpio", "gpiochip0", 17, True,
                                                                                 "lab-host.lab")
    pdu = load_board(paths.boards_dir() / "uboot-board-01.yaml").power
    assert (pdu.model, pdu.method, pdu.user_env, pdu.status_url) == ("http", "POST", "PDU_USER",
                                                                     "http://pdu.lab/outlet/4")


# RFC 7616 section 3.9.1: the same request answered with SHA-256 and with MD5
RFC7616 = ('Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={}, '
           'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')


@pytest.mark.parametrize("algorithm, response", [
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
])
def test_digest_authorization_matches_rfc_7616(algorithm, response):
    header = digest_authorization(RFC7616.format(algorithm), "GET", "http://www.example.org/dir/index.html",
                                  "Mufasa", "Circle of Life", cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
    assert f'response="{response}"' in header and 'uri="/dir/index.html"' in header
    assert "qop=auth," in header and "nc=00000001" in header and 'opaque="FQhe/' in header
    with pytest.raises(power.PowerSwitchError, match="digest algorithm SHA-512-256"):
        digest_authorization(RFC7616.format("SHA-512-256"), "GET", "http://x/", "u", "p")
