"""The fleet on a real labgrid coordinator and exporter on loopback, driven through the CLI by
concurrent processes: no double booking, dead holders and waiters cleared, health obeyed and
written to a real database, a coordinator or exporter restart mid-job reported as an
infrastructure error, --wait and --priority on the board tasks."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from sisctl.fleet.embedded import EmbeddedCoordinator, labgrid_tool
from sisctl.fleet.health import health_tags
from sisctl.fleet.session import CoordinatorSession
from sisctl.net import free_port
from sisctl.telemetry.tsdb import EmbeddedTsdb
from sisctl.paths import PROJECT
from tests.conftest import new_folder

INVOKE = str(PROJECT / ".venv" / "bin" / "invoke")
LEASE_S = 4.0
HOST = "labhost-a"


def invoke(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([INVOKE, *args], cwd=PROJECT, capture_output=True, text=True, timeout=timeout)


STARTED: list[subprocess.Popen] = []   # every job a test starts; stopped after each test, whatever its outcome


def start_invoke(*args: str) -> subprocess.Popen:
    job = subprocess.Popen([INVOKE, *args], cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    STARTED.append(job)
    return job


@pytest.fixture(autouse=True)
def no_job_outlives_its_test():
    yield
    while STARTED:
        job = STARTED.pop()
        if job.poll() is None:
            job.kill()
        job.communicate()


def wait_until(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (value := condition()):
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def real_board(name: str, port: int) -> dict:
    return {"name": name, "console": {"url": f"socket://127.0.0.1:{port}", "open_timeout_s": 1},
            "power": {"model": "manual"}, "boot": {"method": "uboot"},
            "lab": {"host": HOST, "tags": {"type": "shelf"}}}


def qemu_board(name: str) -> dict:
    data = yaml.safe_load((PROJECT / "boards" / f"{name}.yaml").read_text())
    return {**data, "lab": {"host": HOST, "tags": {"type": "qemu"}}}


class Lab:
    def __init__(self, root: Path):
        self.root = root
        self.address = f"127.0.0.1:{free_port()}"
        self.coordinator = EmbeddedCoordinator(self.address, root / "coordinator")
        self.exporter: subprocess.Popen | None = None
        self.exporter_config: Path | None = None
        self.tsdb = EmbeddedTsdb(f"127.0.0.1:{free_port()}", root / "tsdb")

    def session(self) -> CoordinatorSession:
        return CoordinatorSession(self.address, "test/observer")

    def places(self):
        with self.session() as session:
            return session.places()

    def reservations(self):
        with self.session() as session:
            return session.reservations()

    def resources(self) -> str:
        """What exporters offer, as labgrid's own client lists it."""
        return subprocess.run([labgrid_tool("labgrid-client"), "-x", self.address, "resources"],
                              capture_output=True, text=True, timeout=30).stdout

    def health_points(self, board: str, count: int) -> list[tuple[dict, float]]:
        """(tags, good) of `board`'s fleet_health points in the lab's database, waiting up to 30 s for
        `count` of them (a point becomes visible a moment after its write is acknowledged)."""
        def points():
            return [(series["metric"], value) for series in self.tsdb.export('{__name__="fleet_health_good"}')
                    for value in series["values"] if series["metric"]["board"] == board]
        deadline = time.monotonic() + 30
        while len(found := points()) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        return found

    def restart_exporter(self) -> None:
        self.exporter.terminate()
        self.exporter.wait(10)
        self.start_exporter(self.exporter_config)

    def start_exporter(self, config: Path) -> None:
        self.exporter_config = config
        self.exporter = subprocess.Popen([labgrid_tool("labgrid-exporter"), "-c", self.address, "-n", HOST, str(config)],
                                         stdout=subprocess.DEVNULL, stderr=open(self.root / "exporter.log", "wb"))

    def stop(self) -> None:
        if self.exporter:
            self.exporter.terminate()
            self.exporter.wait(10)
        self.coordinator.stop()
        self.tsdb.stop()


