"""Lab tasks: the embedded database, Grafana files, telemetry status, power switches and calibration."""
from __future__ import annotations

import time

from invoke import Collection, task

from sisctl.cli.common import guard, say, usage
from sisctl.errors import UsageError
from sisctl.paths import PROJECT


@task(name="up")
@guard
def lab_up(c):
    """Start the embedded lab database (VictoriaMetrics, InfluxDB write API) and labgrid coordinator on loopback."""
    from sisctl.labfile import load_lab
    from sisctl.telemetry.lab import embedded_tsdb
    lab = load_lab()
    db = embedded_tsdb(lab)
    print(f"lab database running at {db.url} (pid {db.start()}, data in {db.data_dir})")
    if not lab.coordinator.address:      # no lab coordinator named: run the embedded one
        from sisctl.fleet.embedded import EmbeddedCoordinator
        coordinator = EmbeddedCoordinator(lab.coordinator.listen)
        print(f"labgrid coordinator running at {coordinator.listen} (pid {coordinator.start()})")


@task(name="down")
@guard
def lab_down(c):
    """Stop the embedded lab database and coordinator; the data and places stay (locks do not)."""
    from sisctl.labfile import load_lab
    from sisctl.telemetry.lab import embedded_tsdb
    lab = load_lab()
    embedded_tsdb(lab).stop()
    print("lab database stopped")
    from sisctl.fleet.embedded import EmbeddedCoordinator
    EmbeddedCoordinator(lab.coordinator.listen).stop()


@task(name="dashboards")
def lab_dashboards(c):
    """Regenerate the Grafana provisioning files in lab/grafana/ from the telemetry schema."""
    from sisctl.telemetry.dashboards import write_all
    for path in write_all(PROJECT / "lab" / "grafana"):
        print(path.relative_to(PROJECT))


@task(name="status", help={"json": "print as JSON"})
@guard
def telemetry_status(c, json_=False):
    """Telemetry spool depth, last successful write and last error."""
    from sisctl.labfile import load_lab
    from sisctl.telemetry.lab import open_sink
    sink = open_sink(load_lab())
    time.sleep(1.0)   # one delivery attempt
    status = sink.status()
    sink.close(drain_s=0)
    say(json_, status, f"{status['url']}: {status['spool_depth']} points spooled; last success "
                       f"{time.ctime(status['last_success']) if status['last_success'] else 'never (this process)'}"
                       + (f"; last error: {status['last_error']}" if status["last_error"] else ""))


@task(name="calibrate", help={"board": "board name or path (its power_meter must be tasmota or http)",
                               "seconds": "length of the idle and of the busy phase"})
@guard
def power_calibrate(c, board="qemu-virt-0", seconds=20.0):
    """Fit the board's power model (idle_w, cpu_w) to its real meter over an idle and a busy phase."""
    from sisctl.jobs.boards import board_spec, fleet_board
    from sisctl.telemetry.calibrate import BUSY, calibrate
    from sisctl.telemetry.power import read_power
    spec = board_spec(board)
    if spec.power_meter.model not in ("tasmota", "http"):
        raise UsageError(f"{spec.name}: calibration needs a host-side meter (power_meter.model tasmota or "
                         f"http), not {spec.power_meter.model!r}")
    with fleet_board(spec).session(label="calibrate") as session:
        idle, cpu = calibrate(lambda: read_power(spec.power_meter).watts,
                              start_busy=lambda s: session.agent.start(BUSY.format(s=int(s) + 2), s + 10),
                              wait_idle=lambda s: None, seconds=float(seconds))
    print(f"{spec.name}: put this in {spec.source}:\npower_meter:\n  idle_w: {idle:.2f}\n  cpu_w: {cpu:.2f}")


@task(name="switch", help={"board": "board name or path", "action": "on, off, cycle or status"})
@guard
def power_switch(c, board, action="status"):
    """Switch a real board's power through its switch (its power.model): on, off, cycle, status."""
    from sisctl.board.power import power_cycle, power_get, power_set
    from sisctl.jobs.boards import board_spec
    if action not in ("on", "off", "cycle", "status"):
        raise usage("--action is one of on, off, cycle, status")
    spec = board_spec(board)
    if spec.power.model == "qmp":
        raise UsageError(f"{spec.name} is a QEMU board: its power is its QEMU process (flash/run/console)")
    if action in ("on", "off"):
        power_set(spec.power, action == "on")
    elif action == "cycle":
        power_cycle(spec.power)
    state = power_get(spec.power)
    print(f"{spec.name}: power {'unknown' if state is None else 'on' if state else 'off'}")


power = Collection("power")
power.add_task(power_switch)
power.add_task(power_calibrate)
lab = Collection("lab")
lab.add_task(lab_dashboards)
lab.add_task(lab_up)
lab.add_task(lab_down)
telemetry = Collection("telemetry")
telemetry.add_task(telemetry_status)
