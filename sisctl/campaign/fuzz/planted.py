"""The planted bug of the linux-kbuild-planted recipe (firmware/patches/ext4-planted-nodump-truncate.patch):
a WARN_ON in ext4_setattr when a file whose inode has EXT4_NODUMP_FL changes size. Used by the
fuzz self-test and benchmark to know, without a VM, which generated inputs meet it."""
from __future__ import annotations

from sisctl.campaign.fuzz.campaign import next_input
from sisctl.campaign.fuzz.inputs import FuzzInput
from sisctl.campaign.fuzz.ops import O_TRUNC
from sisctl.campaign.fuzz.seeds import Seed

NODUMP = 0x40
TITLE = "WARNING in ext4_setattr"


def meets_planted_bug(fuzz_input: FuzzInput, seeds: dict[str, Seed]) -> bool:
    """True if a mutation leaves NODUMP on a regular file and an op then changes that file's size."""
    seed = seeds[fuzz_input.seed]
    flags = {n.ino: n.flags for n in seed.inodes}
    raw = [(m[1], m[1] + len(m[2]) // 2) for m in fuzz_input.mutations if m[0] == "raw"]
    for m in fuzz_input.mutations:
        if m[0] == "inode" and m[2] == "flags":
            flags[m[1]] = m[3]
    hit = lambda start, end: any(a < end and start < b for a, b in raw)   # noqa: E731
    if hit(1024, 2048):   # the superblock (or its checksum) was written raw: the mount may fail
        return False
    marked = {n.path for n in seed.files("file") if flags.get(n.ino, 0) & NODUMP and not hit(n.offset, n.offset + 256)}
    return any((op[0] == "truncate" or (op[0] == "open" and op[2] & O_TRUNC)) and op[1] in marked
               for op in fuzz_input.ops)


def first_planted_hit(campaign_seed: int, targets: list[str], seeds: dict[str, Seed], limit: int) -> int | None:
    """The first exec index below `limit` whose fresh input surely meets the planted bug (no raw bytes
    anywhere, so nothing else can stop the mount), for this campaign seed."""
    for index in range(limit):
        fuzz_input = next_input(campaign_seed, index, targets, seeds, None)
        if (fuzz_input is not None and meets_planted_bug(fuzz_input, seeds)
                and not any(m[0] == "raw" for m in fuzz_input.mutations)):
            return index
    return None
