"""Leases kept in a place's tags: who holds the board, since when, and until when without news.

labgrid's locks never expire. A holder renews `lease_until` while its job runs; a lock whose
lease ran out (its holder was killed, its host died) is taken back by the reaper. Tags written
by an earlier holder do not count: a lease is the holder's only while `lease_holder` names the
place's current lock holder; until then the lock's own time stands in for it.
"""
from __future__ import annotations

from dataclasses import dataclass

from sisctl.fleet.holder import Holder, pid_of
from sisctl.fleet.session import Place

LEASE_TAGS = ("lease_holder", "lease_job", "lease_host", "lease_pid", "lease_since", "lease_until", "lease_token")


@dataclass
class Lease:
    holder: str          # the coordinator's name of the lock holder
    job: str
    host: str
    pid: int
    since: float
    until: float
    token: str           # the reservation the place was allocated through


def lease_tags(holder: Holder, token: str, until: float) -> dict[str, str]:
    return {"lease_holder": holder.identity, "lease_job": holder.job or "-", "lease_host": holder.host,
            "lease_pid": str(holder.pid), "lease_since": f"{holder.since:.0f}", "lease_until": f"{until:.0f}",
            "lease_token": token}


def lease_of(place: Place) -> Lease | None:
    """The lease of the place's current lock holder, if that holder wrote one."""
    tags = place.tags
    if not place.acquired or tags.get("lease_holder") != place.acquired:
        return None
    try:
        return Lease(tags["lease_holder"], "" if tags.get("lease_job") == "-" else tags.get("lease_job", ""),
                     tags.get("lease_host", ""), int(tags.get("lease_pid", "0")),
                     float(tags.get("lease_since", "0")), float(tags["lease_until"]), tags.get("lease_token", ""))
    except (KeyError, ValueError):
        return None


def lease_deadline(place: Place, lease_s: float) -> float | None:
    """When the place's lock may be taken back; None for a lock sisctl does not manage (a person's)."""
    if not place.acquired or pid_of(place.acquired) is None:
        return None
    lease = lease_of(place)
    return lease.until if lease else place.changed + lease_s


def lease_expired(place: Place, now: float, lease_s: float) -> bool:
    deadline = lease_deadline(place, lease_s)
    return deadline is not None and now > deadline
