"""Seed images: a feature matrix of small ext4 file systems made by mkfs.ext4 and populated with
files, directories, symlinks, hard links and xattrs; built once per seed set and cached.

Each seed comes with what the mutators and op generators need to know about it (block size,
groups, its inodes by path and type, their blocks), read back with debugfs.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sisctl import paths, proc


@dataclass(frozen=True)
class SeedSpec:
    name: str
    size_kib: int
    features: str                  # mkfs.ext4 -O list
    block_size: int = 1024
    blocks_per_group: int = 0      # 0: mkfs default; small values give many tiny groups
    inodes: int = 128


# The matrix: checksums on and off, inline data, 64bit, flex_bg, journal, tiny block groups;
# 64 KiB to 2 MiB.
MATRIX = (
    SeedSpec("csum-journal", 2048, "metadata_csum,has_journal,extent,flex_bg"),
    SeedSpec("csum-inline", 512, "metadata_csum,inline_data,^has_journal,extent"),
    SeedSpec("nocsum-journal", 2048, "^metadata_csum,has_journal,extent,^flex_bg"),
    SeedSpec("csum-64bit-tinygroups", 1024, "metadata_csum,64bit,^has_journal,extent,flex_bg",
             blocks_per_group=256),
    SeedSpec("nocsum-noextent", 256, "^metadata_csum,^has_journal,^extent,^flex_bg,^64bit"),
    SeedSpec("csum-4k", 2048, "metadata_csum,^has_journal,extent,dir_index", block_size=4096),
    SeedSpec("tiny", 64, "^metadata_csum,^has_journal,^resize_inode,^64bit", inodes=32),
)

# What every seed holds (path -> content; "dir", "-> target" for symlinks, "= other" for a hard link).
TREE = {
    "a": "hello fuzz\n",
    "big": "x" * 5000 + "\n",
    "hard": "= a",
    "sym": "-> a",
    "longsym": "-> " + "d1/" * 30 + "a",
    "d1": "dir",
    "d1/f": "one\n",
    "d1/d2": "dir",
    "d1/d2/g": "two\n",
    "d1/up": "-> ../a",
}
XATTRS = {"a": {"user.one": "1", "user.long": "v" * 100}, "d1": {"user.dir": "dirattr"}}


@dataclass
class InodeInfo:
    ino: int
    kind: str                      # file | dir | symlink
    path: str
    blocks: list[int] = field(default_factory=list)
    flags: int = 0                 # i_flags in the seed
    offset: int = 0                # byte offset of the on-disk inode in the image


@dataclass
class Seed:
    spec: SeedSpec
    image: Path
    block_size: int
    groups: int
    inodes: list[InodeInfo]
    journal_blocks: list[int]

    @property
    def name(self) -> str:
        return self.spec.name

    def files(self, kind: str | None = None) -> list[InodeInfo]:
        return [i for i in self.inodes if kind is None or i.kind == kind]


def matrix_key(matrix: tuple[SeedSpec, ...] = MATRIX) -> str:
    tools = proc.run(["mkfs.ext4", "-V"], timeout=30, check=False)
    blob = json.dumps([[asdict(s) for s in matrix], TREE, XATTRS, (tools.stdout + tools.stderr).strip()],
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def load_seeds(cache: Path | None = None, matrix: tuple[SeedSpec, ...] = MATRIX) -> dict[str, Seed]:
    """Every seed of the matrix, made on first use and cached by the matrix and the mkfs version."""
    folder = (cache or paths.cache_dir()) / "fuzz-seeds" / matrix_key(matrix)
    if not (folder / "seeds.json").exists():
        _build_all(folder, matrix)
    data = json.loads((folder / "seeds.json").read_text())
    by_name = {s.name: s for s in matrix}
    return {name: Seed(by_name[name], folder / f"{name}.img", d["block_size"], d["groups"],
                       [InodeInfo(**i) for i in d["inodes"]], d["journal_blocks"])
            for name, d in data.items()}


def _build_all(folder: Path, matrix: tuple[SeedSpec, ...]) -> None:
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    tree = partial / "tree"
    _write_tree(tree)
    facts = {}
    for spec in matrix:
        image = partial / f"{spec.name}.img"
        make_seed(spec, tree, image)
        facts[spec.name] = read_facts(image)
    shutil.rmtree(tree)
    (partial / "seeds.json").write_text(json.dumps(facts, indent=1) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)


def _write_tree(root: Path) -> None:
    root.mkdir()
    for rel, content in TREE.items():
        path = root / rel
        if content == "dir":
            path.mkdir()
        elif content.startswith("-> "):
            path.symlink_to(content[3:])
        elif content.startswith("= "):
            path.hardlink_to(root / content[2:])
        else:
            path.write_text(content)


def make_seed(spec: SeedSpec, tree: Path, image: Path) -> None:
    with open(image, "wb") as f:
        f.truncate(spec.size_kib * 1024)
    argv = ["mkfs.ext4", "-q", "-F", "-b", str(spec.block_size), "-N", str(spec.inodes), "-O", spec.features,
            "-E", "lazy_itable_init=0,lazy_journal_init=0", "-d", tree]
    if spec.blocks_per_group:
        argv += ["-g", str(spec.blocks_per_group)]
    proc.run(argv + [image], timeout=60)
    script = "".join(f"ea_set /{path} {name} {value}\n" for path, attrs in XATTRS.items()
                     for name, value in attrs.items())
    debugfs(image, script, write=True)


def debugfs(image: Path, script: str, write: bool = False, timeout_s: float = 30) -> str:
    """Run a debugfs script (one command per line) on `image`; returns its standard output."""
    argv = ["debugfs", *(["-w"] if write else []), "-f", "-", str(image)]
    try:
        done = subprocess.run(argv, input=script, capture_output=True, text=True, errors="replace",
                              timeout=timeout_s)
    except FileNotFoundError:
        raise proc.ToolError("debugfs not found: run 'invoke setup' (e2fsprogs)") from None
    except subprocess.TimeoutExpired:
        raise proc.ToolError(f"debugfs on {image} did not finish within {timeout_s:.0f} s") from None
    return done.stdout


def read_facts(image: Path) -> dict:
    """Block size, group count, inodes by path with their blocks, the journal's blocks."""
    stats = debugfs(image, "stats\n")
    block_size = int(re.search(r"Block size:\s+(\d+)", stats).group(1))
    groups = len(re.findall(r"^ Group\s+\d+:", stats, re.M))
    total = int(re.search(r"Block count:\s+(\d+)", stats).group(1))
    inodes = []
    for rel, content in TREE.items():
        kind = "dir" if content == "dir" else "symlink" if content.startswith("-> ") else "file"
        out = debugfs(image, f"stat /{rel}\nimap /{rel}\nblocks /{rel}\n")
        ino = re.search(r"Inode:\s+(\d+)", out)
        if not ino:
            continue
        last = out.rstrip().splitlines()[-1]
        blocks = [int(b) for b in last.split()] if re.fullmatch(r"[\d ]+", last.strip()) else []
        blocks = [b for b in blocks if b < total]   # a fast symlink's target is no block
        inodes.append(asdict(InodeInfo(int(ino.group(1)), kind, rel, blocks, *_flags_offset(out, block_size))))
    root = debugfs(image, "stat <2>\nimap <2>\n")
    inodes.append(asdict(InodeInfo(2, "dir", "", _blocks(image, "<2>"), *_flags_offset(root, block_size))))
    return {"block_size": block_size, "groups": groups, "inodes": inodes,
            "journal_blocks": _blocks(image, "<8>")[:4]}


def _flags_offset(stat_imap: str, block_size: int) -> tuple[int, int]:
    flags = re.search(r"Flags:\s+0x([0-9a-f]+)", stat_imap)
    where = re.search(r"located at block (\d+), offset 0x([0-9a-f]+)", stat_imap)
    return (int(flags.group(1), 16) if flags else 0,
            int(where.group(1)) * block_size + int(where.group(2), 16) if where else 0)


def _blocks(image: Path, spec: str) -> list[int]:
    last = debugfs(image, f"blocks {spec}\n").rstrip().splitlines()
    tail = last[-1].strip() if last else ""
    return [int(b) for b in tail.split()] if re.fullmatch(r"[\d ]+", tail) else []