@pytest.fixture(scope="module")
def fleet_lab(board, tmp_path_factory):
    """A coordinator, the exporter of lab host labhost-a and its boards' places: two shelf boards with
    network consoles (their files only in the exported folder), and the QEMU boards qemu-virt-0 and
    qemu-virt-tiny."""
    root = tmp_path_factory.mktemp("fleet")
    lab = Lab(root)
    boards = root / "boards"
    boards.mkdir()
    for data in (real_board("shelf-01", free_port()), real_board("shelf-02", free_port()),
                 qemu_board("qemu-virt-0"), qemu_board("qemu-virt-tiny")):
        (boards / f"{data['name']}.yaml").write_text(yaml.safe_dump(data))
    (root / "lab.yaml").write_text(yaml.safe_dump({"coordinator": {"lease_s": LEASE_S, "poll_s": 0.2,
                                                                  "health_every_jobs": 1000},
                                                  "tsdb": {"url": lab.tsdb.url, "durable_after_s": 0.5}}))
    saved = {k: os.environ.get(k) for k in ("SISCTL_COORDINATOR", "SISCTL_LAB")}
    os.environ.update(SISCTL_COORDINATOR=lab.address, SISCTL_LAB=str(root / "lab.yaml"))
    lab.coordinator.start()
    lab.tsdb.start()
    try:
        yield lab, boards
    finally:
        lab.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_export_writes_the_exporter_config_and_places_whose_locks_take_its_resources(fleet_lab):
    lab, boards = fleet_lab
    config = lab.root / "exporter.yaml"
    done = invoke("fleet.export", "--host", HOST, "--boards", str(boards), "--output", str(config))
    assert done.returncode == 0, done.stderr
    exported = yaml.safe_load(config.read_text())
    assert set(exported) == {"shelf-01", "shelf-02"}          # QEMU boards have no resources of their own
    assert exported["shelf-01"]["NetworkSerialPort"]["protocol"] == "raw"
    places = lab.places()
    assert set(places) == {"shelf-01", "shelf-02", "qemu-virt-0", "qemu-virt-tiny"}
    assert places["shelf-01"].tags["type"] == "shelf" and places["shelf-01"].tags["health"] == "unknown"
    assert places["shelf-01"].matches == [f"{HOST}/shelf-01/NetworkSerialPort"]
    lab.start_exporter(config)
    wait_until(lambda: f"{HOST}/shelf-01/NetworkSerialPort" in lab.resources(), 30, "the exporter's resources")
    with lab.session() as session:     # an earlier health check passed for the shelf boards
        for name in ("shelf-01", "shelf-02"):
            session.set_tags(name, health_tags("good", checked=time.time()))
    holder = start_invoke("fleet.hold", "--board", "shelf-01", "--seconds", "120")
    try:
        place = wait_until(lambda: (p := lab.places()["shelf-01"]).acquired and p, 20, "shelf-01 locked")
        assert place.acquired_resources == [f"{HOST}/shelf-01/NetworkSerialPort/NetworkSerialPort"]
        listed = json.loads(invoke("fleet.list", "--json").stdout)
        row = next(r for r in listed if r["board"] == "shelf-01")
        assert row["state"] == "running" and row["holder"]["pid"] == holder.pid and row["lab_host"] == HOST
    finally:
        holder.terminate()                  # as a cancelled CI job is: the board is handed back
        assert holder.wait(30) == 130, holder.stderr.read()
    assert not lab.places()["shelf-01"].acquired and lab.reservations() == []


