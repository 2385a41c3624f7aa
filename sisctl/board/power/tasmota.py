"""Tasmota smart plug.

    power:
      model: tasmota
      url: http://plug-rpi4-01.lab      # the plug's web address
      user_env: TASMOTA_USER            # optional web auth, from the environment
      password_env: TASMOTA_PASSWORD
"""
from __future__ import annotations

from sisctl.board.power._http import request_json
from sisctl.board.spec import PowerSpec


def power_set(spec: PowerSpec, on: bool) -> None:
    request_json(spec, f"{spec.url.rstrip('/')}/cm?cmnd=Power%20{'On' if on else 'Off'}")


def power_get(spec: PowerSpec) -> bool:
    return request_json(spec, f"{spec.url.rstrip('/')}/cm?cmnd=Power").get("POWER") == "ON"
