"""`--profile on` of ext4-crash and fuzz campaigns on the Debian kernel: the agent samples the
phases where the kernel recovers crash states and runs fuzz inputs, and the profiles name the file
system's own functions there."""
from __future__ import annotations

from pathlib import Path

from sisctl.campaign.core.runner import start
from sisctl.profile.folded import read_folded


def functions_on_stack(out: Path, figures: dict) -> set[str]:
    """Every function on a sampled stack of a phase, on any board."""
    stacks = [read_folded(p.read_text()) for p in (out / figures["folder"]).glob("*.folded")]
    return {frame.split(" [")[0] for folded in stacks for path in folded for frame in path[1:]}


def test_a_crash_campaigns_recovery_phase_is_profiled_into_ext4_and_jbd2(board):
    summary = start("ext4-crash", board.name, {"scenario": "generated-2", "runs": 1, "profile": "on"}, 5,
                    progress=lambda _: None)
    assert summary["status"] == "passed" and summary["states"] > 0
    profiles = summary["phase_profiles"]
    assert set(profiles) == {"workload", "guest check"}
    check = profiles["guest check"]
    assert check["counted"] > 50 and check["commands"] >= 1 and check["symbols"].startswith("kallsyms")
    out = Path(summary["report"])
    assert {"ext4_fill_super", "jbd2_journal_load"} <= functions_on_stack(out, check)    # mount and recovery
    workload = functions_on_stack(out, profiles["workload"])         # a short one at 200 Hz: some of ext4
    assert any(f.startswith(("ext4_", "jbd2_")) for f in workload), sorted(workload)
    page = (out / "index.html").read_text()
    assert "Where the kernel spent &#x27;guest check&#x27;" in page or "Where the kernel spent 'guest check'" in page
    assert (out / check["folder"] / "flame.svg").exists() and (out / check["folder"] / f"{board.name}.folded").exists()


def test_a_fuzz_campaigns_batches_are_profiled(board, tmp_path):
    summary = start("fuzz", board.name, {"target": "vfs-ops", "duration": "8s", "corpus": str(tmp_path / "corpus"),
                                         "profile": "on", "minimize": "off"}, 1, progress=lambda _: None)
    assert summary["execs"] > 0
    run = summary["phase_profiles"]["guest run"]
    assert run["counted"] > 20 and run["commands"] >= 1
    assert "ext4_fill_super" in functions_on_stack(Path(summary["report"]), run)   # each input's mount
