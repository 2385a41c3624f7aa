"""Shelly Gen2+ relay (Plus, Pro, Gen3 and later), switched through its RPC API over HTTP.

    power:
      model: shelly_gen2
      url: http://shelly-board-02.lab   # the device's web address
      switch_id: 0                      # which relay of a multi-relay device (its Switch id)
      password_env: SHELLY_PASSWORD     # optional: when the device has authentication on

GET /rpc/Switch.Set?id=N&on=true|false switches, GET /rpc/Switch.GetStatus?id=N answers JSON whose
"output" is the relay's state. A device with authentication on answers 401 with a Digest challenge
(SHA-256, RFC 7616), answered with the password from the environment; the user is 'admin' unless
user_env names a variable holding another.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from sisctl.board.power import PowerSwitchError, SwitchSettings
from sisctl.board.power._http import WebLogin, request_json
from sisctl.config import HttpUrl, between


@dataclass(kw_only=True)
class ShellyGen2Power(SwitchSettings, WebLogin):
    """model shelly_gen2: a Shelly Gen2+ relay, switched through its RPC API (Switch.Set/GetStatus)."""
    url: HttpUrl
    switch_id: Annotated[int, between(0, 255)] = 0


def _rpc(spec: ShellyGen2Power, method: str, **params) -> dict:
    query = urlencode({k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()})
    return request_json(spec, f"{spec.url.rstrip('/')}/rpc/{method}?{query}", digest=True, default_user="admin")


def power_set(spec: ShellyGen2Power, on: bool) -> None:
    _rpc(spec, "Switch.Set", id=spec.switch_id, on=on)


def power_get(spec: ShellyGen2Power) -> bool:
    status = _rpc(spec, "Switch.GetStatus", id=spec.switch_id)
    if not isinstance(status.get("output"), bool):
        raise PowerSwitchError(f"Shelly {spec.url} switch {spec.switch_id}: no 'output' in its status: "
                               f"{str(status)[:80]}")
    return status["output"]
