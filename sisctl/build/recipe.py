"""Kernel recipes: YAML files under firmware/recipes/ that say how an image is obtained."""
from __future__ import annotations

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
    recipe.source = str(path)
    return recipe


def find_recipe(name_or_path: str) -> Recipe:
    return load_recipe(config.named_file(name_or_path, paths.recipes_dir(), "recipe"))
