"""VFS path cases with the errno Linux must give: `//`, `.`, `..`, trailing slashes, NAME_MAX and
NAME_MAX+1, near and over PATH_MAX, 1000+ components, embedded newlines, symlink chains and loops,
paths through files. A wrong errno is a finding, not only a crash.

Every input runs the setup in a fresh folder "p" of a clean seed, then a random selection of the
cases in random order; cases that create something use names of their own, so the expectations
hold in any order. Paths of short cases are decorated with `//`, `./` and `sub/..` detours that
do not change what they resolve to.
"""
from __future__ import annotations

import errno
import random
from dataclasses import dataclass

NAME_MAX, PATH_MAX, MAXSYMLINKS = 255, 4096, 40
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY = 0o1, 0o100, 0o200, 0o40000


@dataclass(frozen=True)
class Case:
    op: tuple                     # [name, args...] with {p} standing for the (decorated) base folder
    expect: int                   # 0 or an errno
    decorate: bool = True         # False where the exact length matters


def setup_ops() -> list[list]:
    """The base folder: a file, a subfolder, a symlink chain one longer than Linux follows, a loop."""
    ops = [["mkdir", "p"], ["mkdir", "p/sub"], ["creat", "p/f"], ["symlink", "f", "p/l1"]]
    ops += [["symlink", f"l{i - 1}", f"p/l{i}"] for i in range(2, MAXSYMLINKS + 2)]
    return ops + [["symlink", "lb", "p/la"], ["symlink", "la", "p/lb"]]


E = errno
CASES = (
    Case(("stat", "{p}//f"), 0),
    Case(("stat", "{p}/./f"), 0),
    Case(("stat", "{p}/sub/../f"), 0),
    Case(("stat", "{p}/f/"), E.ENOTDIR),
    Case(("stat", "{p}/f/."), E.ENOTDIR),
    Case(("stat", "{p}/f/.."), E.ENOTDIR),
    Case(("stat", "{p}/f/x"), E.ENOTDIR),
    Case(("stat", "{p}/missing"), E.ENOENT),
    Case(("stat", "{p}/missing/"), E.ENOENT),
    Case(("stat", ""), E.ENOENT, decorate=False),
    Case(("creat", "p/" + "n" * NAME_MAX), 0, decorate=False),
    Case(("creat", "p/" + "o" * (NAME_MAX + 1)), E.ENAMETOOLONG, decorate=False),
    Case(("mkdir", "p/" + "m" * (NAME_MAX + 1)), E.ENAMETOOLONG, decorate=False),
    Case(("stat", "p/" + "./" * 1500 + "f"), 0, decorate=False),                          # 1500+ components
    Case(("stat", "p/" + "sub/../" * 580 + "f"), 0, decorate=False),
    Case(("stat", "p/" + "./" * ((PATH_MAX - 4) // 2) + "f"), 0, decorate=False),        # 4095 bytes: fits
    Case(("stat", "p/" + "./" * ((PATH_MAX - 2) // 2) + "f"), E.ENAMETOOLONG, decorate=False),  # 4097
    Case(("stat", "p/" + "x/" * 1200 + "f"), E.ENOENT, decorate=False),
    Case(("stat", f"{{p}}/l{MAXSYMLINKS}"), 0),                                           # exactly 40 links
    Case(("stat", f"{{p}}/l{MAXSYMLINKS + 1}"), E.ELOOP),                                 # one more
    Case(("lstat", f"{{p}}/l{MAXSYMLINKS + 1}"), 0),
    Case(("stat", "{p}/la"), E.ELOOP),
    Case(("lstat", "{p}/la"), 0),
    Case(("open", "{p}/la", O_WRONLY | O_CREAT), E.ELOOP),
    Case(("stat", "{p}/la/x"), E.ELOOP),
    Case(("creat", "{p}/newdir/"), E.EISDIR),
    Case(("mkdir", "{p}/nd/"), 0),
    Case(("mkdir", "{p}/sub"), E.EEXIST),
    Case(("mkdir", "{p}/f/x"), E.ENOTDIR),
    Case(("rmdir", "{p}/sub/."), E.EINVAL),
    Case(("rmdir", "{p}/sub/.."), E.ENOTEMPTY),
    Case(("rmdir", "{p}/f"), E.ENOTDIR),
    Case(("unlink", "{p}/sub"), E.EISDIR),
    Case(("unlink", "{p}/f/"), E.ENOTDIR),
    Case(("link", "{p}/sub", "{p}/hl"), E.EPERM),
    Case(("link", "{p}/f", "{p}/sub/"), E.EEXIST),
    Case(("rename", "{p}/sub", "{p}/sub/x", 0), E.EINVAL),
    Case(("rename", "{p}/f", "{p}/sub", 0), E.EISDIR),
    Case(("rename", "{p}/sub", "{p}/f", 0), E.ENOTDIR),
    Case(("rename", "{p}/f", "{p}/l1", RENAME_NOREPLACE), E.EEXIST),
    Case(("rename", "{p}/f", "{p}/missing", RENAME_EXCHANGE), E.ENOENT),
    Case(("rename", "{p}/f", "{p}/sub", RENAME_NOREPLACE | RENAME_EXCHANGE), E.EINVAL),
    Case(("creat", "{p}/new\nline"), 0),
    Case(("stat", "{p}/missing\nline"), E.ENOENT),
    Case(("open", "{p}/f", O_DIRECTORY), E.ENOTDIR),
    Case(("open", "{p}/sub", O_WRONLY), E.EISDIR),
    Case(("open", "{p}/f", O_WRONLY | O_CREAT | O_EXCL), E.EEXIST),
    Case(("symlink", "t" * PATH_MAX, "{p}/longlink"), E.ENAMETOOLONG),
    Case(("readdir", "{p}/f"), E.ENOTDIR),
)

DETOURS = ("p", "p/", "./p", "p/sub/..", "p/.", "p//sub/../")


def path_cases(rng: random.Random, count: int) -> tuple[list[list], list[int | None]]:
    """Setup ops plus `count` cases: (ops, expected errno per op; None = not checked)."""
    ops = setup_ops()
    expect: list[int | None] = [0] * len(ops)
    for case in rng.sample(CASES, min(count, len(CASES))):
        base = rng.choice(DETOURS) if case.decorate else "p"
        ops.append([a.replace("{p}", base.rstrip("/")) if isinstance(a, str) else a for a in case.op])
        expect.append(case.expect)
    return ops, expect


def wrong_errnos(ops: list[list], expect: list[int | None], got: list[int | None]) -> list[dict]:
    """The ops whose errno differs from the expected one."""
    wrong = []
    for op, want, have in zip(ops, expect, got):
        if want is not None and have is not None and want != have:
            wrong.append({"op": [str(a)[:80] for a in op], "expected": errno.errorcode.get(want, str(want)) if want
                          else "success", "got": errno.errorcode.get(have, str(have)) if have else "success"})
    return wrong
