"""Compile an arm64 Image from Debian's linux-source with kbuild and config fragments."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Callable

from sisctl import paths, proc
from sisctl.build.recipe import KbuildSpec
from sisctl.errors import UsageError


def source_tarball(spec: KbuildSpec | None = None) -> Path:
    tarballs = sorted(Path("/usr/src").glob("linux-source-*.tar.xz"))
    if not tarballs:
        package = spec.source_package if spec else "linux-source"
        raise proc.ToolError(f"no /usr/src/linux-source-*.tar.xz: install the '{package}' "
                             "Debian package ('invoke setup' does)")
    return tarballs[-1]


def fragment_paths(spec: KbuildSpec) -> list[Path]:
    return [paths.PROJECT / f for f in spec.fragments]


def cache_inputs(spec: KbuildSpec) -> dict:
    tarball = source_tarball(spec)
    compiler = proc.run([f"{spec.cross_compile}gcc", "--version"], timeout=30).stdout.splitlines()[0]
    return {"source": tarball.name, "source_size": tarball.stat().st_size, "compiler": compiler,
            "fragments": {name: hashlib.sha256((paths.PROJECT / name).read_bytes()).hexdigest()
                          for name in spec.fragments},   # by name: the key must not depend on the checkout's place
            **({"patches": {name: hashlib.sha256((paths.PROJECT / name).read_bytes()).hexdigest()
                            for name in spec.patches}} if spec.patches else {})}


def wanted_options(fragments: list[Path]) -> dict[str, str]:
    wanted = {}
    for fragment in fragments:
        for line in fragment.read_text().splitlines():
            line = line.strip()
            if line.startswith("CONFIG_") and "=" in line:
                key, value = line.split("=", 1)
                wanted[key] = value
            elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
                wanted[line[2:-len(" is not set")]] = "n"
    return wanted


def missing_options(config: Path, wanted: dict[str, str]) -> list[str]:
    """Options a fragment asked for that kconfig dropped (an unmet dependency, usually)."""
    have = {}
    for line in config.read_text().splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            key, value = line.split("=", 1)
            have[key] = value
    return [f"{k}={v} (got {have.get(k, 'n')})" for k, v in wanted.items() if have.get(k, "n") != v]


def check_kept(config: Path, fragments: list[Path]) -> None:
    """Every option the fragments ask for is in the final .config; else the recipe asks for what this
    kernel cannot have: bad input, which a rebuild will not mend."""
    dropped = [f"{paths.shown(fragment)}: {', '.join(missing)}" for fragment in fragments
               if (missing := missing_options(config, wanted_options([fragment])))]
    if dropped:
        raise UsageError("kconfig dropped options the recipe's fragments ask for (an unmet dependency, or no "
                         "such option in this kernel): " + "; ".join(dropped))


def extract_source(tarball: Path, cache: Path) -> Path:
    """The pristine kernel tree of `tarball`, unpacked once into the cache."""
    tree = cache / "kbuild-src" / tarball.name.removesuffix(".tar.xz")
    if (tree / "Makefile").exists():
        return tree
    partial = tree.with_name(tree.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    proc.run(["tar", "-xf", tarball, "-C", partial, "--strip-components=1"], timeout=900)
    partial.rename(tree)
    return tree


def _patched_source(tree: Path, patches: list[str], inputs: dict) -> Path:
    """A copy of the pristine tree with the patches applied: hard links, except the files patched."""
    if not patches:
        return tree
    key = hashlib.sha256(repr(sorted(inputs["patches"].items())).encode()).hexdigest()[:12]
    patched = tree.with_name(f"{tree.name}-patched-{key}")
    if (patched / "Makefile").exists():
        return patched
    partial = patched.with_name(patched.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    # every patch's names checked before anything is copied or written
    changed = {name: _patched_files(paths.PROJECT / name, tree) for name in patches}
    proc.run(["cp", "-al", tree, partial], timeout=900)
    for name in patches:
        patch = paths.PROJECT / name
        for target in (partial / f.relative_to(tree) for f in changed[name]):   # own copies, not hard links
            data = target.read_bytes()
            target.unlink()
            target.write_bytes(data)
        done = proc.run(["patch", "-p1", "--forward", "--no-backup-if-mismatch", "-d", partial, "-i", patch],
                        timeout=120, check=False)
        if done.returncode:
            shutil.rmtree(partial, ignore_errors=True)
            raise UsageError(f"{name} does not apply to {tree.name}: {(done.stdout + done.stderr).strip()[:2000]}")
    partial.rename(patched)
    return patched


def _patched_files(patch: Path, tree: Path) -> list[Path]:
    """The existing files a -p1 patch changes. Every name it gives must stay inside the tree (no
    '..', no symbolic link out; -p1 makes a leading '/' part of the first component it strips)."""
    inside = tree.resolve()
    found = []
    for number, line in enumerate(patch.read_text(errors="replace").splitlines(), start=1):
        if not line.startswith(("+++ ", "--- ")):
            continue
        name = line[4:].split("\t")[0].strip()
        if name == "/dev/null":
            continue
        relative = PurePosixPath(name.split("/", 1)[1] if "/" in name else name)
        target = tree / relative
        if relative.is_absolute() or ".." in relative.parts or not target.resolve().is_relative_to(inside):
            raise UsageError(f"{patch}: line {number}: {name!r} names a file outside the kernel tree; "
                             "a patch may change files inside it only")
        if line.startswith("+++ ") and target.is_file():
            found.append(target)
    return found


def produce(spec: KbuildSpec, inputs: dict, out: Path, cache: Path,
            progress: Callable[[str], None] = print) -> str:
    tree = _patched_source(extract_source(source_tarball(spec), cache), spec.patches, inputs)
    build = out / "build"
    build.mkdir(parents=True)
    make = ["make", "-C", str(tree), f"O={build}", "ARCH=arm64", f"CROSS_COMPILE={spec.cross_compile}"]
    jobs = spec.jobs or os.cpu_count() or 1
    log = out / "build.log"
    fragments = fragment_paths(spec)

    def step(*args: str) -> None:
        progress(f"kbuild: make {' '.join(args)}")
        with open(log, "a") as f:
            try:
                subprocess.run(make + list(args), stdout=f, stderr=subprocess.STDOUT,
                               timeout=spec.timeout_s, check=True)
            except subprocess.CalledProcessError:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                raise proc.ToolError(f"kbuild 'make {' '.join(args)}' failed; end of {log}:\n{tail}") from None
            except subprocess.TimeoutExpired:
                raise proc.ToolError(f"kbuild 'make {' '.join(args)}' exceeded {spec.timeout_s} s") from None

    step(spec.base_config)
    merge = tree / "scripts" / "kconfig" / "merge_config.sh"
    proc.run([merge, "-m", "-O", build, build / ".config", *fragments], cwd=build, timeout=120)
    step("olddefconfig")
    check_kept(build / ".config", fragments)
    step(f"-j{jobs}", *spec.targets)
    shutil.copy(build / "arch" / "arm64" / "boot" / "Image", out / "Image")
    shutil.copy(build / "vmlinux", out / "vmlinux")
    shutil.copy(build / ".config", out / "config")
    release = (build / "include" / "config" / "kernel.release").read_text().strip()
    shutil.rmtree(build)
    return release
