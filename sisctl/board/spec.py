"""boards/<name>.yaml: what a board is and how to reach its console, power and boot."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sisctl import config, paths
from sisctl.board.ssh import SshSpec


@dataclass
class ConsoleSpec:
    url: str = "qemu"              # 'qemu': QEMU's own serial port; else a pyserial URL
    baudrate: int = 115200
    open_timeout_s: float = 10.0
    ignore_reports: list[str] = field(default_factory=list)   # regexes of known-benign kernel reports
    crash_grace_s: float = 10.0


@dataclass
class PowerSpec:
    """How the board is switched: qmp (QEMU) or a switch driver in sisctl/board/power/."""
    model: Literal["qmp", "tasmota", "http", "uhubctl", "gpio", "manual"] = "qmp"
    url: str = ""                       # tasmota
    on_url: str = ""                    # http
    off_url: str = ""
    status_url: str = ""
    status_on: str = "(?i)on"
    method: str = "GET"
    user_env: str = ""                  # HTTP credentials: names of environment variables
    password_env: str = ""
    hub: str = ""                       # uhubctl
    port: int = 1
    chip: str = "gpiochip0"             # gpio
    line: int = 0
    active_low: bool = False
    tool: str = ""                      # path of uhubctl / gpioset on the lab host
    ssh: SshSpec | None = None          # the lab host for uhubctl / gpio
    off_time_s: float = 3.0             # how long a power cycle keeps the board off
    timeout_s: float = 5.0


@dataclass
class PowerMeterSpec:
    """Where a board's power readings come from (sisctl/telemetry/power.py)."""
    model: Literal["estimate", "tasmota", "http", "hwmon"] = "estimate"
    url: str = ""                       # tasmota / http
    json_path: str = "power"            # http: dotted path to the watts in the JSON reply
    hwmon_path: str = "/sys/class/hwmon/hwmon0/power1_input"
    timeout_s: float = 3.0
    idle_w: float = 2.7                 # estimate: P = idle_w + cpu_w * util + mem_w_per_gbps * GB/s
    cpu_w: float = 3.7
    mem_w_per_gbps: float = 0.3


@dataclass
class BootSpec:
    method: Literal["qemu"] = "qemu"
    cmdline: str = "console=ttyAMA0 panic=-1"
    ready_timeout_s: float = 120.0
    modules: list[str] = field(default_factory=list)   # loaded in the guest, with their dependencies


@dataclass
class QemuSpec:
    binary: str = "qemu-system-aarch64"
    machine: str = "virt"
    cpu: str | None = "max"          # null: the machine's own CPU (raspi3b)
    memory_mb: int = 512
    smp: int = 1
    dtb: str | None = None           # relative to the artifact's dtbs/ folder
    dtb_remove: list[str] = field(default_factory=list)   # device-tree nodes to drop (fdtput -r)
    no_reboot: bool = True           # a guest reboot (panic=-1) ends QEMU
    extra_args: list[str] = field(default_factory=list)


@dataclass
class BoardSpec:
    name: str
    description: str = ""
    recipe: str = "debian-arm64"     # the kernel this board boots by default
    console: ConsoleSpec = field(default_factory=ConsoleSpec)
    power: PowerSpec = field(default_factory=PowerSpec)
    power_meter: PowerMeterSpec = field(default_factory=PowerMeterSpec)
    boot: BootSpec = field(default_factory=BootSpec)
    qemu: QemuSpec | None = None
    source: str = ""


def load_board(path: Path) -> BoardSpec:
    spec = config.load(BoardSpec, path)
    if spec.boot.method == "qemu" and spec.qemu is None:
        spec.qemu = QemuSpec()
    if spec.name != Path(path).stem:
        raise config.ConfigError(path, "name", f"must match the file name ('{Path(path).stem}')")
    spec.source = str(path)
    return spec


def find_board(name_or_path: str) -> BoardSpec:
    return load_board(config.named_file(name_or_path, paths.boards_dir(), "board"))
