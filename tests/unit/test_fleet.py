"""Fleet logic without a coordinator: leases, health, tag selection, durations, exporter resources."""
from __future__ import annotations

import time

import pytest

from sisctl.board.spec import BoardSpec, ConsoleSpec, LabPlace
from sisctl.config import ConfigError
from sisctl.errors import UsageError
from sisctl.fleet.claims import parse_tags
from sisctl.duration import parse_duration
from sisctl.fleet.holder import Holder, pid_of
from sisctl.fleet.export import console_resources, place_tags
from sisctl.fleet.health import check_due, health_tags
from sisctl.fleet.inventory import row
from sisctl.fleet.lease import lease_deadline, lease_expired, lease_of, lease_tags
from sisctl.fleet.session import Place

HOLDER = Holder(job="4711", host="labhost", pid=1234, since=1000.0)


def held_place(**tags) -> Place:
    return Place("b1", tags=tags, acquired=HOLDER.identity, reservation="TOKEN", changed=1000.0)


def test_identity_names_host_and_pid_and_parses_back():
    assert HOLDER.identity.startswith("labhost/sisctl-")
    assert pid_of(HOLDER.identity) == ("labhost", 1234)
    assert pid_of("labhost/alice") is None          # a person's lock is never reaped


def test_a_lease_counts_only_for_the_current_holder():
    tags = lease_tags(HOLDER, "TOKEN", until=1060.0)
    place = held_place(**tags)
    lease = lease_of(place)
    assert (lease.job, lease.host, lease.pid, lease.until) == ("4711", "labhost", 1234, 1060.0)
    assert not lease_expired(place, now=1059.0, lease_s=60)
    assert lease_expired(place, now=1061.0, lease_s=60)
    successor = Place("b1", tags=tags, acquired="otherhost/sisctl-ci-99", changed=2000.0)
    assert lease_of(successor) is None                           # stale tags of the one before
    assert lease_deadline(successor, lease_s=60) == 2060.0       # the lock's own time stands in


def test_locks_that_are_not_sisctls_and_idle_places_never_expire():
    assert not lease_expired(Place("b1", acquired="host/alice", changed=0.0), now=1e12, lease_s=60)
    assert not lease_expired(Place("b1"), now=1e12, lease_s=60)


def test_health_decides_eligibility_and_when_a_check_is_due():
    assert health_tags("good")["eligible"] == "yes"
    assert health_tags("unknown")["eligible"] == "yes"
    for state in ("bad", "maintenance", "retired"):
        assert health_tags(state, "why")["eligible"] == "no"
    with pytest.raises(ValueError):
        health_tags("looping-forever")
    good = health_tags("good", checked=1000.0)
    assert not check_due(good, every_jobs=3, every_hours=1, now=1000.0 + 60)
    assert check_due({**good, "jobs_since_check": "3"}, every_jobs=3, every_hours=1, now=1060.0)
    assert check_due(good, every_jobs=3, every_hours=1, now=1000.0 + 3601)
    assert check_due(health_tags("unknown"), every_jobs=3, every_hours=1, now=0)
    assert not check_due(health_tags("bad", "x"), every_jobs=3, every_hours=1, now=0)


def test_board_selection_by_tags():
    assert parse_tags("type=rpi4,host=lab1") == {"type": "rpi4", "host": "lab1"}
    for bad in ("", "type", "type=", "=rpi4"):
        with pytest.raises(UsageError):
            parse_tags(bad)


@pytest.mark.parametrize("text,seconds", [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("0.5", 0.5)])
def test_durations(text, seconds):
    assert parse_duration(text, "--wait") == seconds


@pytest.mark.parametrize("text", ["soon", "-5m", "m"])
def test_bad_durations_name_the_option(text):
    with pytest.raises(UsageError, match="--wait"):
        parse_duration(text, "--wait")


def test_exporter_resources_follow_the_console_url():
    def spec(url):
        return BoardSpec("b1", console=ConsoleSpec(url=url), lab=LabPlace("lab1", {"type": "rpi4"}))
    assert console_resources(spec("rfc2217://ser2net:4001?ign_set_control")) == (
        {"NetworkSerialPort": {"host": "ser2net", "port": 4001, "speed": 115200, "protocol": "rfc2217"}},
        ["NetworkSerialPort"])
    assert console_resources(spec("socket://10.0.0.5:5000"))[0]["NetworkSerialPort"]["protocol"] == "raw"
    assert console_resources(spec("/dev/ttyUSB0")) == ({"RawSerialPort": {"port": "/dev/ttyUSB0", "speed": 115200}}, [])
    assert console_resources(spec("qemu")) == ({}, [])
    assert place_tags(spec("qemu")) == {"type": "rpi4", "host": "lab1"}


