"""Kernel modules: read each .ko's .modinfo with pyelftools and order a set by dependency."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from sisctl.errors import UsageError


class ModuleError(UsageError):
    """A wanted module is missing or its dependencies cannot be resolved."""


@dataclass
class ModuleInfo:
    name: str
    path: Path
    depends: list[str]
    vermagic: str


def read_modinfo(path: Path) -> dict[str, str]:
    try:
        with open(path, "rb") as f:
            section = ELFFile(f).get_section_by_name(".modinfo")
            raw = section.data() if section else b""
    except ELFError as err:
        raise ModuleError(f"{path}: not an ELF kernel module ({err})") from None
    info: dict[str, str] = {}
    for entry in raw.split(b"\0"):
        key, sep, value = entry.decode(errors="replace").partition("=")
        if sep and key not in info:
            info[key] = value
    return info


def module_name(path: Path) -> str:
    return path.name.split(".ko")[0].replace("-", "_")


class ModuleTree:
    """The modules of one kernel release (a lib/modules/<release> folder)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.files = {module_name(p): p for p in self.root.rglob("*.ko")} if self.root.is_dir() else {}
        builtin = self.root / "modules.builtin"
        self.builtin = {module_name(Path(line.strip())) for line in builtin.read_text().splitlines()
                        if line.strip()} if builtin.exists() else set()

    def info(self, name: str) -> ModuleInfo:
        path = self.files[name]
        modinfo = read_modinfo(path)
        depends = [d.replace("-", "_") for d in modinfo.get("depends", "").split(",") if d]
        return ModuleInfo(name, path, depends, modinfo.get("vermagic", ""))

    def load_order(self, wanted: list[str]) -> list[ModuleInfo]:
        """The wanted modules and everything they depend on, dependencies first.

        A module the kernel has built in needs no loading; one that is neither
        a file nor built in is an error, unless this kernel ships no modules at
        all (a kbuild with everything built in)."""
        order: list[ModuleInfo] = []
        done: set[str] = set()

        def visit(name: str, chain: tuple[str, ...]) -> None:
            name = name.replace("-", "_")
            if name in done:
                return
            if name in chain:
                raise ModuleError(f"module dependency cycle: {' -> '.join(chain + (name,))}")
            if name not in self.files:
                if name in self.builtin or not self.files:
                    done.add(name)
                    return
                raise ModuleError(f"module {name} is neither in {self.root} nor built into the kernel")
            info = self.info(name)
            for dep in info.depends:
                visit(dep, chain + (name,))
            done.add(name)
            order.append(info)

        for name in wanted:
            visit(name, ())
        return order
