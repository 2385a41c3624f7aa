"""The ext4-crash page: counts, plots, and every failing state with its evidence, from records."""
from __future__ import annotations

import re

from sisctl.campaign.ext4crash.report import page_sections
from sisctl.campaign.ext4crash.summary import failure_cause, summarize
from sisctl.report.page import Figure, Group, Page, Paragraph, render


def state(key: str, outcome: str = "ok", at: float = 100.0, **extra) -> dict:
    scenario, run, name = key.split("/")
    return {"type": "state", "state_key": key, "scenario": scenario, "run": int(run), "outcome": outcome,
            "recovery_ms": 12.5, "guest_problem": "", "checked_at": at, "violations": [],
            "e2fsck": {"code": 0, "meaning": "clean", "output": ""}, "sanity": True,
            "crash_point": {"state": name, "log_entries": 9, "dropped": [], "persistence_calls_completed": 1},
            "reproduce": f"invoke campaign.replay --campaign c --state {key}", **extra}


def sections_for(tmp_path, records):
    summary = {"report": str(tmp_path / "c"), "mode": "powerloss", "states_per_minute": 30.0,
               "finished_epoch": 200.0, "elapsed_s": 120, **summarize(records)}
    (tmp_path / "c").mkdir(exist_ok=True)
    return page_sections(summary, records)


def test_a_campaign_without_states_says_there_is_nothing_to_show(tmp_path):
    (only,) = sections_for(tmp_path, [])
    assert isinstance(only, Paragraph) and "No crash state" in only.text


def test_failing_states_get_their_evidence_and_replay_command(tmp_path):
    log = tmp_path / "runs" / "x-check" / "console.log"
    log.parent.mkdir(parents=True)
    log.write_bytes(b"before\r\n@@SIS D 1-2 O 0 QUJD 1234\r\n[ 1.0] EXT4-fs (vdb): recovery complete\r\n"
                    b"[ 1.1] EXT4-fs error (vdc): bad inode\r\nafter\r\n")
    window = {"log": str(log), "from": len(b"before\r\n"), "to": log.stat().st_size - len(b"after\r\n"),
              "slot": "slot1"}
    lost = {"kind": "corrupt", "path": "big", "guarantee": "fsync(big) at op 2", "detail": "crc differs"}
    records = [state("a/0/flush-1", at=90), state("a/0/flush-2", "violation", 95, violations=[lost], console=window),
               state("b/0/end", "mount-failed", 150, guest_problem="mount failed: Input/output error",
                     e2fsck={"code": 4, "meaning": "errors left uncorrected", "output": "Inode 12 <bad>\n"}),
               {"type": "run", "run_key": "a/0", "kept": True}]
    sections = sections_for(tmp_path, records)
    assert sum(isinstance(s, Figure) for s in sections) == 3          # outcomes, recovery, rate
    groups = [s for s in sections if isinstance(s, Group)]
    assert [g.title for g in groups] == ["a/0/flush-2", "b/0/end"]
    html = render(Page("t", "failed", sections=sections))
    for anchor in re.findall(r'href="#([^"]+)"', html):               # the failing-states table links below
        assert f'id="{anchor}"' in html
    assert "corrupt big: fsync(big) at op 2" in html and "crc differs" in html
    assert "Inode 12 &lt;bad&gt;" in html                               # e2fsck output, escaped
    assert "EXT4-fs error (vdc): bad inode" in html and "@@SIS" not in html and "before" not in html
    assert 'href="../runs/x-check/console.log"' in html
    assert "invoke campaign.replay --campaign c --state b/0/end" in html


def test_a_failure_line_names_the_cause_not_the_mount_error():
    mount = state("b/0/end", "mount-failed", guest_problem="mount failed: Input/output error")
    assert failure_cause(mount) == "e2fsck: clean, yet the kernel could not mount it"
    mount["e2fsck"] = {"code": 4, "meaning": "errors left uncorrected", "output": "x"}
    assert failure_cause(mount) == "e2fsck: errors left uncorrected"
    lost = {"kind": "missing", "path": "d/f", "guarantee": "fsync(d/f)", "detail": ""}
    assert failure_cause(state("a/0/s", "violation", violations=[lost])) == "missing d/f: fsync(d/f)"
    assert failure_cause(state("a/0/s", "fsck", e2fsck={"code": 1, "meaning": "errors fixed"})) == "e2fsck: errors fixed"
