"""Generic HTTP PDU: one URL to switch on, one to switch off, one whose reply says the state.

    power:
      model: http
      on_url: http://pdu.lab/outlet/3/on
      off_url: http://pdu.lab/outlet/3/off
      status_url: http://pdu.lab/outlet/3
      status_on: '"state": *"on"'       # regex matched against the status reply
      method: POST                      # for on/off
"""
from __future__ import annotations

import re

from sisctl.board.power._http import request
from sisctl.board.spec import PowerSpec


def power_set(spec: PowerSpec, on: bool) -> None:
    request(spec, spec.on_url if on else spec.off_url, spec.method)


def power_get(spec: PowerSpec) -> bool:
    return re.search(spec.status_on, request(spec, spec.status_url)) is not None
