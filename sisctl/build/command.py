"""Build a kernel from the user's own tree with the user's own command (make, cargo, ...)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from sisctl import proc
from sisctl.build.recipe import CommandSpec
from sisctl.errors import TestFailure, UsageError


class BuildFailed(TestFailure):
    """The kernel's own build command failed: a verdict on the tree, not on the lab (exit 1)."""


def cache_inputs(spec: CommandSpec) -> dict | None:
    """Hash of the declared inputs; None when the recipe declares none (then it always runs)."""
    if not spec.inputs:
        return None
    digest = hashlib.sha256()
    for pattern in spec.inputs:
        files = [path for path in sorted(spec.tree.glob(pattern)) if path.is_file()]
        if not files:   # else a changed tree could be served its old kernel from the cache
            raise UsageError(f"recipe inputs {pattern!r} match no file in {spec.tree}: the cache could not "
                             "tell a changed tree; fix the glob, or give no inputs to build every time")
        for path in files:
            digest.update(str(path.relative_to(spec.tree)).encode())
            digest.update(path.read_bytes())
    return {"inputs": digest.hexdigest()}


def produce(spec: CommandSpec, out: Path) -> str | None:
    tree = spec.tree          # it and its program were checked when the recipe was read
    done = proc.run(spec.argv, cwd=tree, env={**os.environ, **spec.env}, timeout=spec.timeout_s, check=False)
    (out / "build.log").write_text(done.stdout + done.stderr)
    if done.returncode:   # the partial artifact goes; its log is kept where the message says
        kept = out.parent / "last-failed-build.log"
        shutil.copyfile(out / "build.log", kept)
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise BuildFailed(f"build command {' '.join(spec.argv)[:200]} failed with exit {done.returncode} "
                          f"(log {kept})" + (": " + " | ".join(tail)[-600:] if tail else ""))
    source = git_source(tree)
    if source:
        (out / "source.json").write_text(json.dumps(source, indent=1) + "\n")
    image = tree / spec.image
    if not image.exists():
        raise proc.ToolError(f"build finished but its image {image} does not exist")
    shutil.copy(image, out / "Image")
    if spec.vmlinux:
        shutil.copy(tree / spec.vmlinux, out / "vmlinux")
    if spec.modules_dir:
        modules = tree / spec.modules_dir
        (out / "modules").mkdir()
        shutil.copytree(modules, out / "modules" / modules.name)
        return modules.name
    return None


def git_source(tree: Path) -> dict | None:
    """The commit a tree in git was built from: its hash, `git describe` and whether it had changes."""
    commit = proc.run(["git", "-C", tree, "rev-parse", "HEAD"], timeout=30, check=False)
    if commit.returncode:
        return None
    describe = proc.run(["git", "-C", tree, "describe", "--always", "--tags", "--dirty"], timeout=30, check=False)
    status = proc.run(["git", "-C", tree, "status", "--porcelain", "--untracked-files=no"], timeout=60, check=False)
    return {"git_commit": commit.stdout.strip(), "git_describe": describe.stdout.strip(),
            "dirty": bool(status.stdout.strip())}
