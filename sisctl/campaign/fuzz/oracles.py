"""What a fuzz exec found: a kernel report (titled by triage.py), a guest that stops answering (hang),
a wrong errno for a VFS path case, and `e2fsck -fn` failing on an unmutated seed that was mounted,
worked on and cleanly unmounted. "EXT4-fs error" lines are the kernel detecting corruption: counted
by the executor, never findings."""
from __future__ import annotations

import json
import re
from pathlib import Path

from sisctl.image.ext4 import e2fsck
from sisctl.campaign.fuzz.crashes import Finding
from sisctl.campaign.fuzz.executor import ExecResult
from sisctl.campaign.fuzz.inputs import FuzzInput
from sisctl.campaign.fuzz.pathcases import wrong_errnos
from sisctl.campaign.fuzz.seeds import Seed


def judge(fuzz_input: FuzzInput, result: ExecResult, seeds: dict[str, Seed], work: Path) -> list[Finding]:
    """What this exec found. Oracles: kernel report, hang, wrong errno, and e2fsck on an unmutated seed
    that was mounted and cleanly unmounted."""
    found = []
    if result.crash:
        found.append(Finding(result.crash.title, result.crash.kind, result.crash.usable_stack, result.crash.report))
    elif result.hang:   # named by the first op without a result, if the agent said how far it got
        stuck = next((op[0] for op, err in zip(fuzz_input.ops, result.errnos) if err is None), None)
        title = f"hang: {stuck} did not return" if stuck and result.mount is not None else \
            "hang: the guest stopped answering"
        found.append(Finding(title, "hang", False, result.hang))
    if fuzz_input.expect is not None and not result.crashed:
        for wrong in wrong_errnos(fuzz_input.ops, fuzz_input.expect, result.errnos):
            title = f"wrong errno: {wrong['op'][0]} gave {wrong['got']}, expected {wrong['expected']}"
            found.append(Finding(title, "wrong errno", True, json.dumps(wrong)))
    if not fuzz_input.mutations and not result.crashed and result.mount == 0 and result.umount == 0:
        after = work / "after.img"          # the file system part of the disk after the unmount
        after.write_bytes(result.after[:seeds[fuzz_input.seed].image.stat().st_size])
        fsck = e2fsck(after)
        if not fsck.clean:
            first = next((line for line in fsck.output.splitlines()[1:] if line.strip()), fsck.meaning)
            # numbers (inode, block, count) become N so one problem is one finding; words like e2fsck stay
            title = "e2fsck -fn fails after a clean unmount: " + re.sub(r"\b\d+\b", "N", first)[:90]
            found.append(Finding(title, "fsck", True, fsck.output))
    return found
