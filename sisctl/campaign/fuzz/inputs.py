"""Fuzz inputs: a seed image, a list of mutations and a list of ops, mutated together.

Mutations and ops are lists so that a crashing input can be delta-debugged one element at a time.
"""
from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sisctl.campaign.fuzz import mutate
from sisctl.campaign.fuzz.ops import file_ops, one_op, WEIGHTS
from sisctl.campaign.fuzz.pathcases import path_cases
from sisctl.campaign.fuzz.seeds import Seed
from sisctl.jsonfile import read_json

TARGETS = ("ext4-image", "vfs-ops", "vfs-paths")
PATH_SEED = "csum-journal"          # path cases run on one clean, journalled, checksummed seed
REPAIR_SHARE = 0.8                  # inputs whose checksums are recomputed after the mutations


@dataclass
class FuzzInput:
    target: str
    seed: str
    mutations: list[list] = field(default_factory=list)
    ops: list[list] = field(default_factory=list)
    expect: list | None = None      # vfs-paths: the errno each op must give (None: not checked)
    repair: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "FuzzInput":
        return cls(**{k: data[k] for k in ("target", "seed", "mutations", "ops", "expect", "repair") if k in data})

    @classmethod
    def load(cls, path: Path) -> "FuzzInput":
        return cls.from_dict(read_json(path))

    def with_parts(self, mutations: list[list], ops: list[list]) -> "FuzzInput":
        """The same input with other mutations and ops (expectations follow the ops they belong to)."""
        expect = None
        if self.expect is not None:
            kept = {id(op): want for op, want in zip(self.ops, self.expect)}
            expect = [kept.get(id(op)) for op in ops]
        return FuzzInput(self.target, self.seed, mutations, ops, expect, self.repair)

    def build_image(self, seeds: dict[str, Seed], out: Path) -> None:
        mutate.apply(seeds[self.seed], self.mutations, self.repair, out)


def generate(rng: random.Random, target: str, seeds: dict[str, Seed], repair_share: float = REPAIR_SHARE) -> FuzzInput:
    """A fresh input for `target` (one of TARGETS); `repair_share` of ext4-image inputs get their
    checksums recomputed."""
    if target == "vfs-paths":
        ops, expect = path_cases(rng, rng.randint(8, 20))
        return FuzzInput(target, PATH_SEED, [], ops, expect)
    seed = seeds[rng.choice(sorted(seeds))]
    if target == "vfs-ops":
        return FuzzInput(target, seed.name, [], file_ops(rng, seed, rng.randint(10, 30)))
    mutations = [mutate.random_mutation(rng, seed) for _ in range(rng.randint(1, 4))]
    repair = rng.random() < repair_share
    if not repair:
        mutations.append(mutate.stale_checksum(rng, seed, mutations))
    ops = file_ops(rng, seed, rng.randint(3, 10), mutate.mutated_inodes(seed, mutations))
    return FuzzInput(target, seed.name, mutations, ops, None, repair)


def seed_inputs(targets: list[str], seeds: dict[str, Seed]) -> list[FuzzInput]:
    """The seeds alone, the coverage baseline: every seed image unmutated with 10 file ops drawn
    from a fixed stream, and (for vfs-paths) one fixed set of path cases."""
    made = [FuzzInput("vfs-ops", name, [], file_ops(random.Random(name), seeds[name], 10)) for name in sorted(seeds)]
    if "vfs-paths" in targets:
        ops, expect = path_cases(random.Random(PATH_SEED), 20)
        made.append(FuzzInput("vfs-paths", PATH_SEED, [], ops, expect))
    return made


def evolve(rng: random.Random, parent: FuzzInput, seeds: dict[str, Seed]) -> FuzzInput:
    """A child of a corpus input: one mutation or op added, removed or replaced."""
    seed = seeds[parent.seed]
    mutations, ops = [list(m) for m in parent.mutations], [list(o) for o in parent.ops]
    if parent.target == "vfs-paths":
        return generate(rng, "vfs-paths", seeds)   # path cases are chosen afresh: expectations must hold
    choice = rng.random()
    if parent.target == "ext4-image" and (choice < 0.5 or not ops):
        if mutations and rng.random() < 0.3:
            mutations.pop(rng.randrange(len(mutations)))
        else:
            mutations.insert(rng.randrange(len(mutations) + 1), mutate.random_mutation(rng, seed))
    else:
        aim = mutate.mutated_inodes(seed, mutations)
        if ops and rng.random() < 0.3:
            ops.pop(rng.randrange(len(ops)))
        else:
            ops.insert(rng.randrange(len(ops) + 1), file_ops(rng, seed, 1, aim)[0] if aim or rng.random() < 0.5
                       else one_op(rng, rng.choice(list(WEIGHTS)), lambda: rng.choice(seed.inodes).path or "."))
    return FuzzInput(parent.target, parent.seed, mutations, ops, None, parent.repair)
