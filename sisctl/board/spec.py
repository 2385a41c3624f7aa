"""boards/<name>.yaml: what a board is and how to reach its console, power and boot."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Annotated, Literal, Optional

from sisctl import config, paths
from sisctl.board import qemu_caps
from sisctl.board.boot import METHODS, sections
from sisctl.board import datalink
from sisctl.board.datalink import DataLinkSpec
from sisctl.board.console import ConsoleUrl
from sisctl.board.pi import PiSpec
from sisctl.board.power import PowerSpec
from sisctl.board.qemu import QemuSpec
from sisctl.board import storage as storage_spec
from sisctl.board.storage import StorageSpec
from sisctl.board.target import TargetSpec
from sisctl.board.target import module as target_kind
from sisctl.board.uboot import UbootSpec
from sisctl.config import Name, Regex, Seconds, SecondsOrZero, between, max_bytes
from sisctl.telemetry.power import PowerMeterSpec

__all__ = ["BoardSpec", "BootSpec", "ConsoleSpec", "LabPlace", "PiSpec", "QemuSpec", "UbootSpec", "find_board",
           "load_board", "load_boards", "write_schema"]

CMDLINE_MAX = 1536     # arm64 kernels take 2048 bytes; campaigns append their own words


@dataclass
class ConsoleSpec:
    url: ConsoleUrl = "qemu"       # 'qemu': QEMU's own serial port; else a device or pyserial URL
    baudrate: Annotated[int, between(50, 16_000_000)] = 115200
    open_timeout_s: Seconds = 10.0
    ignore_reports: list[Regex] = field(default_factory=list)   # regexes of known-benign kernel reports
    crash_grace_s: SecondsOrZero = 10.0


MethodName = Literal[tuple(METHODS)]     # sisctl/board/boot/: one module per method


@dataclass
class _BootCommon:
    method: MethodName = "qemu"
    cmdline: Annotated[str, max_bytes(CMDLINE_MAX, "the kernel's command line")] = "console=ttyAMA0 panic=-1"
    ready_timeout_s: Seconds = 120.0
    modules: list[str] = field(default_factory=list)   # loaded in the guest, with their dependencies
    dtb: str | None = None           # uboot / pi-tryboot: device tree from the artifact's dtbs/ folder


# The shared keys, and each boot method's own section (boot.uboot, boot.pi, ...) from its module.
BootSpec = make_dataclass("BootSpec", [(key, Optional[settings], field(default=None)) for key, settings in sections()],
                          bases=(_BootCommon,))
BootSpec.__module__ = __name__
BootSpec.__doc__ = "How the board boots: `method` names a module of sisctl/board/boot/; the other keys are shared."


@dataclass
class LabPlace:
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
    power: PowerSpec = field(default_factory=config.default_choice(PowerSpec))
    power_meter: PowerMeterSpec = field(default_factory=PowerMeterSpec)
    boot: BootSpec = field(default_factory=BootSpec)
    target: TargetSpec = field(default_factory=config.default_choice(TargetSpec))
    qemu: QemuSpec | None = None
    storage: StorageSpec | None = None   # what crash campaigns may destroy (sisctl/board/storage.py)
    data_link: DataLinkSpec | None = None   # files over the board's network (sisctl/board/datalink.py)
    lab: LabPlace | None = None
    source: str = field(default="", init=False)


def load_board(path: Path) -> BoardSpec:
    spec = config.load(BoardSpec, path)
    METHODS[spec.boot.method].check(spec, path)
    target_kind(spec.target.kind).check(spec, path)
    if spec.qemu is None and spec.console.url == "qemu":
        raise config.ConfigError(path, "console.url", "a real board needs its console's pyserial URL")
    if spec.qemu is not None and spec.console.url != "qemu":
        raise config.ConfigError(path, "console.url", "a QEMU board's console is QEMU's own serial port; "
                                 f"remove the key or set it to 'qemu' (got {spec.console.url!r})")
    if spec.qemu is not None:
        _check_qemu(spec.qemu, path)
    storage_spec.check(spec.storage, path)
    datalink.check(spec.data_link, spec.qemu is not None, path)
    if spec.name != Path(path).stem:
        raise config.ConfigError(path, "name", f"must match the file name ('{Path(path).stem}')")
    spec.source = str(path)
    return spec


def load_boards(folder: Path | None = None) -> list[BoardSpec]:
    """Every board file in `folder` (default: boards/), sorted by name."""
    return [load_board(path) for path in sorted((folder or paths.boards_dir()).glob("*.yaml"))]


def _check_qemu(q: QemuSpec, path: Path) -> None:
    """The binary exists and knows the machine and CPU; the memory fits this host."""
    binary = qemu_caps.find_binary(q.binary)
    if binary is None:
        raise config.ConfigError(path, "qemu.binary", f"no executable {q.binary!r} on this machine "
                                 "(install it with 'invoke setup', or give its path)")
    known = qemu_caps.machines(binary)
    if known is not None and not known:
        raise config.ConfigError(path, "qemu.binary", f"{q.binary} lists no machines for '-machine help': "
                                 "not a QEMU system emulator")
    if known and q.machine not in known:
        raise config.ConfigError(path, "qemu.machine", f"{q.binary} has no machine {q.machine!r} "
                                 f"(see '{q.binary} -machine help')")
    known = qemu_caps.cpus(binary)
    model = q.cpu.partition(",")[0] if q.cpu is not None else None     # max,pauth-impdef=on: model max
    if known and model is not None and model not in known:
        raise config.ConfigError(path, "qemu.cpu", f"{q.binary} has no CPU model {model!r} "
                                 f"(see '{q.binary} -cpu help')")
    host_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    if q.memory_mb > host_mb:
        raise config.ConfigError(path, "qemu.memory_mb", f"{q.memory_mb} MiB is more than this machine's "
                                 f"{host_mb} MiB of RAM")
    # What only QEMU can judge (CPUs the machine takes, options it knows): a paused start, without
    # and then with the extra arguments. Plain boards (one CPU, no extra arguments) need none.
    hardware = ("-M", q.machine, *(("-cpu", q.cpu) if q.cpu else ()), "-m", str(q.memory_mb), "-smp", str(q.smp),
                "-nodefaults", "-no-user-config", "-display", "none")
    for key, args, needed in (("qemu.smp", hardware, q.smp != 1),
                              ("qemu.extra_args", hardware + tuple(q.extra_args), bool(q.extra_args))):
        if needed and (problem := qemu_caps.refusal(binary, args)):
            raise config.ConfigError(path, key, f"QEMU will not start with it: {problem}")


def write_schema(target: Path | None = None) -> Path:
    """Write the JSON Schema of board files (boards/board.schema.json) that editors check them with."""
    target = target or paths.boards_dir() / "board.schema.json"
    target.write_text(json.dumps(config.json_schema(BoardSpec, "sisctl board file"), indent=1) + "\n")
    return target


def find_board(name_or_path: str) -> BoardSpec:
    """A board file by name (in boards/) or path. `tag:` selection happens above, in sisctl.jobs."""
    return load_board(config.named_file(name_or_path, paths.boards_dir(), "board"))
