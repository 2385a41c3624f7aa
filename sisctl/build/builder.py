"""Turn a recipe into an Artifact, cached by a hash of the recipe and its inputs."""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Callable

from sisctl import paths
from sisctl.build import command, debian, kbuild
from sisctl.build.artifact import Artifact, write_manifest
from sisctl.build.recipe import Recipe
from sisctl.config import ConfigError
from sisctl.errors import UsageError


def cache_key(recipe: Recipe) -> str | None:
    inputs = {"debian": lambda s: debian.cache_inputs(s),
              "kbuild": lambda s: kbuild.cache_inputs(s),
              "command": lambda s: command.cache_inputs(s)}[recipe.kind](recipe.spec)
    if inputs is None:
        return None
    blob = json.dumps({"recipe": recipe.as_dict(), "inputs": inputs}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def build(recipe: Recipe, *, force: bool = False, cache: Path | None = None,
          progress: Callable[[str], None] = print) -> Artifact:
    """The recipe's artifact, from the cache or built now; bad input found on the way names the recipe."""
    try:
        return _build(recipe, force, cache or paths.cache_dir(), progress)
    except ConfigError:
        raise                   # names its own file
    except UsageError as err:
        if not recipe.source:
            raise
        raise UsageError(f"{recipe.source}: {err}") from None


def _build(recipe: Recipe, force: bool, cache: Path, progress: Callable[[str], None]) -> Artifact:
    key = cache_key(recipe)
    store = cache / "artifacts"
    if key:
        dest = store / f"{recipe.name}-{key[:16]}"
        if (dest / "manifest.json").exists() and not force:
            progress(f"{recipe.name}: cached at {dest}")
            return Artifact.load(dest)
    started = time.monotonic()
    for stale in paths.stale_partials(store / recipe.name):   # a build killed midway: gigabytes
        shutil.rmtree(stale, ignore_errors=True)
    partial = paths.partial_path(store / recipe.name)
    partial.mkdir(parents=True)
    try:
        if recipe.kind == "debian":
            progress(f"{recipe.name}: fetching {recipe.spec.package}")
            inputs = debian.cache_inputs(recipe.spec)
            release = debian.produce(recipe.spec, inputs, partial, cache / "debs")
        elif recipe.kind == "kbuild":
            release = kbuild.produce(recipe.spec, kbuild.cache_inputs(recipe.spec), partial, cache, progress)
        else:
            progress(f"{recipe.name}: running {' '.join(recipe.spec.argv)}")
            release = command.produce(recipe.spec, partial)
        artifact = write_manifest(partial, recipe.as_dict(), key or "", release)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if not key:   # uncached recipe: name the artifact by what it produced
        key = artifact.sha256
        dest = store / f"{recipe.name}-{key[:16]}"
    if key and (dest / "manifest.json").exists() and not force:   # built meanwhile by another process
        shutil.rmtree(partial, ignore_errors=True)
        return Artifact.load(dest)
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    progress(f"{recipe.name}: built in {time.monotonic() - started:.1f} s -> {dest}")
    return Artifact.load(dest)

