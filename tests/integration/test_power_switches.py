"""Power switch drivers against the real protocols: HTTP devices served on loopback, and
uhubctl/gpioset run over a real SSH connection to command shims that keep a state file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from sisctl.board.power import PowerSwitchError, power_cycle, power_get, power_set
from sisctl.board.power.gpio import GpioPower
from sisctl.board.power.http import HttpPower
from sisctl.board.power.shelly_gen2 import ShellyGen2Power
from sisctl.board.power.tasmota import TasmotaPower
from sisctl.board.power.uhubctl import UhubctlPower
from tests.integration.standins import ShellyGen2

PROJECT = Path(__file__).resolve().parents[2]
INVOKE = Path(sys.executable).parent / "invoke"


@pytest.fixture
def devices():
    """A Tasmota plug at /cm and a PDU outlet at /outlet/3; both remember their state."""
    state = {"plug": False, "outlet": False, "log": []}

    class Handler(BaseHTTPRequestHandler):
        def reply(self, body: dict) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def do_GET(self):
            url = urlparse(self.path)
            state["log"].append((self.command, url.path))
            if url.path == "/cm":
                command = parse_qs(url.query)["cmnd"][0]
                if command in ("Power On", "Power Off"):
                    state["plug"] = command == "Power On"
                return self.reply({"POWER": "ON" if state["plug"] else "OFF"})
            if url.path == "/outlet/3":
                return self.reply({"state": "on" if state["outlet"] else "off"})
            self.send_response(404)
            self.end_headers()

        def do_POST(self):
            state["log"].append((self.command, self.path))
            if self.headers.get("Authorization") != "Basic YWRtaW46czNjcmV0":   # admin:s3cret
                self.send_response(401)
                self.end_headers()
                return
            state["outlet"] = self.path.endswith("/on")
            self.reply({"ok": True})

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", state
    server.shutdown()
    server.server_close()


def test_tasmota_plug(devices):
    url, state = devices
    spec = TasmotaPower(url=url, off_time_s=0.05)
    power_set(spec, True)
    assert state["plug"] and power_get(spec) is True
    power_cycle(spec)
    assert state["plug"] and ("GET", "/cm") in state["log"]
    power_set(spec, False)
    assert power_get(spec) is False


def test_http_pdu_with_credentials_from_the_environment(devices, monkeypatch):
    url, state = devices
    spec = HttpPower(on_url=f"{url}/outlet/3/on", off_url=f"{url}/outlet/3/off",
                     status_url=f"{url}/outlet/3", status_on='"state": "on"', method="POST",
                     user_env="PDU_USER", password_env="PDU_PASSWORD")
    with pytest.raises(PowerSwitchError, match=r"\$PDU_USER is not set"):
        power_set(spec, True)
    monkeypatch.setenv("PDU_USER", "admin")
    monkeypatch.setenv("PDU_PASSWORD", "wrong")
    with pytest.raises(PowerSwitchError, match="refused: HTTP 401"):
        power_set(spec, True)
    monkeypatch.setenv("PDU_PASSWORD", "s3cret")
    power_set(spec, True)
    assert state["outlet"] and power_get(spec) is True
    power_set(spec, False)
    assert power_get(spec) is False
    without_status = HttpPower(on_url=spec.on_url, off_url=spec.off_url, method="POST",
                               user_env="PDU_USER", password_env="PDU_PASSWORD")
    power_set(without_status, True)
    assert state["outlet"] and power_get(without_status) is None       # the PDU cannot tell: unknown


def test_unreachable_switch_fails_within_its_timeout():
    from sisctl.net import free_port
    spec = TasmotaPower( url=f"http://127.0.0.1:{free_port()}", timeout_s=1)
    with pytest.raises(PowerSwitchError, match="did not answer within 1 s"):
        power_set(spec, True)


SHIM = """#!/bin/sh
# stand-in for {tool}: records its arguments and keeps the switch state in a file
echo "$0 $*" >> {log}
case "$(basename "$0")" in
  uhubctl)
    [ "$5" = "-a" ] && echo "$6" > {state}
    s=$(cat {state} 2>/dev/null || echo off)
    [ "$s" = on ] && echo "  Port $4: 0503 power highspeed enable connect" || echo "  Port $4: 0000 off"
    ;;
  gpioset) echo "${{2#*=}}" > {state} ;;
  gpioget) cat {state} ;;
