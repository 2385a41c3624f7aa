"""Records survive a killed writer; guest check output is parsed per slot; summaries count right."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from sisctl.campaign.ext4crash.disk import FS_BYTES, MARK_SIZE, make_base_image, read_marks
from sisctl.campaign.ext4crash.guestfs import OPS_END, check_script, parse_check_output, workload_script
from sisctl.campaign.core.records import RecordLog, read_records
from sisctl.campaign.ext4crash.summary import scenario_cases, summarize
from sisctl.errors import UsageError
from sisctl.report.junit import write_junit

import pytest
import struct
import zlib


def test_records_append_and_a_torn_tail_is_dropped_before_appending(tmp_path):
    path = tmp_path / "records.jsonl"
    with RecordLog(path) as log:
        log.append({"n": 1})
        log.append({"n": 2})
    with open(path, "a") as f:
        f.write('{"n": 3, "cut sho')          # a writer killed mid-line
    assert [r["n"] for r in read_records(path)] == [1, 2]
    with RecordLog(path) as log:
        log.append({"n": 4})
    assert [r["n"] for r in read_records(path)] == [1, 2, 4]


@pytest.mark.parametrize("line", [b"\xff\xfe not utf-8\n", b"{not json\n", b"[1, 2]\n", b"7\n"])
def test_a_line_that_is_no_record_is_named_by_file_and_line(tmp_path, line):
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"n": 1}\n' + line + b'{"n": 3}\n')
    with pytest.raises(UsageError, match=r"records.jsonl: line 2: not a record"):
        list(read_records(path))
    assert path.read_bytes().startswith(b'{"n": 1}\n')   # nothing dropped or rewritten


def test_check_output_is_split_per_slot():
    text = ("== slot0\nrecovery_ns 12500000\nd D\nf D/A 4096 0badc0de 1\nl L target\nsanity ok\n"
            "== slot1\nmount failed: mount: mounting /dev/vdc on /mnt/slot1 failed: Invalid argument\n")
    reports = parse_check_output(text, ["slot0", "slot1", "slot2"])
    assert reports["slot0"].mounted and reports["slot0"].recovery_ms == 12.5 and reports["slot0"].sanity
    assert reports["slot0"].dump == ["d D", "f D/A 4096 0badc0de 1", "l L target"]
    assert not reports["slot1"].mounted and "Invalid argument" in reports["slot1"].problem
    assert reports["slot2"].problem == "no report from the guest"


def test_scripts_name_disks_by_serial_and_refuse_a_terminator_in_ops():
    assert check_script(["slot0", "slot1"]) == "sisagent check /mnt slot0 slot1\n"
    assert "mount -t ext4 $dev /mnt/work" in workload_script("work", "creat A\nsync\n", unmount=True)
    with pytest.raises(ValueError):
        workload_script("work", f"creat A\n{OPS_END}\n", unmount=False)


def _mark(index: int, op: int, good: bool = True) -> bytes:
    head = b"SISMARK1" + struct.pack("<II", index, op)
    crc = zlib.crc32(head) ^ (0 if good else 1)
    return (head + struct.pack("<I", crc)).ljust(MARK_SIZE, b"\0")


def test_marks_count_only_an_unbroken_valid_run(tmp_path):
    image = tmp_path / "disk.img"
    make_base_image(image)
    assert read_marks(image) == []
    with open(image, "r+b") as f:
        f.seek(FS_BYTES)
        f.write(_mark(0, 2) + _mark(1, 5) + _mark(2, 9, good=False) + _mark(3, 11))
    assert [(m.persist_index, m.op_index) for m in read_marks(image)] == [(0, 2), (1, 5)]


def _state(scenario, name, outcome, recovery, violations=()):
    return {"type": "state", "scenario": scenario, "state_key": f"{scenario}/0/{name}", "outcome": outcome,
            "recovery_ms": recovery, "violations": list(violations), "e2fsck": {"meaning": "clean"},
            "reproduce": f"invoke campaign.replay --state {scenario}/0/{name}"}


def test_summary_and_junit_name_the_violated_guarantee(tmp_path):
    violation = {"kind": "missing", "path": "A", "guarantee": "fsync(A) at op 2", "detail": "absent"}
    records = [_state("s1", "flush-3", "ok", 10.0), _state("s1", "flush-5", "violation", 30.0, [violation]),
               _state("s2", "end", "ok", 5.0), {"type": "run", "run_key": "s1/0"}]
    summary = summarize(records)
    assert summary["states"] == 3 and summary["failed"] == 1
    assert summary["scenarios"]["s1"]["recovery_rate"] == 0.5
    assert summary["scenarios"]["s1"]["recovery_ms_mean"] == 20.0
    write_junit(tmp_path / "junit.xml", "ext4-crash", scenario_cases(summary))
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    failures = suite.findall(".//failure")
    assert suite.get("tests") == "2" and len(failures) == 1
    assert "missing A: fsync(A) at op 2" in failures[0].text and "campaign.replay" in failures[0].text
