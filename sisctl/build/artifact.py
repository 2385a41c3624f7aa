"""A built kernel: a folder with Image, optional vmlinux, modules, dtbs, config and manifest.json."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from sisctl import __version__
from sisctl.image.kernel import InvalidKernel, inspect_elf, inspect_image
from sisctl.image.modules import ModuleTree


_VERIFIED: dict[Path, tuple] = {}    # Image path -> its file's identity and sha256 when last verified


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Artifact:
    root: Path
    manifest: dict

    @property
    def image(self) -> Path:
        return self.root / "Image"

    @property
    def vmlinux(self) -> Path | None:
        path = self.root / "vmlinux"
        return path if path.exists() else None

    @property
    def modules(self) -> ModuleTree:
        release = self.manifest.get("kernel_release") or ""
        return ModuleTree(self.root / "modules" / release)

    @property
    def dtbs(self) -> Path:
        return self.root / "dtbs"

    @property
    def build_id(self) -> str | None:
        return self.manifest.get("build_id")

    @property
    def sha256(self) -> str:
        return self.manifest["files"]["Image"]

    @classmethod
    def load(cls, root: Path) -> "Artifact":
        root = Path(root)
        try:
            manifest = json.loads((root / "manifest.json").read_text())
        except (OSError, ValueError) as err:
            raise InvalidKernel(f"{root}: not a sisctl artifact (manifest.json: {err})") from None
        artifact = cls(root, manifest)
        artifact.verify()
        return artifact

    def verify(self) -> None:
        """Refuse an artifact whose Image changed since it was built or is not an arm64 Image. An
        Image whose file is unchanged since this process last verified it is not read again (every
        session loads its artifact)."""
        found = self.image.stat()
        seen = (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns, self.sha256)
        if _VERIFIED.get(self.image) == seen:
            return
        if sha256_file(self.image) != self.sha256:
            raise InvalidKernel(f"{self.image}: sha256 differs from manifest.json; rebuild with --force")
        inspect_image(self.image)
        _VERIFIED[self.image] = seen


def write_manifest(root: Path, recipe: dict, cache_key: str, release: str | None) -> Artifact:
    """Inspect what a builder left in `root` and record it; refuses files that are not arm64 kernels."""
    image = inspect_image(root / "Image")
    manifest: dict = {
        "recipe": recipe,
        "cache_key": cache_key,
        "kernel_version": image.version,
        "kernel_release": release or image.version,
        "build_id": image.build_id,
        "build_id_source": "image-notes" if image.build_id else None,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sisctl_version": __version__,
    }
    if (root / "vmlinux").exists():
        elf = inspect_elf(root / "vmlinux")
        if elf.build_id:
            if image.build_id and image.build_id != elf.build_id:
                raise InvalidKernel(f"{root}: vmlinux build-id {elf.build_id} does not match Image {image.build_id}")
            manifest["build_id"], manifest["build_id_source"] = elf.build_id, "vmlinux"
        manifest["sections"] = elf.sections
    if (root / "config").exists():
        manifest["config_sha256"] = sha256_file(root / "config")
    if (root / "source.json").exists():   # a tree in git: its commit, describe and dirty flag
        manifest["source"] = json.loads((root / "source.json").read_text())
    manifest["modules"] = len(Artifact(root, manifest).modules.files)   # none without a release
    manifest["files"] = {str(p.relative_to(root)): sha256_file(p)
                         for p in sorted(root.rglob("*")) if p.is_file() and p.name != "manifest.json"}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return Artifact(root, manifest)
