"""Operation sequences for the guest executor (firmware/agent/fuzzops.c) and their text encoding.

An op is a JSON list [name, args...]; paths are relative to the mounted image. The generators:
- file_ops: random file-system calls over the seed's tree and new names, aimed at the inodes an
  image mutation touched (an input is an image plus the ops that reach its damage);
- the VFS path cases live in pathcases.py.
"""
from __future__ import annotations

import random

from sisctl.campaign.fuzz.seeds import InodeInfo, Seed

O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND = 0o1, 0o2, 0o100, 0o200, 0o1000, 0o2000
O_DIRECTORY, O_NOFOLLOW = 0o40000, 0o100000
OPEN_FLAGS = (0, O_WRONLY | O_TRUNC, O_RDWR | O_APPEND, O_WRONLY | O_CREAT | O_EXCL, O_RDWR | O_TRUNC | O_CREAT,
              O_DIRECTORY, O_NOFOLLOW, O_WRONLY | O_NOFOLLOW | O_TRUNC)
# fallocate modes: plain, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, COLLAPSE_RANGE, ZERO_RANGE, INSERT_RANGE
FALLOC_MODES = (0, 0x1, 0x3, 0x8, 0x10, 0x20)
RENAME_FLAGS = (0, 0, 1, 2)              # plain, RENAME_NOREPLACE, RENAME_EXCHANGE
SIZES = (0, 1, 7, 511, 512, 1023, 1024, 4095, 4096, 4097, 65536, 1 << 20, (1 << 32) + 3)
XATTRS = ("user.one", "user.long", "user.dir", "user.new", "trusted.t", "user." + "n" * 200)
NEW_NAMES = ("n1", "n2", "d1/n3", "d1/d2/n4", "nd", "d1/nd")

WEIGHTS = {"creat": 4, "open": 6, "read": 6, "write": 10, "truncate": 8, "fallocate": 6, "rename": 5, "link": 3,
           "unlink": 4, "mkdir": 3, "rmdir": 2, "symlink": 2, "readdir": 5, "setxattr": 4, "getxattr": 3,
           "listxattr": 2, "removexattr": 2, "fsync": 3, "fdatasync": 2, "sync": 1, "mmapwrite": 3, "stat": 3}


AIM_SHARE = 0.7


def file_ops(rng: random.Random, seed: Seed, count: int, aim: list[InodeInfo] = ()) -> list[list]:
    """`count` random operations; most paths go to the `aim` inodes (those an image mutation touched)."""
    names = [n.path for n in seed.inodes if n.path]

    def path() -> str:
        if aim and rng.random() < AIM_SHARE:
            return rng.choice(aim).path
        return rng.choice(names + list(NEW_NAMES)) if rng.random() < 0.9 else rng.choice(names) + "/x"

    kinds, weights = zip(*WEIGHTS.items())
    ops = []
    for _ in range(count):
        ops.append(one_op(rng, rng.choices(kinds, weights)[0], path))
    if rng.random() < 0.1:
        ops.append(["umount"])
    return ops


def one_op(rng: random.Random, kind: str, path) -> list:
    size = lambda: rng.choice(SIZES) + rng.choice((0, 0, 1, 3))   # noqa: E731 - odd offsets too
    if kind == "open":
        return ["open", path(), rng.choice(OPEN_FLAGS)]
    if kind == "read":
        return ["read", path(), size(), rng.choice((1, 100, 4096, 70000))]
    if kind == "write":
        return ["write", path(), size(), rng.choice((1, 13, 4096, 5000, 70000)), rng.randrange(1 << 16)]
    if kind == "truncate":
        return ["truncate", path(), size()]
    if kind == "fallocate":
        return ["fallocate", path(), rng.choice(FALLOC_MODES), rng.choice((0, 4096, 8192)),
                rng.choice((1, 4096, 8192, 1 << 20))]
    if kind == "mmapwrite":
        return ["mmapwrite", path(), rng.choice((0, 4096)), rng.choice((1, 100, 4096))]
    if kind in ("rename", "link", "symlink"):
        first = path() if kind != "symlink" else rng.choice(("a", "../a", "d1", "/", "x" * 300))
        extra = [rng.choice(RENAME_FLAGS)] if kind == "rename" else []
        return [kind, first, path(), *extra]
    if kind == "setxattr":
        return ["setxattr", path(), rng.choice(XATTRS), rng.choice(("1", "v" * 100, "w" * 250))]
    if kind in ("getxattr", "removexattr"):
        return [kind, path(), rng.choice(XATTRS)]
    if kind == "sync":
        return ["sync"]
    return [kind, path()]


# --- text encoding for the guest --------------------------------------------------------------
SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-+=,:@~")
MIN_RUN = 48


def encode_arg(value: str | int) -> str:
    """Percent-encoded; long runs of a short unit become %rN.UNIT%. (the agent expands them);
    the empty string is a run of nothing."""
    text = str(value)
    data = text.encode("utf-8", errors="surrogateescape")
    out, i = [], 0
    while i < len(data):
        unit, count = _run_at(data, i)
        if unit:
            out.append(f"%r{count}.{_escape(unit)}%.")
            i += len(unit) * count
        else:
            out.append(_escape(data[i:i + 1]))
            i += 1
    return "".join(out) or "%r0.x%."


def _run_at(data: bytes, i: int) -> tuple[bytes, int]:
    for width in range(1, 9):
        unit = data[i:i + width]
        if len(unit) < width:
            break
        count = 1
        while data[i + count * width:i + (count + 1) * width] == unit:
            count += 1
        if count * width >= MIN_RUN and count > 1:
            return unit, count
    return b"", 0


def _escape(data: bytes) -> str:
    return "".join(chr(b) if chr(b) in SAFE else f"%{b:02X}" for b in data)


def encode(ops: list[list]) -> str:
    """One line per op: its name and encoded arguments."""
    return "".join(" ".join([op[0]] + [encode_arg(a) for a in op[1:]]) + "\n" for op in ops)


def decode_arg(text: str) -> str:
    """What the agent makes of an encoded argument (the same rules, for tests and reproducers)."""
    out, i = bytearray(), 0
    while i < len(text):
        if text.startswith("%r", i):
            dot = text.index(".", i)
            end = text.index("%.", dot)
            out += decode_arg(text[dot + 1:end]).encode("utf-8", errors="surrogateescape") * int(text[i + 2:dot])
            i = end + 2
        elif text[i] == "%":
            out.append(int(text[i + 1:i + 3], 16))
            i += 3
        else:
            out += text[i].encode()
            i += 1
    return out.decode("utf-8", errors="surrogateescape")
