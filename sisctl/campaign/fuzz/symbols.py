"""Kernel PCs to functions and subsystems (fs/ext4, fs/jbd2, fs/namei.c), from vmlinux's symbol table.

vmlinux keeps, in link order, a FILE symbol per object followed by that object's local symbols.
The objects of one directory are linked in their Makefile's order, so fs/ext4 is the run of files
that starts with balloc.c and holds ext4_jbd2.c, fs/jbd2 the run from transaction.c to journal.c,
and fs/namei.c the namei.c outside fs/ext4. A global function carries no file: it belongs to the
object whose local functions in the same section come last before it (a global placed before its
object's first local function is counted with the object before: an approximation at the edges).
"""
from __future__ import annotations

import bisect
from pathlib import Path

from elftools.elf.elffile import ELFFile

# The objects of each subsystem as fs/*/Makefile lists them (6.1; optional ones included)
EXT4_FILES = frozenset(
    "balloc bitmap block_validity dir ext4_jbd2 extents extents_status file fsmap fsync hash ialloc indirect inline "
    "inode ioctl mballoc migrate mmp move_extent namei page-io readpage resize super symlink sysfs xattr xattr_hurd "
    "xattr_trusted xattr_user fast_commit orphan acl xattr_security verity crypto".split())
JBD2_FILES = frozenset("transaction commit recovery checkpoint revoke journal".split())
SUBSYSTEMS = ("fs/ext4", "fs/jbd2", "fs/namei.c")


def _runs(files: list[str]) -> dict[int, str]:
    """Index of each FILE symbol -> subsystem, for the objects of SUBSYSTEMS."""
    stems = [name.removesuffix(".c") for name in files]
    owner: dict[int, str] = {}
    for start in range(len(stems) - 2):
        if stems[start:start + 3] == ["balloc", "bitmap", "block_validity"]:
            end = start
            while end < len(stems) and stems[end] in EXT4_FILES:
                owner[end] = "fs/ext4"
                end += 1
        if stems[start:start + 2] == ["transaction", "commit"]:
            end = start
            while end < len(stems) and stems[end] in JBD2_FILES:
                owner[end] = "fs/jbd2"
                end += 1
    for index, stem in enumerate(stems):
        if stem == "namei" and index not in owner:
            owner[index] = "fs/namei.c"
    return owner


class SymbolMap:
    """Functions of one vmlinux by address, each with its subsystem (or None)."""

    def __init__(self, vmlinux: Path):
        files: list[str] = []
        funcs = []   # (address, end, name, section, object index or None)
        with open(vmlinux, "rb") as f:
            symtab = ELFFile(f).get_section_by_name(".symtab")
            if symtab is None:
                raise ValueError(f"{vmlinux} has no symbol table")
            for sym in symtab.iter_symbols():
                kind = sym["st_info"]["type"]
                if kind == "STT_FILE":
                    files.append(sym.name)
                elif kind == "STT_FUNC" and sym["st_value"]:
                    local = sym["st_info"]["bind"] == "STB_LOCAL"
                    funcs.append((sym["st_value"], sym["st_value"] + max(1, sym["st_size"]), sym.name,
                                  sym["st_shndx"], len(files) - 1 if local and files else None))
        owner = _runs(files)
        spans: dict[tuple, list[int]] = {}   # (section, object) -> [low, high] of its local functions
        for start, end, _, section, obj in funcs:
            if obj is not None:
                span = spans.setdefault((section, obj), [start, end])
                span[0], span[1] = min(span[0], start), max(span[1], end)
        by_section: dict = {}
        for (section, obj), (low, high) in spans.items():
            by_section.setdefault(section, []).append((low, high, obj))
        for ranges in by_section.values():
            ranges.sort()
        funcs.sort()
        self.starts = [f[0] for f in funcs]
        self.ends = [f[1] for f in funcs]
        self.names = [f[2] for f in funcs]
        self.subsystems = [owner.get(obj if obj is not None else _containing(by_section.get(section, []), start))
                           for start, _, _, section, obj in funcs]

    def function(self, pc: int) -> int | None:
        """Index of the function holding `pc`."""
        i = bisect.bisect_right(self.starts, pc) - 1
        return i if i >= 0 and pc < self.ends[i] else None

    def by_subsystem(self, pcs) -> dict[str, dict]:
        """PCs and functions reached per subsystem (and in total)."""
        counts = {name: [0, set()] for name in (*SUBSYSTEMS, "total")}
        for pc in pcs:
            i = self.function(pc)
            where = self.subsystems[i] if i is not None else None
            for name in ("total", where) if where else ("total",):
                counts[name][0] += 1
                if i is not None:
                    counts[name][1].add(i)
        return {name: {"pcs": n, "functions": len(fns)} for name, (n, fns) in counts.items()}


def _containing(ranges: list[tuple[int, int, int]], address: int) -> int | None:
    i = bisect.bisect_right(ranges, (address, float("inf"), 0)) - 1
    return ranges[i][2] if i >= 0 else None
