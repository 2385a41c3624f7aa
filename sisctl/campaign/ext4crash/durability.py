"""The durability oracle: does a recovered tree keep every promise the completed persistence calls made?

Promises, each made by the persistence call at op j:
- sync: the whole tree as it was at j (entries, types, file data and sizes, link targets, deletions);
- fsync/fdatasync(file): its data and size, and its name (ext4 commits the name with the inode);
- fsync(dir): its set of entry names.
Anything done after j may or may not have reached the disk too, so a promise accepts every value the
path had from j to the end of the workload; a file whose data changed after j may hold a mix, so its
data is then not checked. A rename after the last completed call must leave the file in exactly one
place. Nothing else is promised; only unreadable files are reported then.
"""
from __future__ import annotations

from dataclasses import dataclass

from sisctl.campaign.ext4crash.ops import CONTENT, PERSIST, FsState, Op, parent_of, simulate


class OracleError(Exception):
    """The guest's dump is malformed."""


@dataclass(frozen=True)
class Seen:
    """One line of the guest's dump."""
    kind: str          # f, d, l, e
    size: int = 0
    crc: int = 0
    target: str = ""
    error: int = 0


@dataclass(frozen=True)
class Violation:
    kind: str          # missing | corrupt | unexpected | atomicity
    path: str
    guarantee: str
    detail: str


@dataclass
class Verdict:
    violations: list[Violation]
    checked: int

    @property
    def ok(self) -> bool:
        return not self.violations


def parse_dump(text: str) -> dict[str, Seen]:
    seen: dict[str, Seen] = {}
    for line in text.splitlines():
        parts = line.split(" ")
        try:
            if parts[0] == "d" and len(parts) == 2:
                seen[parts[1]] = Seen("d")
            elif parts[0] == "f" and len(parts) == 5:
                seen[parts[1]] = Seen("f", int(parts[2]), int(parts[3], 16))
            elif parts[0] == "l" and len(parts) == 3:
                seen[parts[1]] = Seen("l", target=parts[2])
            elif parts[0] == "e" and len(parts) == 3:
                seen[parts[1]] = Seen("e", error=int(parts[2]))
            else:
                raise ValueError
        except ValueError:
            raise OracleError(f"malformed dump line: {line!r}") from None
    return seen


def entries_of(seen: dict[str, Seen], directory: str) -> set[str]:
    return {p.rsplit("/", 1)[-1] for p in seen if parent_of(p) == directory}


@dataclass
class _Promise:
    path: str
    aspect: str        # exists | data | entries | absent
    since: int         # op index of the call that made it
    guarantee: str


def _promises(ops: list[Op], states: list[FsState], last: int) -> dict[tuple[str, str], _Promise]:
    promises: dict[tuple[str, str], _Promise] = {}
    ever: set[str] = set()

    def promise(path: str, aspect: str, j: int, why: str) -> None:
        for other in ("exists", "absent"):
            if aspect in ("exists", "absent"):
                promises.pop((path, other), None)
        promises[(path, aspect)] = _Promise(path, aspect, j, why)

    for j, op in enumerate(ops[:last + 1]):
        ever |= states[j].keys()
        if op.kind not in PERSIST:
            continue
        now = states[j + 1]
        why = "sync at op %d" % j if op.kind == "sync" else f"{op.kind}({op.path}) at op {j}"
        if op.kind == "sync":
            for path, node in now.items():
                if path != ".":
                    promise(path, "exists", j, why)
                promise(path, "entries" if node.kind == "d" else "data", j, why)
            for path in ever - now.keys():
                promise(path, "absent", j, why)
        elif now[op.path].kind == "d":
            promise(op.path, "entries", j, why)
        else:
            promise(op.path, "exists", j, why)
            promise(op.path, "data", j, why)
    return promises