def test_a_board_exported_from_another_folder_is_checked_from_its_file(tmp_path):
    """The health check is given the place's board file when it is not in boards/ (a board file by
    name would not be found); the place keeps no such tag for a board in boards/."""
    from sisctl.board.spec import load_board
    from sisctl.fleet.health import checked
    from sisctl.paths import PROJECT
    outside = tmp_path / "qemu-virt-0.yaml"
    outside.write_text((PROJECT / "boards" / "qemu-virt-0.yaml").read_text() + "lab: {host: lab1}\n")
    tags = place_tags(load_board(outside))
    assert tags == {"host": "lab1", "board_file": str(outside.resolve())}
    seen = []
    assert checked("qemu-virt-0", tags, "manual", lambda board: seen.append(board) or (True, "")) == (True, "")
    assert seen == [str(outside.resolve())]
    inside = load_board(PROJECT / "boards" / "rpi4-01.yaml")
    inside.lab = LabPlace("lab1", {})
    assert place_tags(inside) == {"host": "lab1"}


@pytest.mark.parametrize("key", ["Type", "eligible", "health", "lease_until", "x", "board_file"])
def test_tag_keys_labgrid_or_sisctl_would_reject_name_the_file_and_key(key):
    spec = BoardSpec("b1", lab=LabPlace("lab1", {key: "v"}))
    spec.source = "boards/b1.yaml"
    with pytest.raises(ConfigError, match=f"boards/b1.yaml: key 'lab.tags.{key}'"):
        place_tags(spec)


def test_inventory_row_shows_state_health_and_holder():
    place = held_place(type="rpi4", host="lab1", **health_tags("good", checked=900.0),
                       **lease_tags(HOLDER, "TOKEN", until=1060.0))
    r = row(place)
    assert (r["state"], r["health"], r["lab_host"], r["tags"]) == ("running", "good", "lab1", {"type": "rpi4"})
    assert r["holder"] == {"job": "4711", "host": "labhost", "pid": 1234, "since": 1000.0, "lease_until": 1060.0}
    assert row(Place("b2", reservation="T"))["state"] == "reserved"
    assert row(Place("b3"))["state"] == "idle"


class RecordingSession:
    """Stands in for the coordinator session: one place held by `holder`, every call recorded."""

    def __init__(self, holder: str, **tags):
        self.place = Place("b1", tags=dict(tags), acquired=holder, reservation="TOKEN")
        self.calls: list[tuple] = []

    def places(self):
        return {"b1": self.place}

    def set_tags(self, name, tags):
        self.calls.append(("set_tags", name, tags))

    def cancel(self, token):
        self.calls.append(("cancel", token))

    def release(self, name, from_holder=None):
        self.calls.append(("release", name, from_holder))

    def close(self):
        self.calls.append(("close",))

    withdrawn = None          # what the exporter did to a held resource, if anything

    def resource_lost_since(self, resources, since):
        return self.withdrawn


def holding(**tags):
    from sisctl.labfile import CoordinatorSpec
    from sisctl.fleet.hold import BoardHold
    hold = BoardHold("127.0.0.1:1", CoordinatorSpec(), {"name": "b1"}, "b1", wait_s=0)
    hold.session = RecordingSession(hold.holder.identity, **tags)
    hold.place, hold.token = "b1", "TOKEN"
    return hold


def test_release_cancels_the_reservation_before_unlocking_and_counts_the_job():
    hold = holding(**health_tags("good", checked=1.0))
    hold.release(None)
    names = [c[0] for c in hold.session.calls]
    assert names == ["set_tags", "cancel", "release", "close"]
    assert hold.session.calls[0][2] == {"jobs_since_check": "1"}
    assert hold.session.calls[2] == ("release", "b1", hold.holder.identity)   # only if still ours


def test_a_job_whose_exporter_withdrew_its_resource_is_an_infrastructure_error_though_it_passed():
    from sisctl.fleet.hold import ExporterLost
    hold = holding(**health_tags("good", checked=1.0))
    hold.session.withdrawn = "resource labhost/b1/NetworkSerialPort/NetworkSerialPort was withdrawn"
    with pytest.raises(ExporterLost, match="b1: resource .* withdrawn"):
        hold.release(None)                   # the job itself ended well
    assert hold.session.calls[0][2]["health"] == "unknown"
    assert [c[0] for c in hold.session.calls][1:] == ["cancel", "release", "close"]