def test_sixteen_jobs_from_concurrent_processes_on_two_boards_never_overlap(fleet_lab):
    lab, _ = fleet_lab
    jobs = [start_invoke("fleet.hold", "--board", "tag:type=shelf", "--seconds", "0.3") for _ in range(16)]
    results = []
    for job in jobs:
        out, err = job.communicate(timeout=180)
        assert job.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    by_board: dict[str, list] = {}
    for r in results:
        by_board.setdefault(r["board"], []).append((r["held_from"], r["held_until"]))
    assert set(by_board) == {"shelf-01", "shelf-02"}
    gaps = []
    for spans in by_board.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert start >= end, f"double booking: {spans}"
            gaps.append(start - end)
    print(f"handover to a waiting job: min {min(gaps):.3f} s, median {sorted(gaps)[len(gaps) // 2]:.3f} s")
    assert min(gaps) < 1.0                # a waiter gets the board at once, not at the next 15 s poll
    assert not any(p.acquired or p.reservation for p in lab.places().values())
    assert lab.reservations() == []


def test_an_exporter_restart_mid_job_is_an_infrastructure_error(fleet_lab):
    lab, _ = fleet_lab
    calm = invoke("fleet.hold", "--board", "shelf-01", "--", "sleep", "2")
    assert calm.returncode == 0, calm.stderr           # the same job with no restart passes
    job = start_invoke("fleet.hold", "--board", "shelf-01", "--", "sleep", "8")
    wait_until(lambda: lab.places()["shelf-01"].acquired_resources, 20, "shelf-01 locked with its console")
    lab.restart_exporter()
    out, err = job.communicate(timeout=60)
    last = err.strip().splitlines()[-1]
    assert job.returncode == 75, err
    assert "shelf-01: resource labhost-a/shelf-01/NetworkSerialPort" in last and "exporter" in last, last
    assert lab.places()["shelf-01"].tags["health"] == "unknown"      # checked before its next job
    wait_until(lambda: f"{HOST}/shelf-01/NetworkSerialPort" in lab.resources(), 30, "the exporter back")
    with lab.session() as session:
        session.set_tags("shelf-01", health_tags("good", checked=time.time()))


def test_board_tasks_wait_and_queue_as_their_options_say(fleet_lab):
    lab, boards = fleet_lab
    shelf = str(boards / "shelf-01.yaml")
    holder = start_invoke("fleet.hold", "--board", "shelf-01", "--seconds", "120")
    try:
        wait_until(lambda: lab.places()["shelf-01"].acquired, 20, "shelf-01 held")
        waiter = start_invoke("console", "--board", shelf, "--wait", "3s", "--priority", "7")
        mine = lambda: [r for r in lab.reservations() if r.owner.endswith(f"-{waiter.pid}")]   # noqa: E731
        assert wait_until(mine, 20, "the waiter's reservation")[0].prio == 7
        _, err = waiter.communicate(timeout=60)
        assert waiter.returncode == 75 and "shelf-01: still held after waiting 3 s" in err, err
        for args in (["flash", "--wait", "soon"], ["run", "--priority", "high", "--", "true"]):
            bad = invoke(*args[:1], "--board", shelf, *args[1:])
            assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: --"), bad.stderr
    finally:
        holder.terminate()
        assert holder.wait(30) == 130


def test_a_holder_killed_with_sigkill_loses_its_board_within_the_lease(fleet_lab):
    lab, _ = fleet_lab
    holder = start_invoke("fleet.hold", "--board", "shelf-02", "--seconds", "120")
    wait_until(lambda: (lab.places()["shelf-02"].tags.get("lease_pid") == str(holder.pid)), 20, "holder's lease")
    time.sleep(1.5)                                 # a heartbeat or two: the lease runs LEASE_S from the last
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    killed = time.time()
    assert lab.places()["shelf-02"].acquired        # labgrid alone would keep it locked forever
    waiter = invoke("fleet.hold", "--board", "shelf-02", "--seconds", "0.1", "--wait", "30s", timeout=60)
    assert waiter.returncode == 0, waiter.stderr
    free_after = json.loads(waiter.stdout.strip().splitlines()[-1])["held_from"] - killed
    print(f"a SIGKILLed holder's board was free again after {free_after:.1f} s (lease {LEASE_S:.0f} s)")
    assert 1.0 < free_after < LEASE_S + 4
    assert "lease of" in waiter.stderr and "expired" in waiter.stderr


