"""storage: in a board file: the devices a campaign may destroy, and the proof, on the board and
before anything is written, that the device found is the one named and is safe to destroy.

    storage:
      scratch: {label: sis-scratch}           # a GPT partition name
      log: {serial: "0x8a3c11f0", partition: 3}
      boot: {label: bootfs}                   # what the board boots or runs from: never destroyed

Devices are named by GPT partition name or by the disk's serial (with a partition number, or 0 for
the whole disk), never by probe order: /dev/mmcblk0 today may be /dev/sda after a USB stick is
plugged in. A QEMU board without `storage:` gets a spare virtio disk of sisctl's as its scratch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from sisctl import config
from sisctl.board.errors import BoardError
from sisctl.config import between
from sisctl.errors import UsageError

ROLES = ("scratch", "log")


@dataclass
class DeviceRef:
    label: str = ""          # GPT partition name (PARTNAME)
    serial: str = ""         # the disk's serial (/sys/block/X/serial or X/device/serial)
    partition: Annotated[int, between(0, 128)] = 0     # with serial: that partition; 0: the whole disk
    size_mib: Annotated[int, between(0, 1 << 24)] = 0  # expected size in MiB; 0: any large enough
    SCHEMA_EXTRA = {"oneOf": [{"required": ["label"], "not": {"required": ["serial"]}},
                              {"required": ["serial"], "not": {"required": ["label"]}}]}

    def __str__(self) -> str:
        if self.label:
            return f"partition label {self.label!r}"
        return f"serial {self.serial!r}" + (f" partition {self.partition}" if self.partition else "")


@dataclass
class StorageSpec:
    scratch: DeviceRef | None = None
    log: DeviceRef | None = None
    boot: DeviceRef | None = None
    SCHEMA_EXTRA = {"required": ["scratch"]}


def check(storage: StorageSpec | None, path) -> None:
    """Each device is named one way; scratch is required once storage: is there."""
    if storage is None:
        return
    if storage.scratch is None:
        raise config.ConfigError(path, "storage.scratch", "name the device a campaign may destroy "
                                 "({label: NAME} or {serial: SERIAL, partition: N})")
    for key in ("scratch", "log", "boot"):
        ref = getattr(storage, key)
        if ref is not None and bool(ref.label) == bool(ref.serial):
            raise config.ConfigError(path, f"storage.{key}", "give either label (a GPT partition name) or "
                                     "serial (the disk's serial number), not both and not neither")
        if ref is not None and ref.label and ref.partition:
            raise config.ConfigError(path, f"storage.{key}.partition", "a partition number goes with serial; "
                                     "a label names the partition itself")


# What the board tells about its block devices: one tab-separated line per device, then its mounts
# and command line. The host decides; the board only reports.
FACTS_SCRIPT = r"""
for d in /sys/class/block/*; do
  n=${d##*/}; p=0; disk=$n
  if [ -e $d/partition ]; then p=$(cat $d/partition); disk=$(basename $(readlink -f $d/..)); fi
  label=$(sed -n 's/^PARTNAME=//p' $d/uevent)
  serial=$(cat /sys/class/block/$disk/serial 2>/dev/null || cat /sys/class/block/$disk/device/serial 2>/dev/null)
  printf 'dev\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$disk" "$p" "$(cat $d/size)" "$label" "$serial" \
    "$(cat $d/dev)" "$(ls $d/holders 2>/dev/null | tr '\n' ' ')"
done
while read -r dev at rest; do printf 'mount\t%s\t%s\t%s\n' "$dev" "$at" "$(stat -c %d "$at" 2>/dev/null)"; done < /proc/mounts
while read -r swap rest; do [ "$swap" = Filename ] || printf 'swap\t%s\n' "$swap"; done < /proc/swaps
printf 'cmdline\t%s\n' "$(cat /proc/cmdline)"
"""


def dev_number(st_dev: str) -> str:
    """MAJOR:MINOR of a file system's st_dev as stat -c %d prints it (glibc's encoding)."""
    if not st_dev.isdigit():
        return ""
    d = int(st_dev)
    return f"{((d >> 8) & 0xfff) | ((d >> 32) & ~0xfff)}:{(d & 0xff) | ((d >> 12) & ~0xff)}"


@dataclass(frozen=True)
class BlockDevice:
    name: str            # vda2, mmcblk0p3
    disk: str            # the whole disk it is on (itself for a disk)
    partition: int       # 0 for a whole disk
    bytes: int
    label: str = ""
    serial: str = ""
    number: str = ""                     # MAJOR:MINOR
    holders: tuple[str, ...] = ()        # device-mapper, md or LVM devices built on it

    def describe(self) -> str:
        said = [f"label {self.label!r}" if self.label else "", f"serial {self.serial!r}" if self.serial and
                not self.partition else "", f"{self.bytes >> 20} MiB"]
        return f"/dev/{self.name} ({', '.join(s for s in said if s)})"


@dataclass
class BoardFacts:
    devices: list[BlockDevice] = field(default_factory=list)
    mounts: list[tuple[str, str, str]] = field(default_factory=list)   # (source, mount point, MAJOR:MINOR)
    swaps: list[str] = field(default_factory=list)
    cmdline: str = ""

    def find(self, ref: DeviceRef) -> list[BlockDevice]:
        if ref.label:
            return [d for d in self.devices if d.partition and d.label == ref.label]
        return [d for d in self.devices if d.serial.strip() == ref.serial and d.partition == ref.partition
                and self._disk(d).serial.strip() == ref.serial]

    def _disk(self, device: BlockDevice) -> BlockDevice:
        return next((d for d in self.devices if d.name == device.disk), device)

    def mounted(self, source: str, number: str) -> BlockDevice | None:
        """The block device a mount's source names or its file system lives on (/dev/root too)."""
        return next((d for d in self.devices if source == f"/dev/{d.name}" or (number and d.number == number)), None)

    def root_devices(self) -> list[BlockDevice]:
        """What the board runs from: the device of /, and what root= names (a /dev path,
        PARTLABEL= or MAJOR:MINOR)."""
        found = [d for source, at, number in self.mounts if at == "/" and (d := self.mounted(source, number))]
        for word in self.cmdline.split():
            value = word[5:] if word.startswith("root=") else None
            if value is None:
                continue
            found += [d for d in self.devices if value in (f"/dev/{d.name}", d.number)
                      or (value.startswith("PARTLABEL=") and d.partition and value[10:] == d.label)]
        return found


