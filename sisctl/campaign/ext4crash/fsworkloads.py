"""Named ext4 crash scenarios (from the seed plan) and generated short sequences (CrashMonkey/ACE style).

Every workload is a list of Ops, reproducible from a seed, and valid by the model.
"""
from __future__ import annotations

import random
from typing import Callable

from sisctl.campaign.ext4crash.ops import CONTENT, Model, Op, WorkloadError, parent_of, simulate

KiB = 1024


def _write(path: str, rng: random.Random, offset: int, length: int) -> Op:
    return Op("write", path, offset=offset, length=length, seed=rng.randrange(1, 1 << 31))


def write_during_allocation(rng: random.Random) -> list[Op]:
    ops = [Op("mkdir", "alloc")]
    for i in range(100):
        name = f"alloc/f{i:03d}"
        ops += [Op("creat", name), _write(name, rng, 0, rng.randrange(1, 9) * KiB)]
        if i % 10 == 9:
            ops.append(Op("fsync", name))
    return ops + [Op("sync")]


def write_during_inode_create(rng: random.Random) -> list[Op]:
    ops = [Op("mkdir", "inodes"), Op("fsync", ".")]
    for i in range(60):
        ops.append(Op("creat", f"inodes/i{i:02d}"))
        if i % 15 == 14:
            ops.append(Op("fsync", "inodes"))
    return ops


def write_during_journal_commit(rng: random.Random) -> list[Op]:
    return [Op("creat", "big"), _write("big", rng, 0, 1024 * KiB), Op("fsync", "big"),
            Op("creat", "small"), _write("small", rng, 0, 4 * KiB), Op("fsync", "small")]


def write_during_data_write(rng: random.Random) -> list[Op]:
    ops = [Op("creat", "data"), _write("data", rng, 0, 256 * KiB), Op("sync")]
    for _ in range(8):
        ops += [_write("data", rng, rng.randrange(0, 240) * KiB, 16 * KiB), Op("fdatasync", "data")]
    return ops


def concurrent_writes(rng: random.Random) -> list[Op]:
    files = [f"c{i}" for i in range(4)]
    ops = [Op("creat", f) for f in files]
    for step in range(24):
        ops.append(_write(files[step % 4], rng, (step // 4) * 8 * KiB, 8 * KiB))
        if step % 4 == 3:
            ops.append(Op("fsync", files[(step // 4) % 4]))
    return ops


def directory_operations(rng: random.Random) -> list[Op]:
    return [Op("mkdir", "A"), Op("mkdir", "A/B"), Op("creat", "A/B/f"), _write("A/B/f", rng, 0, 4 * KiB),
            Op("fsync", "A/B/f"), Op("fsync", "A/B"), Op("fsync", "A"), Op("fsync", "."),
            Op("rename", "A/B", "A/C"), Op("fsync", "A"),
            Op("mkdir", "E"), Op("rename", "A/C/f", "E/f"), Op("fsync", "E"), Op("fsync", "A/C"),
            Op("rmdir", "A/C"), Op("fsync", "A"), Op("mkdir", "G"), Op("rename", "G", "A/G"), Op("sync")]


def truncate_operations(rng: random.Random) -> list[Op]:
    return [Op("creat", "T"), _write("T", rng, 0, 64 * KiB), Op("fsync", "T"),
            Op("truncate", "T", length=10000), Op("fsync", "T"),
            Op("truncate", "T", length=100000), Op("fdatasync", "T"),
            Op("falloc", "T", offset=100000, length=50000), Op("fsync", "T"),
            _write("T", rng, 5000, 3000), Op("fsync", "T")]


SCENARIOS: dict[str, Callable[[random.Random], list[Op]]] = {f.__name__: f for f in (
    write_during_allocation, write_during_inode_create, write_during_journal_commit,
    write_during_data_write, concurrent_writes, directory_operations, truncate_operations)}

FILES = ["A", "B", "D/C", "D/E", "F/G"]
DIRS = ["D", "F"]


def _core_op(rng: random.Random) -> Op:
    kind = rng.choice(["creat", "mkdir", "write", "falloc", "link", "unlink", "rename", "truncate", "symlink"])
    path, other = rng.choice(FILES), rng.choice(FILES)
    if kind == "mkdir":
        return Op("mkdir", rng.choice(DIRS))
    if kind == "write":
        return _write(path, rng, rng.choice([0, 4 * KiB, 10 * KiB]), rng.choice([512, 4 * KiB, 12 * KiB]))
    if kind == "falloc":
        return Op("falloc", path, offset=rng.choice([0, 8 * KiB]), length=rng.choice([4 * KiB, 32 * KiB]))
    if kind == "truncate":
        return Op("truncate", path, length=rng.choice([0, 2000, 5000, 20000]))
    if kind == "rename" and rng.random() < 0.3:
        return Op("rename", rng.choice(DIRS), rng.choice(DIRS + ["H"]))
    if kind in ("link", "rename"):
        return Op(kind, path, other)
    if kind == "symlink":
        return Op("symlink", path, other)
    return Op(kind, path)


def _persist_op(rng: random.Random, core: Op, model: Model) -> Op:
    touched = core.path2 if core.kind in ("link", "rename") else core.path
    choices = [Op("sync"), Op("fsync", parent_of(touched))]
    number = model.lookup(touched)
    if number is not None and model.inodes[number].kind in "fd":
        choices.append(Op("fsync", touched))
        if model.inodes[number].kind == "f" and core.kind in CONTENT:
            choices.append(Op("fdatasync", touched))
    return rng.choice(choices)


def generate(rng: random.Random, n_ops: int) -> list[Op]:
    """Setup, then n_ops core operations each followed by a persistence call, all valid."""
    setup = [Op("mkdir", "D"), Op("creat", "A"), _write("A", rng, 0, 8 * KiB),
             Op("creat", "D/C"), _write("D/C", rng, 0, 4 * KiB), Op("sync")]
    model = Model()
    for op in setup:
        model.apply(op)
    ops = list(setup)
    while len(ops) < len(setup) + 2 * n_ops:
        core = _core_op(rng)
        trial = model.copy()
        try:
            trial.apply(core)
        except WorkloadError:
            continue
        persist = _persist_op(rng, core, trial)
        trial.apply(persist)
        model = trial
        ops += [core, persist]
    return ops


def workload(name: str, seed: int) -> list[Op]:
    rng = random.Random(seed)
    if name in SCENARIOS:
        ops = SCENARIOS[name](rng)
    elif name.startswith("generated-") and name[10:].isdigit() and 1 <= int(name[10:]) <= 3:
        ops = generate(rng, int(name[10:]))
    else:
        raise WorkloadError(f"unknown workload {name!r}; known: {', '.join(SCENARIOS)}, generated-1..3")
    simulate(ops)
    return ops
