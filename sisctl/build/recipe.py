"""Kernel recipes: YAML files under firmware/recipes/ that say how an image is obtained."""
from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from sisctl import config, paths
from sisctl.config import Name, between


@dataclass
class DebianSpec:
    """A kernel from Debian's arm64 archive; a metapackage is resolved to its current ABI."""
    package: str = "linux-image-cloud-arm64"
    arch: str = "arm64"


@dataclass
class KbuildSpec:
    """A kernel compiled from Debian's linux-source with kbuild."""
    source_package: str = "linux-source"
    base_config: str = "tinyconfig"
    fragments: list[str] = field(default_factory=list)   # relative to the project
    patches: list[str] = field(default_factory=list)     # relative to the project; applied with patch -p1
    targets: list[str] = field(default_factory=lambda: ["Image"])
    cross_compile: str = "aarch64-linux-gnu-"
    jobs: Annotated[int, between(0, 1024)] = 0             # 0: one per core
    timeout_s: Annotated[int, between(1)] = 3600


@dataclass
class CommandSpec:
    """Any tree with its own build command (make, cargo, ...)."""
    workdir: str
    argv: list[str]
    image: str                       # output paths, relative to workdir
    vmlinux: str | None = None
    modules_dir: str | None = None   # a lib/modules/<release> folder, if the tree installs one
    inputs: list[str] = field(default_factory=list)   # hashed into the cache key; none: always run
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: Annotated[int, between(1)] = 3600

    @property
    def tree(self) -> Path:
        return Path(os.path.expanduser(self.workdir))


@dataclass
class Recipe:
    name: Name
    kind: Literal["debian", "kbuild", "command"]
    description: str = ""
    debian: DebianSpec | None = None
    kbuild: KbuildSpec | None = None
    command: CommandSpec | None = None
    source: str = field(default="", init=False)

    @property
    def spec(self):
        return getattr(self, self.kind)

    def as_dict(self) -> dict:
        spec = asdict(self.spec)
        if spec.get("patches") == []:
            del spec["patches"]   # recipes without patches keep the cache key they had before patches existed
        return {"name": self.name, "kind": self.kind, self.kind: spec}


def load_recipe(path: Path) -> Recipe:
    recipe = config.load(Recipe, path)
    if recipe.spec is None:
        if recipe.kind == "command":
            raise config.ConfigError(path, "command", "kind 'command' needs a 'command' section "
                                     "with workdir, argv and image")
        setattr(recipe, recipe.kind, {"debian": DebianSpec, "kbuild": KbuildSpec}[recipe.kind]())
    for other in ("debian", "kbuild", "command"):
        if other != recipe.kind and getattr(recipe, other) is not None:
            raise config.ConfigError(path, other, f"section does not belong to a recipe of kind '{recipe.kind}'")
    {"command": _check_command, "kbuild": _check_kbuild}.get(recipe.kind, lambda *_: None)(path, recipe.spec)
    recipe.source = str(path)
    return recipe


def _check_command(path: Path, spec: CommandSpec) -> None:
    """What a command recipe must say before anything runs: a tree, a program that can run there, and
    inputs inside the tree."""
    if not spec.argv or not all(word.strip() for word in spec.argv):
        raise config.ConfigError(path, "command.argv", "expected the build command as a non-empty list of "
                                 "non-empty words, e.g. [make, -j8, Image]")
    if not spec.tree.is_dir():
        raise config.ConfigError(path, "command.workdir", f"{spec.workdir!r}: no such folder")
    program = spec.argv[0]
    found = shutil.which(program) if "/" not in program else (
        str(spec.tree / program) if os.access(spec.tree / program, os.X_OK) and (spec.tree / program).is_file()
        else None)
    if found is None:
        raise config.ConfigError(path, "command.argv[0]", f"{program!r} is not an executable program "
                                 f"({'on PATH' if '/' not in program else f'in {spec.tree}'})")
    for i, pattern in enumerate(spec.inputs):
        if not pattern.strip() or pattern.startswith(("/", "~")) or ".." in Path(pattern).parts:
            raise config.ConfigError(path, f"command.inputs[{i}]", f"{pattern!r}: expected a glob relative to "
                                     "the workdir, inside it (e.g. 'src/**/*.c')")


def _check_kbuild(path: Path, spec: KbuildSpec) -> None:
    """Fragments and patches are files of the project; the cross compiler is installed."""
    if shutil.which(f"{spec.cross_compile}gcc") is None:
        raise config.ConfigError(path, "kbuild.cross_compile", f"no {spec.cross_compile}gcc on this machine "
                                 "('invoke setup' installs aarch64-linux-gnu-gcc)")
    for option in ("fragments", "patches"):
        for i, name in enumerate(getattr(spec, option)):
            if Path(name).is_absolute() or ".." in Path(name).parts or not (paths.PROJECT / name).is_file():
                raise config.ConfigError(path, f"kbuild.{option}[{i}]", f"{name!r}: no such file in the "
                                         "project (paths are relative to the project's top folder)")


def find_recipe(name_or_path: str) -> Recipe:
    return load_recipe(config.named_file(name_or_path, paths.recipes_dir(), "recipe"))