def test_an_infrastructure_error_in_a_job_makes_the_board_unknown_a_test_failure_does_not():
    from sisctl.board.errors import ConsoleLost
    from sisctl.errors import TestFailure
    hold = holding(**health_tags("good", checked=1.0))
    hold.release(ConsoleLost("b1", "the console closed"))
    tags = hold.session.calls[0][2]
    assert tags["health"] == "unknown" and "the console closed" in tags["health_reason"]
    hold = holding(**health_tags("good", checked=1.0))
    hold.release(TestFailure("a violation"))
    assert "health" not in hold.session.calls[0][2]


def test_a_lease_lost_while_the_job_ran_is_an_infrastructure_error_whatever_the_job_did():
    from sisctl.fleet.session import CoordinatorLost
    hold = holding()
    hold.session.place.acquired = "elsewhere/sisctl-ci-7"      # the reaper gave it to someone else
    with pytest.raises(CoordinatorLost, match="no longer shows this job"):
        hold.release(None)
    assert ("release", "b1", hold.holder.identity) in hold.session.calls   # never unlocks the new holder's


def test_a_busy_board_names_its_holder():
    from sisctl.fleet.hold import describe_holder
    place = held_place(**lease_tags(HOLDER, "TOKEN", until=1060.0))
    assert describe_holder(place).startswith("job 4711, pid 1234 on labhost since ")
    assert describe_holder(Place("b1", acquired="labhost/alice")) == "labhost/alice"


def test_a_held_resource_withdrawn_by_its_exporter_is_noticed_only_after_the_lock():
    from labgrid.remote.generated import labgrid_coordinator_pb2 as pb
    from sisctl.fleet.session import CoordinatorSession
    session = object.__new__(CoordinatorSession)          # the bookkeeping only, no connection
    session.resource_events = {}
    held = ["labhost/b1/NetworkSerialPort/NetworkSerialPort"]
    update = pb.ClientOutMessage().updates.add()
    update.resource.path.exporter_name, update.resource.path.group_name = "labhost", "b1"
    update.resource.path.resource_name, update.resource.avail = "NetworkSerialPort", True
    session._note_resource(update)                         # an available resource is no event
    assert session.resource_lost_since(held, 0.0) is None
    gone = pb.ClientOutMessage().updates.add()
    gone.del_resource.exporter_name, gone.del_resource.group_name = "labhost", "b1"
    gone.del_resource.resource_name = "NetworkSerialPort"
    session._note_resource(gone)
    assert "withdrawn by its exporter" in session.resource_lost_since(held, 0.0)
    assert session.resource_lost_since(held, since=time.time() + 60) is None     # before the lock: not ours
    assert session.resource_lost_since(["labhost/b2/NetworkSerialPort/NetworkSerialPort"], 0.0) is None
    update.resource.avail = False
    session.resource_events.clear()
    session._note_resource(update)
    assert "unavailable" in session.resource_lost_since(held, 0.0)


def test_holding_a_tag_selection_again_shares_the_board_it_took(monkeypatch):
    from types import SimpleNamespace
    from sisctl.fleet import claims
    claim = claims._Claim(SimpleNamespace(lost=None), 1)
    monkeypatch.setattr(claims, "_selected", {"type=qemu": "b1"})
    monkeypatch.setattr(claims, "_claims", {"b1": claim})
    with claims.held("tag:type=qemu"):        # no new hold (and no coordinator call) for the same board
        assert claim.depth == 2
    assert claim.depth == 1


@pytest.mark.parametrize("text,option,limits,seconds", [("1d", "--since", {}, 86400), ("2w", "--since", {}, 1209600),
                                                        ("1e3", "--wait", {}, 1000), ("10", "--budget", {"at_least": 10}, 10)])
def test_one_duration_parser_for_every_option(text, option, limits, seconds):
    assert parse_duration(text, option, **limits) == seconds


@pytest.mark.parametrize("text,limits,problem", [("0s", {"above": 0}, "more than 0 s"), ("9", {"at_least": 10}, "at least 10 s"),
                                                 ("nan", {}, "such as 90s"), ("inf", {}, "such as 90s"), (True, {}, "such as 90s")])
def test_a_bad_duration_says_what_was_expected(text, limits, problem):
    with pytest.raises(UsageError, match=f"--opt: expected a duration .*{problem}"):
        parse_duration(text, "--opt", **limits)
