"""HTTP helper for network power switches; credentials come from the environment only."""
from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request

from sisctl.board.spec import PowerSpec


def request(spec: PowerSpec, url: str, method: str = "GET") -> str:
    from sisctl.board.power import PowerSwitchError
    req = urllib.request.Request(url, method=method)
    if spec.user_env and spec.password_env:
        user, password = os.environ.get(spec.user_env, ""), os.environ.get(spec.password_env, "")
        if not user:
            raise PowerSwitchError(f"power switch {url}: ${spec.user_env} is not set")
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=spec.timeout_s) as reply:
            return reply.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        raise PowerSwitchError(f"power switch {url} refused: HTTP {err.code} {err.reason}") from None
    except OSError as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, ConnectionRefusedError):
            reason = "connection refused (nothing listens there)"
        raise PowerSwitchError(f"power switch {url} did not answer within {spec.timeout_s:g} s: {reason}") from None


def request_json(spec: PowerSpec, url: str) -> dict:
    from sisctl.board.power import PowerSwitchError
    text = request(spec, url)
    try:
        return json.loads(text)
    except ValueError:
        raise PowerSwitchError(f"power switch {url} answered no JSON: {text[:80]!r}") from None
