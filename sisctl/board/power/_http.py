"""HTTP helper for network power switches; credentials come from the environment only."""
from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass


@dataclass(kw_only=True)
class WebLogin:
    """Optional credentials of an HTTP switch: the names of environment variables, never the secrets."""
    user_env: str = ""
    password_env: str = ""


def _error(text: str) -> Exception:
    from sisctl.board.power import PowerSwitchError
    return PowerSwitchError(text)


def _login(spec, url: str, default_user: str) -> tuple[str, str] | None:
    """(user, password) from the environment, or None without credentials configured."""
    if not spec.password_env or not (spec.user_env or default_user):
        return None
    user = os.environ.get(spec.user_env, "") if spec.user_env else default_user
    if not user:
        raise _error(f"power switch {url}: ${spec.user_env} is not set")
    password = os.environ.get(spec.password_env)
    if password is None:
        raise _error(f"power switch {url}: ${spec.password_env} is not set")
    return user, password


def _send(spec, url: str, method: str, headers: dict) -> str:
    req = urllib.request.Request(url, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=spec.timeout_s) as reply:
        return reply.read().decode(errors="replace")


def request(spec, url: str, method: str = "GET", *, digest: bool = False, default_user: str = "") -> str:
    """The reply to one request. Credentials go as Basic auth up front, or with `digest` in answer to
    the switch's Digest challenge (RFC 7616); `default_user` is the user when no user_env is named."""
    login = _login(spec, url, default_user)
    headers = {"Authorization": _basic(*login)} if login and not digest else {}
    try:
        try:
            return _send(spec, url, method, headers)
        except urllib.error.HTTPError as err:
            challenge = err.headers.get("WWW-Authenticate", "")
            if not (digest and login and err.code == 401 and challenge[:7].lower() == "digest "):
                raise
            return _send(spec, url, method, {"Authorization": digest_authorization(challenge, method, url, *login)})
    except urllib.error.HTTPError as err:
        raise _error(f"power switch {url} refused: HTTP {err.code} {err.reason}") from None
    except ValueError as err:          # no URL urllib can use
        raise _error(f"power switch {url!r}: {err}") from None
    except http.client.HTTPException as err:    # a reply that is not HTTP
        raise _error(f"power switch {url} gave a garbled reply: {type(err).__name__} {err}") from None
    except OSError as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, ConnectionRefusedError):
            reason = "connection refused (nothing listens there)"
        raise _error(f"power switch {url} did not answer within {spec.timeout_s:g} s: {reason}") from None


def request_json(spec, url: str, **options) -> dict:
    text = request(spec, url, **options)
    try:
        reply = json.loads(text)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise _error(f"power switch {url} answered no JSON object: {text[:80]!r}")
    return reply


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


DIGESTS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def digest_authorization(challenge: str, method: str, url: str, user: str, password: str,
                         cnonce: str | None = None) -> str:
    """The Authorization header answering a `WWW-Authenticate: Digest ...` challenge (RFC 7616:
    MD5 or SHA-256, qop auth or none)."""
    params = urllib.request.parse_keqv_list(urllib.request.parse_http_list(challenge.split(" ", 1)[1]))
    algorithm = params.get("algorithm", "MD5")
    if algorithm.upper() not in DIGESTS:
        raise _error(f"power switch {url} asks for digest algorithm {algorithm}; sisctl answers "
                     f"{' and '.join(DIGESTS)}")
    digest = DIGESTS[algorithm.upper()]

    def h(text: str) -> str:
        return digest(text.encode()).hexdigest()

    parts = urllib.parse.urlsplit(url)
    uri = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1, ha2 = h(f"{user}:{realm}:{password}"), h(f"{method}:{uri}")
    fields = {"username": user, "realm": realm, "nonce": nonce, "uri": uri, "algorithm": algorithm}
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cnonce, nc = cnonce or secrets.token_hex(16), "00000001"
        fields.update(response=h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"), qop="auth", nc=nc, cnonce=cnonce)
    elif qops:
        raise _error(f"power switch {url} asks for digest qop {', '.join(qops)}; sisctl answers auth")
    else:
        fields["response"] = h(f"{ha1}:{nonce}:{ha2}")
    if "opaque" in params:
        fields["opaque"] = params["opaque"]
    bare = {"algorithm", "qop", "nc"}

    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "Digest " + ", ".join(f"{k}={v if k in bare else quoted(v)}" for k, v in fields.items())
