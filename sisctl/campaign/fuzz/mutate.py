"""Field-aware ext4 image mutations, applied to a seed with debugfs (which repairs the checksums of
what it sets when asked) and raw byte writes (which never do).

A mutation is a JSON list [kind, args...], so an input's mutations can be stored, replayed and
delta-debugged one by one:
  ["sb", FIELD, VALUE]              superblock field (set_super_value)
  ["bg", GROUP, FIELD, VALUE]       group descriptor field (set_bg)
  ["inode", INO, FIELD, VALUE]      inode field, incl. flags, links_count, size, block[N] (extent header
                                    and entries live in block[0..14])
  ["xattr", INO, NAME, VALUE]       set an extended attribute; VALUE "" removes it
  ["raw", OFFSET, HEX]              bytes written as they are: directory entries, the journal superblock,
                                    bitmaps, checksum fields, random flips
With `repair`, the checksums of the superblock, every group descriptor and every inode touched are
recomputed after the mutations; without, they are left as the mutations leave them.
"""
from __future__ import annotations

import random
import shutil
from pathlib import Path

from sisctl.campaign.fuzz.seeds import InodeInfo, Seed, debugfs

SB_FIELDS = ("inodes_count", "blocks_count", "free_blocks_count", "free_inodes_count", "first_data_block",
             "log_block_size", "log_cluster_size", "blocks_per_group", "inodes_per_group", "state", "rev_level",
             "first_ino", "inode_size", "feature_compat", "feature_incompat", "feature_ro_compat",
             "reserved_gdt_blocks", "journal_inum", "last_orphan", "def_hash_version", "desc_size",
             "first_meta_bg", "min_extra_isize", "want_extra_isize", "log_groups_per_flex", "flags",
             "lpf_ino", "orphan_file_inum", "mmp_block", "raid_stride")
BG_FIELDS = ("block_bitmap", "inode_bitmap", "inode_table", "free_blocks_count", "free_inodes_count",
             "used_dirs_count", "flags", "itable_unused")
INODE_FIELDS = ("flags", "flags", "flags", "links_count", "size", "mode", "block[0]", "block[1]", "block[2]",
                "block[3]", "block[4]", "block[5]", "extra_isize", "file_acl", "blocks", "dtime", "generation")
# i_flags bits (fs/ext4/ext4.h): SECRM..NOATIME, INDEX, JOURNAL_DATA, NOTAIL, DIRSYNC, TOPDIR, HUGE_FILE,
# EXTENTS, VERITY, EA_INODE, DAX, INLINE_DATA, PROJINHERIT, CASEFOLD
INODE_FLAG_BITS = (0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80, 0x1000, 0x4000, 0x8000, 0x10000, 0x20000,
                   0x40000, 0x80000, 0x100000, 0x200000, 0x2000000, 0x10000000, 0x20000000, 0x40000000)
MODES = (0o100644, 0o40755, 0o120777, 0o20644, 0o60644, 0o10644, 0o140644, 0o170000, 0)
XATTR_NAMES = ("user.one", "user.long", "user.dir", "user.new", "trusted.t", "security.s", "system.data",
               "user." + "n" * 200)
# Journal superblock (big-endian): blocktype, blocksize, maxlen, first, sequence, start, errno,
# feature_compat, feature_incompat, feature_ro_compat, nr_users.
JSB_OFFSETS = (4, 12, 16, 20, 24, 28, 32, 36, 40, 44, 64)


def interesting(rng: random.Random, width: int = 32) -> int:
    top = (1 << width) - 1
    return rng.choice((0, 1, 2, 3, 7, 0x10, 0x7f, 0x80, 0xff, 0x100, 0x400, 0x1000, 0x7fff, 0x8000, 0xffff,
                       0x10000, 0x7fffffff, 0x80000000, top, top - 1, rng.getrandbits(width)))


