"""boards/<name>.yaml: what a board is and how to reach its console, power and boot."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from sisctl import config, paths
from sisctl.config import Name, Regex, Seconds, SecondsOrZero, between, max_bytes

CMDLINE_MAX = 1536     # arm64 kernels take 2048 bytes; campaigns append their own words
ARG_MAX_STRLEN = 131071   # Linux's limit for one argument of a command line
from sisctl.board import qemu_caps
from sisctl.board.ssh import SshSpec


@dataclass
class ConsoleSpec:
    url: str = "qemu"              # 'qemu': QEMU's own serial port; else a pyserial URL
    baudrate: Annotated[int, between(50, 16_000_000)] = 115200
    open_timeout_s: Seconds = 10.0
    ignore_reports: list[Regex] = field(default_factory=list)   # regexes of known-benign kernel reports
    crash_grace_s: SecondsOrZero = 10.0


@dataclass
class PowerSpec:
    """How the board is switched: qmp (QEMU) or a switch driver in sisctl/board/power/."""
    model: Literal["qmp", "tasmota", "http", "uhubctl", "gpio", "manual"] = "qmp"
    url: str = ""                       # tasmota
    on_url: str = ""                    # http
    off_url: str = ""
    status_url: str = ""
    status_on: Regex = "(?i)on"
    method: str = "GET"
    user_env: str = ""                  # HTTP credentials: names of environment variables
    password_env: str = ""
    hub: str = ""                       # uhubctl
    port: Annotated[int, between(1, 255)] = 1
    chip: str = "gpiochip0"             # gpio
    line: Annotated[int, between(0)] = 0
    active_low: bool = False
    tool: str = ""                      # path of uhubctl / gpioset on the lab host
    ssh: SshSpec | None = None          # the lab host for uhubctl / gpio
    off_time_s: SecondsOrZero = 3.0     # how long a power cycle keeps the board off
    timeout_s: Seconds = 5.0


@dataclass
class PowerMeterSpec:
    """Where a board's power readings come from (sisctl/telemetry/power.py)."""
    model: Literal["estimate", "tasmota", "http", "hwmon"] = "estimate"
    url: str = ""                       # tasmota / http
    json_path: str = "power"            # http: dotted path to the watts in the JSON reply
    hwmon_path: str = "/sys/class/hwmon/hwmon0/power1_input"
    timeout_s: Seconds = 3.0
    idle_w: Annotated[float, between(0)] = 2.7   # estimate: P = idle_w + cpu_w * util + mem_w_per_gbps * GB/s
    cpu_w: Annotated[float, between(0)] = 3.7
    mem_w_per_gbps: Annotated[float, between(0)] = 0.3


@dataclass
class UbootSpec:
    """boot.method uboot: sisctl stops autoboot on the console, loads the files and runs booti."""
    transfer: Literal["tftp", "ymodem"] = "tftp"
    prompt: str = "=> "
    autoboot_timeout_s: Seconds = 60.0           # power-on to the prompt
    command_timeout_s: Seconds = 30.0
    transfer_timeout_s: Seconds = 900.0          # per file
    tftp_root: str = ""       # folder the lab's TFTP server serves; '' on QEMU: QEMU's own TFTP server
    tftp_ssh: SshSpec | None = None              # the lab host holding tftp_root, when not this machine
    server_ip: str = ""       # the TFTP server as the board sees it; '' : the one DHCP names
    dhcp: bool = True
    kernel_addr: str = "${kernel_addr_r}"        # U-Boot expressions or hex addresses
    ramdisk_addr: str = "${ramdisk_addr_r}"
    fdt_addr: str = "${fdt_addr_r}"              # where boot.dtb is loaded
    kernel_gzip: bool = False   # send the Image gzip-compressed (a third of the bytes); booti unpacks it
    kernel_comp_addr: str = "${kernel_comp_addr_r}"   # booti's scratch area for unpacking, Image-sized


@dataclass
class PiSpec:
    """boot.method pi-tryboot: a Raspberry Pi running a known-good OS over SSH; each session boots
    the artifact once through the firmware's tryboot, so a power cycle always brings the old OS back."""
    ssh: SshSpec
    model: Literal["pi4", "pi5"] = "pi4"
    boot_dir: str = "/boot/firmware"             # the FAT boot partition as the running OS mounts it
    folder: str = "sisctl"                       # the artifact's files go here (os_prefix)
    reboot_command: str = "sudo reboot '0 tryboot'"
    tryboot_flag: str = "/proc/device-tree/chosen/bootloader/tryboot"   # non-zero while in tryboot
    sudo: str = "sudo"                           # prefix for writes to boot_dir; '' when logged in as root
    back_timeout_s: Seconds = 180.0                # power cycle to the known-good OS answering SSH
    config_lines: list[str] = field(default_factory=list)   # more tryboot.txt lines: dtoverlay=disable-bt, ...


@dataclass
class BootSpec:
    method: Literal["qemu", "uboot", "pi-tryboot"] = "qemu"
    cmdline: Annotated[str, max_bytes(CMDLINE_MAX, "the kernel's command line")] = "console=ttyAMA0 panic=-1"
    ready_timeout_s: Seconds = 120.0
    modules: list[str] = field(default_factory=list)   # loaded in the guest, with their dependencies
    dtb: str | None = None           # uboot / pi-tryboot: device tree from the artifact's dtbs/ folder
    uboot: UbootSpec | None = None
    pi: PiSpec | None = None


