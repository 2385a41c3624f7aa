"""Fetch Debian arm64 packages (kernel, busybox) with apt and unpack them without installing."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from sisctl import proc
from sisctl.build.recipe import DebianSpec
from sisctl.errors import UsageError

APT_TIMEOUT = 600


def resolve(package: str, arch: str = "arm64") -> tuple[str, str]:
    """Resolve a metapackage to the concrete linux-image package and its version."""
    name = package
    depends = proc.run(["apt-cache", "depends", f"{package}:{arch}"], timeout=60, check=False).stdout
    concrete = re.search(r"Depends: (linux-image-[0-9][^\s:]*)", depends)
    if concrete:
        name = concrete.group(1)
    policy = proc.run(["apt-cache", "policy", f"{name}:{arch}"], timeout=60, check=False).stdout
    version = re.search(r"Candidate: (\S+)", policy)
    if not version or version.group(1) == "(none)":
        if not _lists_ready(arch):
            raise proc.ToolError(f"apt knows no {name}:{arch}; run 'invoke setup' (adds the arm64 "
                                 "architecture and updates the package lists)")
        raise UsageError(f"key 'debian.package': Debian has no package {name}:{arch} (apt's package lists "
                         f"hold {arch} packages; see 'apt-cache search linux-image' for the names)")
    return name, version.group(1)


def _lists_ready(arch: str) -> bool:
    """Whether apt's lists know `arch` packages at all (busybox-static is in every Debian release)."""
    policy = proc.run(["apt-cache", "policy", f"busybox-static:{arch}"], timeout=60, check=False).stdout
    return re.search(r"Candidate: [0-9]", policy) is not None


def fetch_deb(name: str, version: str, arch: str, dest: Path) -> Path:
    """Download one .deb into `dest` (kept there as a cache) and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    found = _find_deb(dest, name, version, arch)
    if found:
        return found
    proc.run(["apt-get", "download", f"{name}:{arch}={version}"], cwd=dest, timeout=APT_TIMEOUT)
    found = _find_deb(dest, name, version, arch)
    if not found:
        raise proc.ToolError(f"apt-get download {name}:{arch}={version} produced no .deb in {dest}")
    return found


def _find_deb(folder: Path, name: str, version: str, arch: str) -> Path | None:
    epochless = version.split(":", 1)[-1]
    for deb in folder.glob(f"{name}_*_{arch}.deb"):
        if deb.name.replace("%3a", ":").endswith(f"{epochless}_{arch}.deb"):
            return deb
    return None


def unpack(deb: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    proc.run(["dpkg-deb", "-x", deb, dest], timeout=300)


def cache_inputs(spec: DebianSpec) -> dict:
    name, version = resolve(spec.package, spec.arch)
    return {"package": name, "version": version}


def produce(spec: DebianSpec, inputs: dict, out: Path, downloads: Path) -> str:
    """Lay out Image, config, modules/<release> and dtbs/ in `out`; return the kernel release."""
    deb = fetch_deb(inputs["package"], inputs["version"], spec.arch, downloads)
    root = out / "unpacked"
    unpack(deb, root)
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise proc.ToolError(f"{deb.name} holds no boot/vmlinuz-*: not a kernel package")
    release = kernels[0].name[len("vmlinuz-"):]
    shutil.move(kernels[0], out / "Image")
    config = root / "boot" / f"config-{release}"
    if config.exists():
        shutil.move(config, out / "config")
    modules = root / "lib" / "modules" / release
    if modules.is_dir():
        (out / "modules").mkdir()
        shutil.move(modules, out / "modules" / release)
    dtbs = root / "usr" / "lib" / f"linux-image-{release}"
    if dtbs.is_dir():
        shutil.move(dtbs, out / "dtbs")
    shutil.rmtree(root)
    return release