def parse_facts(text: str) -> BoardFacts:
    facts = BoardFacts()
    for line in text.splitlines():
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "dev" and len(fields) in (6, 8) and fields[2].isdigit() and fields[3].isdigit():
            name, disk, part, sectors, label, serial, *more = fields
            number, holders = more if more else ("", "")
            facts.devices.append(BlockDevice(name, disk, int(part), int(sectors) * 512, label, serial.strip(),
                                             number.strip(), tuple(holders.split())))
        elif kind == "mount" and len(fields) in (2, 3):
            facts.mounts.append((fields[0], fields[1], dev_number(fields[2]) if len(fields) == 3 else ""))
        elif kind == "swap" and fields[0]:
            facts.swaps.append(fields[0])
        elif kind == "cmdline":
            facts.cmdline = rest
    return facts


def overlaps(a: BlockDevice, b: BlockDevice) -> bool:
    """The same device, or a disk and one of its partitions."""
    return a.name == b.name or (a.partition == 0 and b.disk == a.name) or (b.partition == 0 and a.disk == b.name)


def choose(board: str, storage: StorageSpec, facts: BoardFacts, need_bytes: dict[str, int]) -> dict[str, str]:
    """The device path of each role in `need_bytes` (scratch, log), proven safe to destroy; a
    UsageError naming the board, the key and what was found otherwise."""
    def refuse(key: str, why: str) -> UsageError:
        return UsageError(f"{board}: storage.{key} ({getattr(storage, key)}): {why}; nothing was written")

    protected: list[tuple[BlockDevice, str]] = []
    if storage.boot is not None:
        protected += [(d, "the board's boot device (storage.boot)") for d in facts.find(storage.boot)]
    protected += [(root, "the device the board runs from (its root file system)") for root in facts.root_devices()]
    protected += [(d, "swap space of the board") for d in facts.devices if f"/dev/{d.name}" in facts.swaps]
    chosen: dict[str, BlockDevice] = {}
    for key, need in need_bytes.items():
        ref = getattr(storage, key)
        found = facts.find(ref)
        if not found:
            seen = ", ".join(d.describe() for d in facts.devices) or "no block devices"
            raise refuse(key, f"no such device on the board; found {seen}")
        if len(found) > 1:
            raise refuse(key, f"names {len(found)} devices ({', '.join(d.describe() for d in found)}); "
                              "name one")
        device = found[0]
        for other, what in protected:
            if overlaps(device, other):
                relation = ("is" if other.name == device.name else f"holds /dev/{other.name}," if device.partition == 0
                            else "is a partition of")
                raise refuse(key, f"{device.describe()} {relation} {what}")
        for source, at, number in facts.mounts:
            mounted = facts.mounted(source, number)
            if mounted is not None and overlaps(device, mounted):
                raise refuse(key, f"/dev/{mounted.name} is mounted at {at}")
        for held in [d for d in facts.devices if overlaps(device, d) and d.holders]:
            raise refuse(key, f"/dev/{held.name} is in use by /dev/{', /dev/'.join(held.holders)} "
                              "(device-mapper, md or LVM)")
        for other_key, other in chosen.items():
            if overlaps(device, other):
                raise refuse(key, f"{device.describe()} overlaps storage.{other_key} (/dev/{other.name})")
        if ref.size_mib and abs(device.bytes - (ref.size_mib << 20)) >= 1 << 20:
            raise refuse(key, f"{device.describe()} is not the {ref.size_mib} MiB the board file expects")
        if device.bytes < need:
            raise refuse(key, f"{device.describe()} is smaller than the {need >> 20} MiB the campaign needs")
        chosen[key] = device
    return {key: f"/dev/{device.name}" for key, device in chosen.items()}


def prove(session, storage: StorageSpec, need_bytes: dict[str, int]) -> dict[str, str]:
    """Ask the board what block devices it has and prove each role's device (see choose)."""
    result = session.run(FACTS_SCRIPT, timeout_s=60)
    if not result.ok:
        raise BoardError(session.name, f"listing the block devices failed: {result.text.strip()[:200]}")
    return choose(session.name, storage, parse_facts(result.text), need_bytes)