def random_mutation(rng: random.Random, seed: Seed) -> list:
    kind = rng.choices(("inode", "sb", "bg", "xattr", "dirent", "journal", "bitmap", "flip"),
                       weights=(40, 12, 8, 10, 10, 5, 5, 10))[0]
    node = rng.choice(seed.inodes)
    if kind == "inode":
        name = rng.choice(INODE_FIELDS)
        if name == "flags":   # set one to three bits, or toggle one
            bits = rng.sample(INODE_FLAG_BITS, rng.choice((1, 1, 2, 3)))
            value = node.flags | sum(bits) if rng.random() < 0.7 else node.flags ^ bits[0]
        elif name == "mode":
            value = rng.choice(MODES)
        elif name == "links_count":
            value = rng.choice((0, 1, 2, 0xffff, 65000))
        else:
            value = interesting(rng)
        return ["inode", node.ino, name, value]
    if kind == "sb":
        return ["sb", rng.choice(SB_FIELDS), interesting(rng)]
    if kind == "bg":
        return ["bg", rng.randrange(seed.groups), rng.choice(BG_FIELDS), interesting(rng, 16)]
    if kind == "xattr":
        value = rng.choice(("", "x", "v" * rng.choice((1, 60, 200, 1000, 3000))))
        return ["xattr", node.ino, rng.choice(XATTR_NAMES), value]
    if kind == "dirent":
        dirs = [d for d in seed.files("dir") if d.blocks]
        if dirs:   # inode, rec_len, name_len, file_type of an entry in the first 128 bytes of a dir block
            block = rng.choice(rng.choice(dirs).blocks)
            offset = block * seed.block_size + rng.choice((0, 12, 24, 36, 48, 60, 72)) + rng.choice((0, 4, 6, 7))
            return ["raw", offset, _bytes(rng, rng.choice((1, 2, 4)))]
    if kind == "journal" and seed.journal_blocks:
        offset = seed.journal_blocks[0] * seed.block_size + rng.choice(JSB_OFFSETS)
        return ["raw", offset, _bytes(rng, 4)]
    if kind == "bitmap":
        return ["bg", rng.randrange(seed.groups), rng.choice(("block_bitmap", "inode_bitmap")),
                rng.choice((0, 1, 2, 3, seed.image.stat().st_size // seed.block_size - 1))]
    # the baseline: a few random bytes anywhere in the first 64 KiB of metadata
    size = min(seed.image.stat().st_size, 64 << 10)
    return ["raw", rng.randrange(size), _bytes(rng, rng.choice((1, 2, 4, 8)))]


def _bytes(rng: random.Random, n: int) -> str:
    return bytes(rng.getrandbits(8) for _ in range(n)).hex()


def stale_checksum(rng: random.Random, seed: Seed, mutations: list[list]) -> list:
    """A raw write that breaks a checksum the repair just made: the superblock's or a mutated inode's."""
    inodes = {m[1] for m in mutations if m[0] in ("inode", "xattr")}
    nodes = [n for n in seed.inodes if n.ino in inodes]
    if nodes and rng.random() < 0.7:
        return ["raw", rng.choice(nodes).offset + 0x7C, _bytes(rng, 2)]   # l_i_checksum_lo
    return ["raw", 1024 + 0x3FC, _bytes(rng, 4)]                            # s_checksum


def debugfs_script(mutations: list[list], repair: bool) -> str:
    """The debugfs commands of the structured mutations (raw ones are not debugfs commands)."""
    lines, inodes, groups, sb = [], [], [], False
    for m in mutations:
        if m[0] == "sb":
            lines.append(f"set_super_value {m[1]} {m[2]}")
            sb = True
        elif m[0] == "bg":
            lines.append(f"set_bg {m[1]} {m[2]} {m[3]}")
            groups.append(m[1])
        elif m[0] == "inode":
            lines.append(f"set_inode_field <{m[1]}> {m[2]} {m[3]}")
            inodes.append(m[1])
        elif m[0] == "xattr":
            lines.append(f"ea_set <{m[1]}> {m[2]} {m[3]}" if m[3] else f"ea_rm <{m[1]}> {m[2]}")
            inodes.append(m[1])
    if repair:
        lines += [f"set_inode_field <{i}> checksum calc" for i in dict.fromkeys(inodes)]
        lines += [f"set_bg {g} checksum calc" for g in dict.fromkeys(groups)]
        if sb or groups:
            lines.append("set_super_value checksum calc")
    return "".join(line + "\n" for line in lines)


def apply(seed: Seed, mutations: list[list], repair: bool, out: Path) -> None:
    """`out` = the seed with the mutations: structured ones through debugfs, then raw ones."""
    shutil.copyfile(seed.image, out)
    script = debugfs_script(mutations, repair)
    if script:
        debugfs(out, script, write=True)
        with open(out, "r+b") as f:   # a mutated geometry can make debugfs write far past the image
            f.truncate(seed.image.stat().st_size)
    raw = [m for m in mutations if m[0] == "raw"]
    if raw:
        with open(out, "r+b") as f:
            size = f.seek(0, 2)
            for _, offset, data in raw:
                if offset < size:
                    f.seek(offset)
                    f.write(bytes.fromhex(data)[:size - offset])


def mutated_inodes(seed: Seed, mutations: list[list]) -> list[InodeInfo]:
    """The seed's inodes a mutation touched: op generators aim at them."""
    touched = {m[1] for m in mutations if m[0] in ("inode", "xattr")}
    return [n for n in seed.inodes if n.ino in touched and n.path]
