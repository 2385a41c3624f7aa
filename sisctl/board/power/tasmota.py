"""Tasmota smart plug.

    power:
      model: tasmota
      url: http://plug-rpi4-01.lab      # the plug's web address
      user_env: TASMOTA_USER            # optional web auth, from the environment
      password_env: TASMOTA_PASSWORD
"""
from __future__ import annotations

from dataclasses import dataclass

from sisctl.board.power import SwitchSettings
from sisctl.board.power._http import WebLogin, request_json
from sisctl.config import HttpUrl


@dataclass(kw_only=True)
class TasmotaPower(SwitchSettings, WebLogin):
    """model tasmota: a smart plug running Tasmota, switched through its /cm command URL."""
    url: HttpUrl


def power_set(spec: TasmotaPower, on: bool) -> None:
    request_json(spec, f"{spec.url.rstrip('/')}/cm?cmnd=Power%20{'On' if on else 'Off'}")


def power_get(spec: TasmotaPower) -> bool:
    return request_json(spec, f"{spec.url.rstrip('/')}/cm?cmnd=Power").get("POWER") == "ON"
