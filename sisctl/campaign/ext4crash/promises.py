"""What a kernel's own crash workload promised, read from its console, and the host's check of the
recovered image against it (the durability oracle of kernels without sisctl's agent).

The workload prints `promise PATH MD5` once PATH's data and name are durable (synced), and
`changing PATH` before it changes a promised file in place; from then on PATH must exist but its
content is open, until its next promise. Only lines read before the reset count."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field


@dataclass
class Promises:
    content: dict[str, str] = field(default_factory=dict)   # path -> md5 it must have
    existing: set[str] = field(default_factory=set)         # paths that must exist, content open

    @property
    def paths(self) -> list[str]:
        return sorted({*self.content, *self.existing})

    def __len__(self) -> int:
        return len(self.content) + len(self.existing)


def absolute(path: str) -> str:
    return "/" + path.lstrip("/")


def read_promises(text: str, promise_regex: str, changing_regex: str) -> Promises:
    promised, changing = re.compile(promise_regex), re.compile(changing_regex)
    promises = Promises()
    for line in text.splitlines():
        if found := promised.search(line):
            path = absolute(found["path"])
            promises.content[path] = found["md5"]
            promises.existing.discard(path)
        elif (found := changing.search(line)) and (path := absolute(found["path"])) in promises.content:
            del promises.content[path]
            promises.existing.add(path)
    return promises


def broken_promises(promises: Promises, files: dict[str, bytes | None]) -> list[dict]:
    """The violations of `promises` by the recovered files (path -> content, None when missing)."""
    violations = []
    for path, md5 in sorted(promises.content.items()):
        data = files.get(path)
        if data is None:
            violations.append({"kind": "lost", "path": path, "guarantee": f"synced with md5 {md5}",
                               "detail": "missing after recovery"})
        elif hashlib.md5(data).hexdigest() != md5:
            violations.append({"kind": "changed", "path": path, "guarantee": f"synced with md5 {md5}",
                               "detail": f"md5 {hashlib.md5(data).hexdigest()}, {len(data)} bytes"})
    for path in sorted(promises.existing):
        if files.get(path) is None:
            violations.append({"kind": "lost", "path": path, "guarantee": "synced before an in-place change",
                               "detail": "missing after recovery"})
    return violations