def test_a_waiter_killed_with_sigkill_leaves_no_reservation(fleet_lab):
    lab, _ = fleet_lab
    holder = start_invoke("fleet.hold", "--board", "shelf-01", "--seconds", "120")
    wait_until(lambda: lab.places()["shelf-01"].acquired, 20, "shelf-01 held")
    waiter = start_invoke("fleet.hold", "--board", "shelf-01", "--seconds", "1")
    mine = lambda: [r for r in lab.reservations() if r.owner.endswith(f"-{waiter.pid}")]   # noqa: E731
    wait_until(lambda: mine() and mine()[0].state == "waiting", 20, "waiter's reservation")
    waiter.send_signal(signal.SIGKILL)
    waiter.wait(10)
    reaped = invoke("fleet.reap")
    assert reaped.returncode == 0 and f"dead process {waiter.pid} cancelled" in reaped.stdout, reaped.stdout
    assert mine() == []
    impatient = invoke("fleet.hold", "--board", "shelf-01", "--seconds", "0", "--wait", "1s")
    assert impatient.returncode == 75, impatient.stderr
    assert f"shelf-01: still held after waiting 1 s: shelf-01 by pid {holder.pid} on " in impatient.stderr
    holder.terminate()
    assert holder.wait(30) == 130
    assert lab.reservations() == [] and not lab.places()["shelf-01"].acquired


@pytest.mark.slow
def test_a_board_failing_its_health_check_gets_no_jobs_until_back_from_maintenance(fleet_lab):
    lab, _ = fleet_lab
    # shelf-02's board file is only in the exported folder: the check reads it from there, and fails
    # on the board itself (no operator for its manual power switch, nothing at its console)
    bad = invoke("fleet.health", "--board", "shelf-02", "--json")
    assert bad.returncode == 75 and json.loads(bad.stdout)["health"] == "bad", bad.stdout + bad.stderr
    manual = lab.health_points("shelf-02", 1)
    assert [(t["health"], t["check"], t["host"], good) for t, good in manual] == [("bad", "manual", HOST, 0)]
    jobs = [start_invoke("fleet.hold", "--board", "tag:type=shelf", "--seconds", "0.2") for _ in range(4)]
    boards = [json.loads(job.communicate(timeout=120)[0].strip().splitlines()[-1])["board"] for job in jobs]
    assert boards == ["shelf-01"] * 4
    listed = {r["board"]: r for r in json.loads(invoke("fleet.list", "--json").stdout)}
    reason = listed["shelf-02"]["health_reason"]
    assert listed["shelf-02"]["health"] == "bad" and "no such board" not in reason, reason
    assert "shelf-02" in reason and ("manual" in reason or "console" in reason), reason
    assert invoke("fleet.maintenance", "--board", "shelf-02", "--on", "--reason", "rewiring").returncode == 0
    refused = invoke("fleet.hold", "--board", "shelf-02", "--seconds", "0")
    assert refused.returncode == 75 and "maintenance (rewiring)" in refused.stderr
    assert invoke("fleet.maintenance", "--board", "shelf-02", "--off").returncode == 0
    assert lab.places()["shelf-02"].tags["eligible"] == "yes"
    # Eligible again: with shelf-01 busy, the next job gets shelf-02, whose health is unknown, so
    # its check runs first; it fails again and the job moves on to shelf-01 once that is free.
    busy = start_invoke("fleet.hold", "--board", "shelf-01", "--seconds", "300")
    wait_until(lambda: lab.places()["shelf-01"].acquired, 20, "shelf-01 held")
    job = start_invoke("fleet.hold", "--board", "tag:type=shelf", "--seconds", "0.1", "--wait", "120s")
    wait_until(lambda: lab.places()["shelf-02"].tags["health"] == "bad", 60, "shelf-02 checked again")
    busy.terminate()
    assert busy.wait(90) == 130
    out, err = job.communicate(timeout=60)
    assert job.returncode == 0 and json.loads(out.strip().splitlines()[-1])["board"] == "shelf-01", err
    assert "shelf-02: health unknown; running its health check first" in err
    checks = sorted((t["health"], t["check"]) for t, _ in lab.health_points("shelf-02", 4))
    assert checks == [("bad", "manual"), ("bad", "unknown"), ("maintenance", "maintenance"),
                      ("unknown", "maintenance")], checks


