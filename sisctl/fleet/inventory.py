"""`invoke fleet.list`: every board on the coordinator with its lab host, tags, state, health and holder."""
from __future__ import annotations

import time

from sisctl.fleet.health import health_of
from sisctl.fleet.lease import lease_of
from sisctl.fleet.session import CoordinatorSession, Place

OWN_TAGS = ("host", "eligible", "health", "health_reason", "health_checked", "jobs_since_check")


def state_of(place: Place) -> str:
    """idle, reserved (allocated to a waiter, not locked yet) or running (locked by a job)."""
    return "running" if place.acquired else "reserved" if place.reservation else "idle"


def row(place: Place) -> dict:
    tags = place.tags
    lease = lease_of(place)
    holder = None
    if lease:
        holder = {"job": lease.job, "host": lease.host, "pid": lease.pid, "since": lease.since,
                  "lease_until": lease.until}
    elif place.acquired:
        holder = {"name": place.acquired}
    checked = float(tags.get("health_checked", "0") or 0)
    return {"board": place.name, "lab_host": tags.get("host", ""),
            "tags": {k: v for k, v in sorted(tags.items()) if k not in OWN_TAGS and not k.startswith("lease_")},
            "state": state_of(place), "health": health_of(tags),
            "health_reason": "" if tags.get("health_reason") in (None, "-") else tags["health_reason"],
            "last_health_check": checked or None, "jobs_since_check": int(tags.get("jobs_since_check", "0") or 0),
            "holder": holder}


def inventory(session: CoordinatorSession) -> list[dict]:
    return [row(place) for _, place in sorted(session.places().items())]


def text_line(r: dict) -> str:
    tags = ",".join(f"{k}={v}" for k, v in r["tags"].items()) or "-"
    holder = r["holder"]
    who = "-"
    if holder and "pid" in holder:
        who = (f"{'job ' + holder['job'] + ' ' if holder['job'] else ''}{holder['host']} pid {holder['pid']} "
               f"since {time.strftime('%H:%M:%S', time.localtime(holder['since']))}")
    elif holder:
        who = holder["name"]
    checked = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["last_health_check"])) if r["last_health_check"] else "never"
    health = r["health"] + (f" ({r['health_reason']})" if r["health_reason"] and r["health"] != "good" else "")
    return f"{r['board']:<20} {r['lab_host'] or '-':<12} {r['state']:<8} {health:<30} {who:<36} checked {checked}  {tags}"