@dataclass
class QemuSpec:
    binary: str = "qemu-system-aarch64"
    machine: str = "virt"
    cpu: str | None = "max"          # null: the machine's own CPU (raspi3b)
    memory_mb: Annotated[int, between(16, 1 << 20)] = 512
    smp: Annotated[int, between(1, 512)] = 1
    dtb: str | None = None           # relative to the artifact's dtbs/ folder
    dtb_remove: list[str] = field(default_factory=list)   # device-tree nodes to drop (fdtput -r)
    no_reboot: bool = True           # a guest reboot (panic=-1) ends QEMU
    firmware: str | None = None      # boot firmware run as -bios (U-Boot); the kernel then comes through it
    extra_args: list[Annotated[str, max_bytes(ARG_MAX_STRLEN, "one argument")]] = field(default_factory=list)


@dataclass
class LabSpec:
    """Where the board sits in a shared lab: its lab host (whose exporter serves its console and
    power) and the tags jobs select it by (`--board tag:type=rpi4`); see sisctl/fleet."""
    host: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class BoardSpec:
    name: Name
    description: str = ""
    recipe: Name = "debian-arm64"     # the kernel this board boots by default
    console: ConsoleSpec = field(default_factory=ConsoleSpec)
    power: PowerSpec = field(default_factory=PowerSpec)
    power_meter: PowerMeterSpec = field(default_factory=PowerMeterSpec)
    boot: BootSpec = field(default_factory=BootSpec)
    qemu: QemuSpec | None = None
    lab: LabSpec | None = None
    source: str = field(default="", init=False)


def load_board(path: Path) -> BoardSpec:
    spec = config.load(BoardSpec, path)
    if spec.boot.method == "qemu" and spec.qemu is None:
        spec.qemu = QemuSpec()
    if spec.boot.method == "uboot" and spec.boot.uboot is None:
        spec.boot.uboot = UbootSpec()
    if spec.boot.method == "pi-tryboot" and spec.boot.pi is None:
        raise config.ConfigError(path, "boot.pi", "pi-tryboot needs a 'pi' section with the board's ssh")
    if spec.boot.pi and any("\n" in line for line in spec.boot.pi.config_lines):
        raise config.ConfigError(path, "boot.pi.config_lines", "one line per item, without newlines")
    if spec.boot.method == "pi-tryboot" and spec.qemu is not None:
        raise config.ConfigError(path, "qemu", "pi-tryboot is for real Raspberry Pis; a QEMU board boots "
                                 "by qemu or uboot")
    if spec.boot.method != "qemu" and spec.qemu is not None and not spec.qemu.firmware:
        raise config.ConfigError(path, "qemu.firmware", f"a QEMU board booted by {spec.boot.method} needs "
                                 "its boot firmware (e.g. U-Boot's u-boot.bin)")
    if spec.boot.method != "qemu" and spec.qemu is None and spec.power.model == "qmp":
        raise config.ConfigError(path, "power.model", "a real board needs a power switch model, not qmp")
    if spec.qemu is None and spec.console.url == "qemu":
        raise config.ConfigError(path, "console.url", "a real board needs its console's pyserial URL")
    if spec.qemu is not None and spec.console.url != "qemu":
        raise config.ConfigError(path, "console.url", "a QEMU board's console is QEMU's own serial port; "
                                 f"remove the key or set it to 'qemu' (got {spec.console.url!r})")
    if spec.qemu is not None:
        _check_qemu(spec.qemu, path)
    if spec.name != Path(path).stem:
        raise config.ConfigError(path, "name", f"must match the file name ('{Path(path).stem}')")
    spec.source = str(path)
    return spec


def _check_qemu(q: QemuSpec, path: Path) -> None:
    """The binary exists and knows the machine and CPU; the memory fits this host."""
    binary = qemu_caps.find_binary(q.binary)
    if binary is None:
        raise config.ConfigError(path, "qemu.binary", f"no executable {q.binary!r} on this machine "
                                 "(install it with 'invoke setup', or give its path)")
    known = qemu_caps.machines(binary)
    if known and q.machine not in known:
        raise config.ConfigError(path, "qemu.machine", f"{q.binary} has no machine {q.machine!r} "
                                 f"(see '{q.binary} -machine help')")
    known = qemu_caps.cpus(binary)
    if known and q.cpu is not None and q.cpu not in known:
        raise config.ConfigError(path, "qemu.cpu", f"{q.binary} has no CPU model {q.cpu!r} "
                                 f"(see '{q.binary} -cpu help')")
    host_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    if q.memory_mb > host_mb:
        raise config.ConfigError(path, "qemu.memory_mb", f"{q.memory_mb} MiB is more than this machine's "
                                 f"{host_mb} MiB of RAM")


def write_schema(target: Path | None = None) -> Path:
    """Write the JSON Schema of board files (boards/board.schema.json) that editors check them with."""
    target = target or paths.boards_dir() / "board.schema.json"
    target.write_text(json.dumps(config.json_schema(BoardSpec, "sisctl board file"), indent=1) + "\n")
    return target


def find_board(name_or_path: str) -> BoardSpec:
    if name_or_path.startswith("tag:"):    # any healthy board with these tags, held through the coordinator
        from sisctl.fleet.claims import select_board
        name_or_path = select_board(name_or_path[4:])
    return load_board(config.named_file(name_or_path, paths.boards_dir(), "board"))