def test_a_real_board_command_waits_for_the_holder_then_runs(fleet_lab):
    lab, _ = fleet_lab
    with lab.session() as session:     # the holder checks the board first: a real boot, longer than the lease
        session.set_tags("qemu-virt-0", health_tags("unknown", "after an infrastructure error"))
    busy = start_invoke("fleet.hold", "--board", "qemu-virt-0", "--seconds", "3")
    wait_until(lambda: lab.places()["qemu-virt-0"].acquired, 20, "qemu-virt-0 held")
    started = time.monotonic()
    done = invoke("run", "--board", "qemu-virt-0", "--", "uname", "-m", timeout=300)
    _, busy_err = busy.communicate(timeout=60)
    assert busy.returncode == 0, busy_err            # the waiter's reaper never took it from the checking holder
    assert "running its health check first" in busy_err
    listed = {r["board"]: r for r in json.loads(invoke("fleet.list", "--json").stdout)}
    assert listed["qemu-virt-0"]["health"] == "good" and time.time() - listed["qemu-virt-0"]["last_health_check"] < 600
    assert done.returncode == 0 and done.stdout.strip() == "aarch64", done.stderr
    assert time.monotonic() - started > 1.5      # it waited for the holder
    assert not lab.places()["qemu-virt-0"].acquired


def test_a_coordinator_restart_mid_campaign_is_an_infrastructure_error(fleet_lab):
    lab, _ = fleet_lab
    with lab.session() as session:          # checked already: no check first; the other QEMU board is out
        session.set_tags("qemu-virt-0", health_tags("good", checked=time.time()))
        session.set_tags("qemu-virt-tiny", health_tags("maintenance", "not in this test"))
    reports = Path(os.environ["SISCTL_REPORTS"])
    earlier = set(reports.glob("ext4-crash-*"))
    job = start_invoke("campaign", "--kind", "ext4-crash", "--board", "tag:type=qemu", "--scenario",
                       "write_during_allocation", "--mode", "reset", "--runs", "1", "--json")
    # past choosing the board (which holds it too): the campaign has its folder and holds the board
    assert new_folder(reports, "ext4-crash-*", earlier, lambda f: (f / "campaign.json").exists(), 120)
    wait_until(lambda: lab.places()["qemu-virt-0"].acquired, 120, "the campaign holds qemu-virt-0")
    lab.coordinator.stop()
    lab.coordinator.start()                          # a restart: every lock is gone
    out, err = job.communicate(timeout=300)
    assert job.returncode == 75 and "{" in out, out + err
    summary = json.loads(out[out.index("{"):])
    assert (summary["status"], summary["error_kind"]) == ("error", "infrastructure"), summary
    assert "lost the board while the job ran" in summary["reason"]
    junit = (Path(summary["report"]) / "junit.xml").read_text()
    assert "<error" in junit and "<failure" not in junit


def test_a_board_that_is_no_place_is_held_by_this_hosts_lock_alone(fleet_lab, capsys):
    from sisctl.fleet.claims import held
    lab, _ = fleet_lab
    with held("qemu-raspi3b"):
        assert "qemu-raspi3b" not in lab.places() and lab.reservations() == []
    assert "qemu-raspi3b is not a place on the coordinator" in capsys.readouterr().err
