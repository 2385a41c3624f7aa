"""Holding a board through the coordinator: reserve (wait, priority), lock, keep a lease, hand over.

Handing over: the reservation is cancelled before the lock is released, so the coordinator
allocates the place to the next waiter at once (the other order leaves it to a 15 s poll).
A lease lost while the job ran (the coordinator restarted, the reaper took the board back), or a
resource of the board withdrawn by its exporter (the exporter restarted), makes the job an
infrastructure error whatever its own result was: nothing it saw is to be trusted.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from sisctl.errors import BoardBusy, BoardError, InfrastructureError, UsageError
from sisctl.fleet.holder import Holder, this_process
from sisctl.labfile import CoordinatorSpec
from sisctl.fleet.health import TAKES_JOBS, check_due, checked, health_of, health_tags
from sisctl.fleet.lease import lease_of, lease_tags
from sisctl.fleet.reaper import reap
from sisctl.fleet.session import CoordinatorLost, CoordinatorRefused, CoordinatorSession, Place

REAP_EVERY_S = 2.0

HealthCheck = Callable[[str], tuple[bool, str]]    # board name or file -> (passed, why not)


class ExporterLost(InfrastructureError):
    """A resource of the held board was withdrawn or unavailable while the job ran."""


class NotInFleet(UsageError):
    """The board is no place on the coordinator."""


def describe_holder(place: Place) -> str:
    lease = lease_of(place)
    if lease:
        job = f"job {lease.job}, " if lease.job else ""
        return f"{job}pid {lease.pid} on {lease.host} since {time.strftime('%H:%M:%S', time.localtime(lease.since))}"
    return place.acquired or "a reservation"


class BoardHold:
    def __init__(self, address: str, spec: CoordinatorSpec, filters: dict[str, str], what: str,
                 wait_s: float, priority: float = 0.0, health_check: HealthCheck | None = None,
                 progress: Callable[[str], None] = lambda _: None, any_health: bool = False):
        """`any_health`: hold the board whatever its health (to check it); else only a board that takes jobs."""
        self.address, self.spec, self.filters, self.what = address, spec, filters, what
        self.any_health = any_health
        self.wait_s, self.priority, self.health_check, self.progress = wait_s, priority, health_check, progress
        self.holder: Holder = this_process()
        self.session: CoordinatorSession | None = None
        self.place: str | None = None
        self.token = ""
        self.lost: InfrastructureError | None = None
        self.resources: list[str] = []       # the exporter resources the lock took
        self.locked_at = 0.0
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    # --- taking the board --------------------------------------------------------
    def acquire(self) -> str:
        self.session = CoordinatorSession(self.address, self.holder.identity, self.spec.connect_timeout_s)
        try:
            self._check_named_place()
            deadline = time.monotonic() + self.wait_s
            while True:
                self._lock_next(deadline)
                self._start_heartbeat()        # from the lock on: a health check may take minutes
                if self._healthy_or_checked():
                    break
                self._stop_heartbeat()
                self._hand_back()
            return self.place
        except BaseException:
            self._stop_heartbeat()
            self._hand_back()
            self.session.close()
            raise

    def _check_named_place(self) -> None:
        name = self.filters.get("name")
        if not name:
            return
        place = self.session.places().get(name)
        if place is None:
            raise NotInFleet(f"{name} is not a place on the coordinator at {self.address}; "
                             "run 'invoke fleet.export --host HOST' for its lab host")
        if health_of(place.tags) not in TAKES_JOBS and not self.any_health:
            raise BoardError(name, f"health is {health_of(place.tags)} ({place.tags.get('health_reason', '-')}): "
                             "it gets no jobs; see 'invoke fleet.list'")

    def _lock_next(self, deadline: float) -> None:
        """Wait for the coordinator to allocate a matching place to us, then lock it."""
        filters = self.filters if self.any_health else {**self.filters, "eligible": "yes"}
        reservation = self.session.reserve(filters, self.priority)
        self.token = reservation.token
        next_reap = 0.0
        while True:
            if reservation.state == "allocated" and reservation.place:
                try:
                    self.locked_at = time.time()
                    self.session.acquire(reservation.place)
                    self.place = reservation.place
                    self.resources = self.session.places()[self.place].acquired_resources
                    self.session.set_tags(self.place, lease_tags(self.holder, self.token,
                                                                 time.time() + self.spec.lease_s))
                    self.progress(f"{self.place}: held through the coordinator at {self.address}")
                    return
                except CoordinatorRefused:
                    pass                        # locked by hand meanwhile: keep waiting
            if reservation.state in ("expired", "invalid"):
                reservation = self.session.reserve(filters, self.priority)
                self.token = reservation.token
            if time.monotonic() >= deadline:
                raise BoardBusy(self.what, self._busy_message())
            if time.monotonic() >= next_reap:
                reap(self.session, self.spec.lease_s, self.progress)
                next_reap = time.monotonic() + REAP_EVERY_S
            time.sleep(self.spec.poll_s)
            reservation = self.session.poll(self.token)

    def _busy_message(self) -> str:
        matching = [p for p in self.session.places().values()
                    if all(p.tags.get(k) == v or (k == "name" and p.name == v) for k, v in self.filters.items())]
        held = [f"{p.name} by {describe_holder(p)}" for p in matching if p.acquired or p.reservation]
        idle_bad = [f"{p.name} ({health_of(p.tags)})" for p in matching if health_of(p.tags) not in TAKES_JOBS]
        text = f"still held after waiting {self.wait_s:.0f} s: " + ("; ".join(held) or "no matching board")
        return text + (f"; out of service: {', '.join(idle_bad)}" if idle_bad else "")

    def _healthy_or_checked(self) -> bool:
        """A board whose health is unknown, or whose check is due, is checked before the job."""
        tags = self.session.places()[self.place].tags
        if self.health_check is None or not check_due(tags, self.spec.health_every_jobs,
                                                       self.spec.health_every_hours):
            return True
        self.progress(f"{self.place}: health {health_of(tags)}; running its health check first")
        trigger = "unknown" if health_of(tags) == "unknown" else "due"
        passed, why = checked(self.place, tags, trigger, self.health_check)
        self.session.set_tags(self.place, health_tags("good" if passed else "bad", why, checked=time.time()))
        if not passed and "name" in self.filters:
            raise BoardError(self.place, f"failed its health check ({why}); it gets no jobs")
        return passed

    # --- while the job runs --------------------------------------------------------
    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self.lost = None
        self._heartbeat = threading.Thread(target=self._renew, name=f"lease-{self.place}", daemon=True)
        self._heartbeat.start()

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._heartbeat:
            self._heartbeat.join(5)
        self._heartbeat = None

    def _renew(self) -> None:
        while not self._stop.wait(self.spec.lease_s / 4):
            try:
                place = self.session.places().get(self.place)
                if place is None or place.acquired != self.holder.identity:
                    raise CoordinatorLost(f"{self.place}: the coordinator no longer shows this job as its holder "
                                          f"(now: {place.acquired if place else 'no such place'})")
                if self.lost is None:
                    try:
                        self._check_resources()
                    except ExporterLost as err:     # the lease is kept; the job's result will not count
                        self.lost = err
                self.session.set_tags(self.place, {"lease_until": f"{time.time() + self.spec.lease_s:.0f}"})
            except InfrastructureError as err:
                self.lost = err
                return

    def _check_resources(self) -> None:
        """An exporter that restarted under the job: the board's console or power went away meanwhile."""
        what = self.session.resource_lost_since(self.resources, self.locked_at)
        if what:
            raise ExporterLost(f"{self.place}: {what} while the job ran")

    # --- giving it back ----------------------------------------------------------------
    def release(self, error: BaseException | None = None) -> None:
        """Hand the board over; raises CoordinatorLost if the lease was lost while the job ran, or
        ExporterLost if the board's exporter withdrew one of its resources meanwhile."""
        name = self.place
        self._stop_heartbeat()
        try:
            if self.place and (self.lost is None or isinstance(self.lost, ExporterLost)):
                try:
                    self._check_resources()
                except ExporterLost as err:
                    self.lost = err
                self._record_job(self.lost or error)    # an infrastructure error makes its health unknown
        except InfrastructureError as err:
            self.lost = err
        finally:
            self._hand_back()
            self.session.close()
        if isinstance(self.lost, ExporterLost):
            raise self.lost from error
        if self.lost is not None:
            raise CoordinatorLost(f"{name}: lost the board while the job ran: {self.lost}") from error

    def _record_job(self, error: BaseException | None) -> None:
        place = self.session.places().get(self.place)
        if place is None or place.acquired != self.holder.identity:
            raise CoordinatorLost(f"the coordinator no longer shows this job as the holder of {self.place}")
        tags = {"jobs_since_check": str(int(place.tags.get("jobs_since_check", "0") or 0) + 1)}
        if isinstance(error, InfrastructureError) and not isinstance(error, (BoardBusy, CoordinatorLost)) \
                and health_of(place.tags) == "good":
            tags.update(health_tags("unknown", f"infrastructure error in a job: {str(error).splitlines()[0][:120]}"))
        self.session.set_tags(self.place, tags)

    def _hand_back(self) -> None:
        """Cancel the reservation, then unlock: the next waiter gets the board at once."""
        for call in (lambda: self.session.cancel(self.token) if self.token else None,
                     lambda: self.session.release(self.place, from_holder=self.holder.identity)
                     if self.place else None):
            try:
                call()
            except (CoordinatorRefused, CoordinatorLost):
                pass
        self.token, self.place = "", None
