"""The proof that a board's scratch device is the one named and safe to destroy, judged from what
the board reports of its block devices (the board side runs in tests/integration/test_power_cut_board.py)."""
from __future__ import annotations

import pytest

from sisctl import config
from sisctl.board.spec import load_board
from sisctl.board.storage import DeviceRef, StorageSpec, choose, parse_facts
from sisctl.errors import UsageError

MIB = 1 << 20
# An SD card (mmcblk0: a boot partition and a scratch partition), a USB disk, and what is mounted.
FACTS = "\n".join([
    "dev\tmmcblk0\tmmcblk0\t0\t262144\t\t0x8a3c11f0",
    "dev\tmmcblk0p1\tmmcblk0\t1\t32768\tbootfs\t0x8a3c11f0",
    "dev\tmmcblk0p2\tmmcblk0\t2\t196608\tsis-scratch\t0x8a3c11f0",
    "dev\tsda\tsda\t0\t2097152\t\tUSB123",
    "dev\tsda1\tsda\t1\t2097152\troot\tUSB123",
    "mount\trootfs\t/",
    "mount\t/dev/sda1\t/srv",
    "cmdline\tconsole=ttyAMA0 panic=-1",
])
NEED = {"scratch": 80 * MIB}


def proven(storage: StorageSpec, facts: str = FACTS, need=NEED) -> dict[str, str]:
    return choose("pi-7", storage, parse_facts(facts), need)


def refusal(storage: StorageSpec, facts: str = FACTS, need=NEED) -> str:
    with pytest.raises(UsageError) as caught:
        proven(storage, facts, need)
    return str(caught.value)


def test_a_partition_is_found_by_its_label_and_a_disk_by_its_serial():
    assert proven(StorageSpec(scratch=DeviceRef(label="sis-scratch"))) == {"scratch": "/dev/mmcblk0p2"}
    assert proven(StorageSpec(scratch=DeviceRef(serial="0x8a3c11f0", partition=2))) == {"scratch": "/dev/mmcblk0p2"}


def test_the_boot_device_and_the_disk_holding_it_are_refused():
    boot = DeviceRef(label="bootfs")
    said = refusal(StorageSpec(scratch=DeviceRef(label="bootfs"), boot=boot), need={"scratch": MIB})
    assert said == ("pi-7: storage.scratch (partition label 'bootfs'): /dev/mmcblk0p1 (label 'bootfs', 16 MiB) "
                    "is the board's boot device (storage.boot); nothing was written")
    said = refusal(StorageSpec(scratch=DeviceRef(serial="0x8a3c11f0"), boot=boot))
    assert "/dev/mmcblk0 (serial '0x8a3c11f0', 128 MiB) holds /dev/mmcblk0p1, the board's boot device" in said


def test_the_root_device_is_refused_whether_named_on_the_command_line_or_mounted():
    facts = FACTS.replace("console=ttyAMA0", "root=PARTLABEL=sis-scratch console=ttyAMA0")
    assert "is the device the board runs from (its root file system)" in refusal(
        StorageSpec(scratch=DeviceRef(label="sis-scratch")), facts)
    facts = FACTS.replace("mount\trootfs\t/", "mount\t/dev/mmcblk0p2\t/")
    assert "is the device the board runs from" in refusal(StorageSpec(scratch=DeviceRef(label="sis-scratch")), facts)


def test_a_mounted_device_or_a_disk_with_a_mounted_partition_is_refused():
    said = refusal(StorageSpec(scratch=DeviceRef(serial="USB123")), need={"scratch": MIB})
    assert said.endswith("/dev/sda1 is mounted at /srv; nothing was written")
    assert "/dev/sda1 is mounted at /srv" in refusal(StorageSpec(scratch=DeviceRef(label="root")), need={"scratch": MIB})


def test_a_wrong_label_says_what_the_board_has():
    said = refusal(StorageSpec(scratch=DeviceRef(label="scratch")))
    assert said.startswith("pi-7: storage.scratch (partition label 'scratch'): no such device on the board; found "
                           "/dev/mmcblk0 (serial '0x8a3c11f0', 128 MiB), /dev/mmcblk0p1 (label 'bootfs', 16 MiB)")


