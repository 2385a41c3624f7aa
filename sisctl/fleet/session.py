"""One client session with a labgrid coordinator over gRPC (labgrid's own generated stubs).

The coordinator knows a client by its connection: a streaming call opens the session and names
it `host/user`; places are then locked and reservations made in that name. The channel gets its
own connection (a local subchannel pool), so two sessions in one process never share one.
Any call that cannot reach the coordinator, or finds the session gone (it restarted), raises
CoordinatorLost: an infrastructure error, never a verdict on the kernel.

The coordinator tells every client when an exporter's resource goes away (the exporter stopped,
restarted or lost its connection) or becomes unavailable; the session keeps the time of the last
such event per resource, so a job holding that resource can tell it was hit.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

import grpc
from labgrid.remote.generated import labgrid_coordinator_pb2 as pb
from labgrid.remote.generated import labgrid_coordinator_pb2_grpc as pb_grpc
from labgrid.util.version import labgrid_version

from sisctl.errors import InfrastructureError

CALL_TIMEOUT_S = 10.0
CHANNEL_OPTIONS = [
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.keepalive_time_ms", 7500),
    ("grpc.keepalive_timeout_ms", 10000),
    ("grpc.http2.ping_timeout_ms", 10000),
    ("grpc.http2.max_pings_without_data", 0),
]
RESERVATION_STATES = ("waiting", "allocated", "acquired", "expired", "invalid")


class CoordinatorLost(InfrastructureError):
    """The coordinator cannot be reached, or forgot this session (a restart loses every lock)."""


class CoordinatorRefused(InfrastructureError):
    """The coordinator answered but refused the request (a place already locked, a token unknown)."""

    def __init__(self, message: str, code: grpc.StatusCode):
        super().__init__(message)
        self.code = code


@dataclass
class Place:
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    acquired: str | None = None          # 'host/user' of the lock holder
    reservation: str | None = None       # token of the reservation the place is allocated to
    changed: float = 0.0
    comment: str = ""
    matches: list[str] = field(default_factory=list)
    acquired_resources: list[str] = field(default_factory=list)   # exporter resources the lock took


@dataclass
class Reservation:
    token: str
    owner: str
    state: str
    prio: float
    place: str | None
    filters: dict[str, str]
    created: float


class CoordinatorSession:
    def __init__(self, address: str, name: str, connect_timeout_s: float = 5.0):
        self.address, self.name = address, name
        self._out: queue.Queue = queue.Queue()
        self._synced = threading.Event()
        self.lost = threading.Event()
        self.resource_events: dict[tuple[str, str, str], tuple[float, str]] = {}   # (exporter, group, name)
        self._channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        self._stub = pb_grpc.CoordinatorStub(self._channel)
        self._stream = self._stub.ClientStream(iter(self._out.get, None))
        self._reader = threading.Thread(target=self._read, name="coordinator-session", daemon=True)
        self._reader.start()
        startup = pb.ClientInMessage()
        startup.startup.version = labgrid_version()
        startup.startup.name = name
        self._out.put(startup)
        sync = pb.ClientInMessage()
        sync.sync.id = 1
        self._out.put(sync)
        if not self._synced.wait(connect_timeout_s) or self.lost.is_set():
            self.close()
            raise CoordinatorLost(f"labgrid coordinator at {address} did not answer within {connect_timeout_s:.0f} s")

    def _read(self) -> None:
        try:
            for message in self._stream:
                if message.HasField("sync"):
                    self._synced.set()
                for update in message.updates:
                    self._note_resource(update)
        except grpc.RpcError:
            pass
        finally:
            self.lost.set()
            self._synced.set()

    def _note_resource(self, update) -> None:
        kind = update.WhichOneof("kind")
        if kind == "del_resource":
            path, what = update.del_resource, "withdrawn by its exporter (stopped or restarted)"
        elif kind == "resource" and not update.resource.avail:
            path, what = update.resource.path, "reported unavailable by its exporter"
        else:
            return
        self.resource_events[(path.exporter_name, path.group_name, path.resource_name)] = (time.time(), what)

    def resource_lost_since(self, resources: list[str], since: float) -> str | None:
        """What happened to one of `resources` ('exporter/group/class/name', as a place lists its
        acquired ones) after `since`, or None."""
        for resource in resources:
            parts = resource.split("/")
            event = self.resource_events.get((parts[0], parts[1], parts[-1])) if len(parts) >= 3 else None
            if event and event[0] >= since:
                return f"resource {resource} was {event[1]}"
        return None

    def close(self) -> None:
        self._out.put(None)
        self._stream.cancel()
        self._channel.close()
        self._reader.join(2)

    def __enter__(self) -> "CoordinatorSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method: str, request):
        if self.lost.is_set():
            raise CoordinatorLost(f"the session with the labgrid coordinator at {self.address} was lost "
                                  "(did it restart? every lock and reservation is gone)")
        try:
            return getattr(self._stub, method)(request, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as err:
            code = err.code()
            details = err.details() or str(code)
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                        grpc.StatusCode.CANCELLED) or "valid session" in details:
                self.lost.set()
                raise CoordinatorLost(f"labgrid coordinator at {self.address}: {details}") from None
            raise CoordinatorRefused(f"labgrid coordinator at {self.address}: {details}", code) from None

    # --- places ------------------------------------------------------------------
    def places(self) -> dict[str, Place]:
        reply = self._call("GetPlaces", pb.GetPlacesRequest())
        return {p.name: Place(p.name, dict(p.tags), p.acquired if p.HasField("acquired") else None,
                              p.reservation if p.HasField("reservation") else None, p.changed, p.comment,
                              [f"{m.exporter}/{m.group}/{m.cls}" + (f"/{m.name}" if m.HasField("name") else "")
                               for m in p.matches], list(p.acquired_resources))
                for p in reply.places}

    def add_place(self, name: str) -> None:
        self._call("AddPlace", pb.AddPlaceRequest(name=name))

    def add_match(self, place: str, pattern: str) -> None:
        self._call("AddPlaceMatch", pb.AddPlaceMatchRequest(placename=place, pattern=pattern))

    def set_tags(self, place: str, tags: dict[str, str]) -> None:
        """Set these tags; an empty value deletes the tag. Other tags stay."""
        self._call("SetPlaceTags", pb.SetPlaceTagsRequest(placename=place, tags=tags))

    def set_comment(self, place: str, comment: str) -> None:
        self._call("SetPlaceComment", pb.SetPlaceCommentRequest(placename=place, comment=comment))

    def acquire(self, place: str) -> None:
        self._call("AcquirePlace", pb.AcquirePlaceRequest(placename=place))

    def release(self, place: str, from_holder: str | None = None) -> None:
        """Unlock a place; with `from_holder`, only if that holder still has it (atomic on the coordinator)."""
        request = pb.ReleasePlaceRequest(placename=place)
        if from_holder:
            request.fromuser = from_holder
        self._call("ReleasePlace", request)

    # --- reservations ----------------------------------------------------------
    def reserve(self, filters: dict[str, str], prio: float) -> Reservation:
        request = pb.CreateReservationRequest(filters={"main": pb.Reservation.Filter(filter=filters)}, prio=prio)
        return _reservation(self._call("CreateReservation", request).reservation)

    def poll(self, token: str) -> Reservation:
        return _reservation(self._call("PollReservation", pb.PollReservationRequest(token=token)).reservation)

    def cancel(self, token: str) -> None:
        self._call("CancelReservation", pb.CancelReservationRequest(token=token))

    def reservations(self) -> list[Reservation]:
        return [_reservation(r) for r in self._call("GetReservations", pb.GetReservationsRequest()).reservations]


def _reservation(r) -> Reservation:
    return Reservation(r.token, r.owner, RESERVATION_STATES[r.state], r.prio, r.allocations.get("main"),
                       dict(r.filters["main"].filter) if "main" in r.filters else {}, r.created)
