"""Power switch drivers against the real protocols: HTTP devices served on loopback, and
uhubctl/gpioset run over a real SSH connection to command shims that keep a state file."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from sisctl.board.power import PowerSwitchError, power_cycle, power_get, power_set
from sisctl.board.spec import PowerSpec


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
    spec = PowerSpec(model="tasmota", url=url, off_time_s=0.05)
    power_set(spec, True)
    assert state["plug"] and power_get(spec) is True
    power_cycle(spec)
    assert state["plug"] and ("GET", "/cm") in state["log"]
    power_set(spec, False)
    assert power_get(spec) is False


def test_http_pdu_with_credentials_from_the_environment(devices, monkeypatch):
    url, state = devices
    spec = PowerSpec(model="http", on_url=f"{url}/outlet/3/on", off_url=f"{url}/outlet/3/off",
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


def test_unreachable_switch_fails_within_its_timeout():
    from sisctl.net import free_port
    spec = PowerSpec(model="tasmota", url=f"http://127.0.0.1:{free_port()}", timeout_s=1)
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
    spec = PowerSpec(model="uhubctl", hub="1-1", port=2, tool=str(tool), ssh=sshd)
    power_set(spec, True)
    assert power_get(spec) is True
    power_set(spec, False)
    assert power_get(spec) is False
    assert f"{tool} -l 1-1 -p 2 -a on" in (tmp_path / "calls.log").read_text()


def test_active_low_gpio_relay_over_ssh(sshd, tmp_path):
    setter = shim(tmp_path, "gpioset")
    shim(tmp_path, "gpioget")
    spec = PowerSpec(model="gpio", chip="gpiochip0", line=17, active_low=True, tool=str(setter), ssh=sshd)
    power_set(spec, True)
    assert (tmp_path / "gpio.state").read_text().strip() == "0"      # on = low level
    assert power_get(spec) is True
    power_set(spec, False)
    assert power_get(spec) is False


def test_a_failing_tool_is_reported(sshd, tmp_path):
    spec = PowerSpec(model="uhubctl", hub="1-1", port=2, tool=str(tmp_path / "missing"), ssh=sshd)
    with pytest.raises(PowerSwitchError, match="failed"):
        power_set(spec, True)
