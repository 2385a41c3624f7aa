"""Files sisctl reads back, handed over damaged or crafted: a FIFO, a device, a folder, JSON nested
thousands deep, a damaged sibling summary, a name too long to be a file. Each is one clear error
(exit 2) or is skipped, never a hang, an endless read or a traceback."""
from __future__ import annotations

import errno
import json
import os

import pytest
from invoke import Exit

from sisctl.campaign.core.records import read_records
from sisctl.cli.common import guard
from sisctl.jsonfile import NotJson, read_json
from sisctl.report.index import collect


@pytest.fixture
def odd_files(tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    folder = tmp_path / "folder.json"
    folder.mkdir()
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    return {"fifo": fifo, "zero": zero, "folder": folder, "deep": deep}


@pytest.mark.parametrize("kind, says", [("fifo", "not a regular file"), ("zero", "not a regular file"),
                                        ("folder", "not a regular file"), ("deep", "not JSON")])
def test_an_odd_file_is_named_and_refused(odd_files, kind, says):
    with pytest.raises(NotJson, match=f"{odd_files[kind]}: {says}"):
        read_json(odd_files[kind])


def test_records_in_a_fifo_are_refused_not_waited_for(odd_files):
    with pytest.raises(NotJson, match="not a regular file"):
        list(read_records(odd_files["fifo"]))


def test_a_damaged_summary_beside_good_ones_is_listed_not_fatal(tmp_path):
    for name, summary in {"good": {"status": "passed", "finished_epoch": 5.0, "provenance": {"kernel_version": "6.1"}},
                          "provenance-number": {"provenance": 7}, "epoch-text": {"finished_epoch": "abc"},
                          "epoch-nan": {"finished_epoch": "nan"}, "a-list": [1]}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "fifo-run").mkdir()
    os.mkfifo(tmp_path / "fifo-run" / "summary.json")
    entries = {e.id: e for e in collect(tmp_path)}
    assert set(entries) == {"good", "provenance-number", "epoch-text", "epoch-nan", "a-list", "fifo-run"}
    assert entries["good"].kernel == "6.1" and entries["good"].status == "passed"
    assert entries["a-list"].status == entries["fifo-run"].status == "error"


@pytest.mark.parametrize("code", [errno.ENAMETOOLONG, errno.ELOOP, errno.EISDIR])
def test_a_path_that_cannot_name_a_file_is_bad_input(code):
    @guard
    def task():
        raise OSError(code, os.strerror(code), "s" * 100_000)
    with pytest.raises(Exit) as done:
        task()
    assert done.value.code == 2 and len(done.value.message) < 400 and "100000 characters" in done.value.message