def test_size_expected_and_needed():
    assert "is not the 64 MiB the board file expects" in refusal(
        StorageSpec(scratch=DeviceRef(label="sis-scratch", size_mib=64)))
    assert proven(StorageSpec(scratch=DeviceRef(label="sis-scratch", size_mib=96)))
    assert "smaller than the 200 MiB the campaign needs" in refusal(
        StorageSpec(scratch=DeviceRef(label="sis-scratch")), need={"scratch": 200 * MIB})


def test_two_devices_of_one_label_or_one_device_for_two_roles_are_refused():
    twice = FACTS + "\ndev\tsdb1\tsdb\t1\t196608\tsis-scratch\tX"
    assert "names 2 devices" in refusal(StorageSpec(scratch=DeviceRef(label="sis-scratch")), twice)
    both = StorageSpec(scratch=DeviceRef(label="sis-scratch"), log=DeviceRef(serial="0x8a3c11f0", partition=2))
    assert "overlaps storage.scratch (/dev/mmcblk0p2)" in refusal(both, need={"scratch": MIB, "log": MIB})


def test_a_line_the_board_garbled_is_left_out():
    facts = parse_facts("dev\tvda\tvda\tx\t100\t\tS\ndev\tvdb\tvdb\t0\t163840\t\twork\nnoise")
    assert [d.name for d in facts.devices] == ["vdb"]


@pytest.mark.parametrize("storage, key, says", [
    ("{log: {label: x}}", "storage.scratch", "name the device a campaign may destroy"),
    ("{scratch: {label: a, serial: b}}", "storage.scratch", "either label"),
    ("{scratch: {}}", "storage.scratch", "either label"),
    ("{scratch: {label: a, partition: 2}}", "storage.scratch.partition", "goes with serial"),
    ("{scratch: {lable: a}}", "storage.scratch.lable", ""),
])
def test_a_bad_storage_entry_names_its_key(tmp_path, storage, key, says):
    path = tmp_path / "b.yaml"
    path.write_text(f"name: b\nstorage: {storage}\n")
    with pytest.raises(config.ConfigError) as caught:
        load_board(path)
    assert f"key '{key}'" in str(caught.value) and says in str(caught.value)


# The SD card of a Pi running its own OS: root by PARTUUID, mounted as /dev/root, found by its number.
PI = "\n".join([
    "dev\tmmcblk0\tmmcblk0\t0\t262144\t\t0x8a3c11f0\t179:0\t",
    "dev\tmmcblk0p1\tmmcblk0\t1\t32768\t\t0x8a3c11f0\t179:1\t",
    "dev\tmmcblk0p2\tmmcblk0\t2\t196608\t\t0x8a3c11f0\t179:2\t",
    "dev\tmmcblk0p3\tmmcblk0\t3\t196608\t\t0x8a3c11f0\t179:3\t",
    f"mount\t/dev/root\t/\t{(179 << 8) | 2}",
    "cmdline\tconsole=serial0,115200 root=PARTUUID=6c586e13-02 rootwait",
])
SD = "0x8a3c11f0"


def test_a_root_found_by_partuuid_or_number_is_refused():
    assert "is the device the board runs from" in refusal(StorageSpec(scratch=DeviceRef(serial=SD, partition=2)), PI)
    assert "holds /dev/mmcblk0p2, the device the board runs from" in refusal(StorageSpec(scratch=DeviceRef(serial=SD)), PI)
    by_number = PI.replace(f"\t/\t{(179 << 8) | 2}", "\t/\t").replace("PARTUUID=6c586e13-02", "179:2")
    assert "is the device the board runs from" in refusal(StorageSpec(scratch=DeviceRef(serial=SD, partition=2)), by_number)
    assert proven(StorageSpec(scratch=DeviceRef(serial=SD, partition=3)), PI) == {"scratch": "/dev/mmcblk0p3"}


def test_a_device_held_by_device_mapper_or_used_as_swap_is_refused():
    held = PI.replace("179:3\t", "179:3\tdm-0 ")
    assert "/dev/mmcblk0p3 is in use by /dev/dm-0 (device-mapper, md or LVM)" in refusal(
        StorageSpec(scratch=DeviceRef(serial=SD, partition=3)), held)
    swapping = PI + "\nswap\t/dev/mmcblk0p3"
    assert "is swap space of the board" in refusal(StorageSpec(scratch=DeviceRef(serial=SD, partition=3)), swapping)