def verify(ops: list[Op], completed: int, seen: dict[str, Seen],
           states: list[FsState] | None = None) -> Verdict:
    """`states`: simulate(ops), when the caller already has it (one workload, many crash states)."""
    states = states or simulate(ops)
    persist_at = [i for i, op in enumerate(ops) if op.kind in PERSIST]
    violations = [Violation("corrupt", p, "readable after recovery", f"errno {s.error}")
                  for p, s in seen.items() if s.kind == "e"]
    if completed == 0:
        return Verdict(violations, len(seen))
    last = persist_at[min(completed, len(persist_at)) - 1]
    checked = 0
    promises = _promises(ops, states, last)
    for promise in promises.values():
        window = states[promise.since + 1:]        # every moment the disk may reflect
        checked += 1
        problem = _check(promise, window, ops[promise.since + 1:], seen, states)
        if problem:
            violations.append(Violation(problem[0], problem[1], promise.guarantee, problem[2]))
    for problem in _renames(ops, last, states, seen, promises):
        checked += 1
        violations.append(problem)
    return Verdict(violations, checked)


def _check(promise: _Promise, window: list[FsState], later: list[Op], seen: dict[str, Seen],
           states: list[FsState]) -> tuple[str, str, str] | None:
    path, got = promise.path, seen.get(promise.path)
    if promise.path == "." and promise.aspect == "exists":
        return None
    kinds = {state[path].kind if path in state else None for state in window}
    if promise.aspect in ("exists", "absent"):
        if got is None and None not in kinds:
            return "missing", path, f"expected {'/'.join(sorted(k for k in kinds if k))}, found nothing"
        if got is not None and got.kind not in kinds:
            return ("unexpected" if kinds == {None} else "corrupt"), path, f"found a {got.kind} entry"
        return None
    if promise.aspect == "entries":
        if path != "." and (got is None or got.kind != "d"):
            return None   # the directory's own existence is another promise's business
        present = entries_of(seen, path)
        always = set.intersection(*(set(s[path].entries) if path in s else set() for s in window))
        never = set.union(*(set(s[path].entries) if path in s else set() for s in window))
        if always - present:
            name = sorted(always - present)[0]
            return "missing", _join(path, name), f"entry of {path} missing"
        extra = present - never
        if extra and path in window[0]:
            return "unexpected", _join(path, sorted(extra)[0]), f"entry of {path} that should not exist"
        return None
    # data of a file
    inode = window[0][path].inode if path in window[0] else None
    if any(op.kind in CONTENT and _inode_of(op.path, states) == inode for op in later):
        return None   # rewritten after the promise: any mix of old and new data is legal
    if got is None or got.kind != "f":
        return None   # existence is checked by its own promise
    values = {(s[path].size, s[path].crc) for s in window if path in s and s[path].kind == "f"}
    if values and (got.size, got.crc) not in values:
        size, crc = next(iter(values))
        return "corrupt", path, f"expected {size} bytes crc {crc:08x}, found {got.size} bytes crc {got.crc:08x}"
    return None


def _join(directory: str, name: str) -> str:
    return name if directory == "." else f"{directory}/{name}"


def _inode_of(path: str, states: list[FsState]) -> int | None:
    for state in reversed(states):
        if path in state:
            return state[path].inode
    return None


def _renames(ops: list[Op], last: int, states: list[FsState], seen: dict[str, Seen],
             promises: dict[tuple[str, str], _Promise]) -> list[Violation]:
    """A rename after the last completed call leaves its durable file in exactly one of the two places."""
    found = []
    tail = ops[last + 1:]
    for offset, op in enumerate(tail):
        r = last + 1 + offset
        if op.kind != "rename" or op.path not in states[r] or states[r][op.path].kind != "f":
            continue
        moved = states[r][op.path]
        others = [o for o in tail if o is not op and {o.path, o.path2} & {op.path, op.path2}]
        data = promises.get((op.path, "data"))
        if others or data is None or (op.path, "exists") not in promises or op.path2 in states[r]:
            continue
        if any(o.kind in CONTENT and _inode_of(o.path, states) == moved.inode for o in ops[data.since + 1:]):
            continue   # its data was never durable as a whole
        places = [p for p in (op.path, op.path2)
                  if p in seen and seen[p].kind == "f" and (seen[p].size, seen[p].crc) == (moved.size, moved.crc)]
        if len(places) != 1:
            where = " and ".join(places) or "neither place"
            found.append(Violation("atomicity", op.path, f"rename({op.path}, {op.path2}) at op {r}",
                                   f"file found at {where}"))
    return found
