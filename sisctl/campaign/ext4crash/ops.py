"""File-system workloads: operations, the data they write, and a model of the tree they build.

The ops-file line format and pattern() are shared with the guest (firmware/agent/fsops.c).
"""
from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass, field

PERSIST = frozenset({"fsync", "fdatasync", "sync"})
NAMESPACE = frozenset({"creat", "mkdir", "link", "unlink", "rmdir", "rename", "symlink"})
CONTENT = frozenset({"write", "falloc", "truncate"})
# kind -> the fields its line carries after the kind
FIELDS = {"creat": ("path",), "mkdir": ("path",), "write": ("path", "offset", "length", "seed"),
          "falloc": ("path", "offset", "length"), "truncate": ("path", "length"),
          "link": ("path", "path2"), "unlink": ("path",), "rmdir": ("path",), "rename": ("path", "path2"),
          "symlink": ("path2", "path"), "fsync": ("path",), "fdatasync": ("path",), "sync": ()}


class WorkloadError(Exception):
    """An operation that cannot apply to the tree as it is (or a malformed line)."""


@dataclass(frozen=True)
class Op:
    kind: str
    path: str = ""
    path2: str = ""      # link/rename destination; symlink target
    offset: int = 0
    length: int = 0
    seed: int = 0

    def line(self) -> str:
        return " ".join([self.kind, *(str(getattr(self, f)) for f in FIELDS[self.kind])])

    @classmethod
    def parse(cls, line: str) -> "Op":
        kind, *values = line.split()
        if kind not in FIELDS or len(values) != len(FIELDS[kind]):
            raise WorkloadError(f"malformed operation: {line!r}")
        args = {f: (int(v) if f in ("offset", "length", "seed") else v) for f, v in zip(FIELDS[kind], values)}
        return cls(kind, **args)

    def __str__(self) -> str:
        return self.line()


def parse_ops(text: str) -> list[Op]:
    return [Op.parse(line) for line in text.splitlines() if line.strip()]


def format_ops(ops: list[Op]) -> str:
    return "".join(op.line() + "\n" for op in ops)


def pattern(seed: int, length: int) -> bytes:
    """Deterministic data of a write: xorshift32 words, little-endian (same as the guest)."""
    x = ((seed * 2654435761) & 0xFFFFFFFF) | 1
    words = bytearray()
    for _ in range((length + 3) // 4):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        words += x.to_bytes(4, "little")
    return bytes(words[:length])


@dataclass
class Inode:
    kind: str                                   # f, d, l
    data: bytearray = field(default_factory=bytearray)
    target: str = ""
    entries: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Node:
    """What one path shows at one moment."""
    kind: str
    inode: int
    size: int = 0
    crc: int = 0
    nlink: int = 1
    target: str = ""
    entries: frozenset = frozenset()


FsState = dict   # path -> Node ("." is the root)


def parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else "."


class Model:
    """An in-memory file system that applies ops exactly as POSIX says they end."""

    def __init__(self) -> None:
        self.inodes: dict[int, Inode] = {0: Inode("d")}
        self._next = 1

    def copy(self) -> "Model":
        return copy.deepcopy(self)

    def lookup(self, path: str) -> int | None:
        if path == ".":
            return 0
        node = 0
        for name in path.split("/"):
            inode = self.inodes[node]
            if inode.kind != "d" or name not in inode.entries:
                return None
            node = inode.entries[name]
        return node

    def _dir_and_name(self, path: str) -> tuple[Inode, str]:
        parent = self.lookup(parent_of(path))
        if parent is None or self.inodes[parent].kind != "d":
            raise WorkloadError(f"no directory for {path}")
        return self.inodes[parent], path.rsplit("/", 1)[-1]

    def _need(self, path: str, kind: str | None = None) -> Inode:
        number = self.lookup(path)
        if number is None or (kind and self.inodes[number].kind != kind):
            raise WorkloadError(f"{path} is not an existing {kind or 'entry'}")
        return self.inodes[number]

    def _add(self, path: str, inode: Inode | int) -> None:
        parent, name = self._dir_and_name(path)
        if name in parent.entries:
            raise WorkloadError(f"{path} exists")
        if isinstance(inode, Inode):
            self.inodes[self._next], inode = inode, self._next
            self._next += 1
        parent.entries[name] = inode

    def apply(self, op: Op) -> None:
        k = op.kind
        if k == "creat":
            self._add(op.path, Inode("f"))
        elif k == "mkdir":
            self._add(op.path, Inode("d"))
        elif k == "symlink":
            self._add(op.path, Inode("l", target=op.path2))
        elif k == "link":
            self._need(op.path, "f")
            self._add(op.path2, self.lookup(op.path))
        elif k in ("unlink", "rmdir"):
            inode = self._need(op.path, "d" if k == "rmdir" else None)
            if (k == "unlink") == (inode.kind == "d") or inode.entries:
                raise WorkloadError(f"cannot {k} {op.path}")
            parent, name = self._dir_and_name(op.path)
            del parent.entries[name]
        elif k == "rename":
            self._rename(op.path, op.path2)
        elif k in CONTENT:
            data = self._need(op.path, "f").data
            if k == "write":
                end = op.offset + op.length
                data.extend(bytes(max(0, end - len(data))))
                data[op.offset:end] = pattern(op.seed, op.length)
            elif k == "falloc":
                data.extend(bytes(max(0, op.offset + op.length - len(data))))
            else:
                del data[op.length:]
                data.extend(bytes(op.length - len(data)))
        elif k in ("fsync", "fdatasync"):
            self._need(op.path, "f" if k == "fdatasync" else None)
        elif k != "sync":
            raise WorkloadError(f"unknown operation {k}")

    def _rename(self, src: str, dst: str) -> None:
        number = self.lookup(src)
        if number is None or src == dst or dst.startswith(src + "/"):
            raise WorkloadError(f"cannot rename {src} to {dst}")
        replaced = self.lookup(dst)
        if replaced is not None:
            old = self.inodes[replaced]
            if (old.kind == "d") != (self.inodes[number].kind == "d") or old.entries:
                raise WorkloadError(f"cannot replace {dst}")
        new_parent, new_name = self._dir_and_name(dst)
        old_parent, old_name = self._dir_and_name(src)
        del old_parent.entries[old_name]
        new_parent.entries[new_name] = number

    def snapshot(self) -> FsState:
        links: dict[int, int] = {}
        for inode in self.inodes.values():
            for child in inode.entries.values():
                links[child] = links.get(child, 0) + 1
        state: FsState = {}

        def walk(path: str, number: int) -> None:
            inode = self.inodes[number]
            state[path] = Node(inode.kind, number, len(inode.data), zlib.crc32(inode.data), links.get(number, 1),
                               inode.target, frozenset(inode.entries))
            for name, child in inode.entries.items():
                walk(name if path == "." else f"{path}/{name}", child)

        walk(".", 0)
        return state


def simulate(ops: list[Op]) -> list[FsState]:
    """The tree before any op and after each op (len(ops) + 1 states); raises WorkloadError if invalid."""
    model = Model()
    states = [model.snapshot()]
    for index, op in enumerate(ops):
        try:
            model.apply(op)
        except WorkloadError as err:
            raise WorkloadError(f"op {index} ({op}): {err}") from None
        states.append(model.snapshot())
    return states
