"""Generic HTTP PDU: one URL to switch on, one to switch off, one whose reply says the state.

    power:
      model: http
      on_url: http://pdu.lab/outlet/3/on
      off_url: http://pdu.lab/outlet/3/off
      status_url: http://pdu.lab/outlet/3   # optional: without it the state is unknown
      status_on: '"state": *"on"'       # regex matched against the status reply
      method: POST                      # for on/off
      user_env: PDU_USER                # optional Basic auth, from the environment
      password_env: PDU_PASSWORD
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sisctl.board.power import SwitchSettings
from sisctl.board.power._http import WebLogin, request
from sisctl.config import HttpUrl, Regex


@dataclass(kw_only=True)
class HttpPower(SwitchSettings, WebLogin):
    """model http: a PDU outlet switched by requesting one URL for on and one for off."""
    on_url: HttpUrl
    off_url: HttpUrl
    status_url: HttpUrl | None = None
    status_on: Regex = "(?i)on"
    method: str = "GET"


def power_set(spec: HttpPower, on: bool) -> None:
    request(spec, spec.on_url if on else spec.off_url, spec.method)


def power_get(spec: HttpPower) -> bool | None:
    if spec.status_url is None:
        return None
    return re.search(spec.status_on, request(spec, spec.status_url)) is not None