esac
"""


def shim(folder, tool):
    path = folder / tool
    path.write_text(SHIM.format(tool=tool, log=folder / "calls.log", state=folder / f"{tool[:4]}.state"))
    path.chmod(0o755)
    return path


def test_uhubctl_over_ssh(sshd, tmp_path):
    tool = shim(tmp_path, "uhubctl")
    spec = UhubctlPower(hub="1-1", port=2, tool=str(tool), ssh=sshd)
    power_set(spec, True)
    assert power_get(spec) is True
    power_set(spec, False)
    assert power_get(spec) is False
    assert f"{tool} -l 1-1 -p 2 -a on" in (tmp_path / "calls.log").read_text()


def test_active_low_gpio_relay_over_ssh(sshd, tmp_path):
    setter = shim(tmp_path, "gpioset")
    shim(tmp_path, "gpioget")
    spec = GpioPower(chip="gpiochip0", line=17, active_low=True, tool=str(setter), ssh=sshd)
    power_set(spec, True)
    assert (tmp_path / "gpio.state").read_text().strip() == "0"      # on = low level
    assert power_get(spec) is True
    power_set(spec, False)
    assert power_get(spec) is False


def test_a_failing_tool_is_reported(sshd, tmp_path):
    spec = UhubctlPower(hub="1-1", port=2, tool=str(tmp_path / "missing"), ssh=sshd)
    with pytest.raises(PowerSwitchError, match="failed"):
        power_set(spec, True)


# --- Shelly Gen2+ relay, against its RPC-over-HTTP stand-in ---------------------------------------

@pytest.fixture
def shelly():
    """A two-relay Shelly Gen2+ device on loopback; stopped after the test."""
    device = ShellyGen2(switches=2)
    yield device
    device.close()


@pytest.fixture
def locked_shelly():
    """A Shelly Gen2+ device with authentication on (password s3cret)."""
    device = ShellyGen2(password="s3cret")
    yield device
    device.close()


def test_shelly_gen2_relay(shelly):
    spec = ShellyGen2Power(url=shelly.url, switch_id=1, off_time_s=0.05)
    assert spec.model == "shelly_gen2"
    power_set(spec, True)
    assert shelly.outputs == [False, True] and power_get(spec) is True
    power_cycle(spec)
    assert shelly.outputs == [False, True]
    assert shelly.calls[-2:] == ["Switch.Set?id=1&on=false", "Switch.Set?id=1&on=true"]
    power_set(spec, False)
    assert shelly.outputs == [False, False] and power_get(spec) is False
    assert "Switch.GetStatus?id=1" in shelly.calls


def test_shelly_gen2_unknown_relay_is_refused(shelly):
    with pytest.raises(PowerSwitchError, match=r"Switch\.Set\?id=7&on=true refused: HTTP 400"):
        power_set(ShellyGen2Power(url=shelly.url, switch_id=7), True)


def test_shelly_gen2_digest_auth_with_the_password_from_the_environment(locked_shelly, monkeypatch):
    spec = ShellyGen2Power(url=locked_shelly.url, password_env="SHELLY_PASSWORD")
    with pytest.raises(PowerSwitchError, match="refused: HTTP 401"):
        power_set(ShellyGen2Power(url=locked_shelly.url), True)            # no credentials named
    monkeypatch.setenv("SHELLY_PASSWORD", "wrong")
    with pytest.raises(PowerSwitchError, match="refused: HTTP 401"):
        power_set(spec, True)
    monkeypatch.setenv("SHELLY_PASSWORD", "s3cret")
    power_set(spec, True)
    assert locked_shelly.outputs == [True] and power_get(spec) is True
    power_set(spec, False)
    assert power_get(spec) is False
    with pytest.raises(PowerSwitchError, match=r"\$SHELLY_USER is not set"):
        power_get(ShellyGen2Power(url=locked_shelly.url, user_env="SHELLY_USER", password_env="SHELLY_PASSWORD"))


def invoke(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(INVOKE), *args], cwd=PROJECT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SISCTL_STATE": str(tmp_path / "state"), **env})


def real_board(tmp_path: Path, name: str, power: dict) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "console": {"url": "/dev/ttyUSB9"},
                                    "boot": {"method": "uboot"}, "power": power}))
    return path


def test_invoke_power_switch_drives_a_shelly_gen2(locked_shelly, tmp_path):
    board = real_board(tmp_path, "shelly-board", {"model": "shelly_gen2", "url": locked_shelly.url,
                                                  "password_env": "SHELLY_PASSWORD", "off_time_s": 0.05})
    for action, state in [("on", "on"), ("status", "on"), ("cycle", "on"), ("off", "off"), ("status", "off")]:
        done = invoke("power.switch", "--board", str(board), "--action", action, tmp_path=tmp_path,
                      SHELLY_PASSWORD="s3cret")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"shelly-board: power {state}"
        assert locked_shelly.outputs == [state == "on"]
    done = invoke("power.switch", "--board", str(board), "--action", "on", tmp_path=tmp_path, SHELLY_PASSWORD="x")
    assert done.returncode == 75 and "refused: HTTP 401" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("power, key", [
    ({"model": "http", "off_url": "http://127.0.0.1:9/off"}, "power.on_url"),
    ({"model": "shelly_gen2"}, "power.url"),
    ({"model": "tasmota", "url": "plug.lab"}, "power.url"),
])
def test_invoke_power_switch_names_a_missing_or_wrong_key(tmp_path, power, key):
    board = real_board(tmp_path, "broken", power)
    done = invoke("power.switch", "--board", str(board), "--action", "on", tmp_path=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"{board}: key '{key}'" in done.stderr and "Traceback" not in done.stderr
