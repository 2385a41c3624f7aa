"""Take back what dead jobs hold: locks whose lease ran out, and reservations of waiters that died.

A lock is released only from the holder whose lease expired (atomic on the coordinator), after
its reservation is cancelled, so the next waiter gets the board at once. A waiter's reservation
expires by itself a minute after it stops polling; one owned by a dead process on this host is
cancelled right away.
"""
from __future__ import annotations

import os
import time
from typing import Callable

from sisctl.fleet.holder import pid_of, this_process
from sisctl.fleet.lease import lease_expired
from sisctl.fleet.session import CoordinatorRefused, CoordinatorSession


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap(session: CoordinatorSession, lease_s: float, report: Callable[[str], None] = lambda _: None,
         now: float | None = None) -> list[str]:
    """Free expired leases and dead local waiters; returns what was done, one line each."""
    now = now or time.time()
    done = []
    for place in session.places().values():
        if not lease_expired(place, now, lease_s):
            continue
        if place.reservation:
            _quietly(lambda: session.cancel(place.reservation))
        if _quietly(lambda: session.release(place.name, from_holder=place.acquired)):
            done.append(f"{place.name}: lease of {place.acquired} expired; place unlocked")
    host = this_process().host
    for reservation in session.reservations():
        owner = pid_of(reservation.owner)
        if reservation.state in ("waiting", "allocated") and owner and owner[0] == host \
                and not process_alive(owner[1]):
            if _quietly(lambda: session.cancel(reservation.token)):
                done.append(f"reservation {reservation.token} of dead process {owner[1]} cancelled")
    for line in done:
        report(line)
    return done


def _quietly(call) -> bool:
    """Run a call another reaper may have beaten us to; False if the coordinator refused it."""
    try:
        call()
        return True
    except CoordinatorRefused:
        return False
