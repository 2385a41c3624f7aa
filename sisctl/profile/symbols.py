"""Kernel addresses to function names: the kallsyms functions the agent sent (the running kernel's
own addresses, KASLR and modules included), else vmlinux's symbol table read with pyelftools,
moved by the KASLR offset (the running _stext against vmlinux's)."""
from __future__ import annotations

import bisect
from functools import lru_cache
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from sisctl.profile.samples import Samples

SHF_EXECINSTR = SH_FLAGS.SHF_EXECINSTR


class VmlinuxFunctions:
    """The code symbols of one vmlinux by link address: functions, and assembly's symbols (the
    exception vectors, entry code); one without a size reaches the next symbol."""

    def __init__(self, vmlinux: Path):
        symbols, self.text = [], None
        with open(vmlinux, "rb") as f:
            elf = ELFFile(f)
            symtab = elf.get_section_by_name(".symtab")
            if symtab is None:
                raise ValueError(f"{vmlinux} has no symbol table")
            code = {i for i, section in enumerate(elf.iter_sections()) if section["sh_flags"] & SHF_EXECINSTR}
            for sym in symtab.iter_symbols():
                if sym.name == "_stext":
                    self.text = sym["st_value"]
                kind, start = sym["st_info"]["type"], sym["st_value"]
                if not start or sym["st_shndx"] not in code or sym.name.startswith(("$", ".L")) or not sym.name:
                    continue
                if kind in ("STT_FUNC", "STT_NOTYPE"):
                    symbols.append((start, sym["st_size"], sym.name))
        symbols.sort(key=lambda s: (s[0], s[1] > 0, s[2]))   # at one address, a sized symbol wins over a label
        self.starts = [s[0] for s in symbols]
        self.names = [s[2] for s in symbols]
        nexts = self.starts[1:] + [self.starts[-1] + 1 if symbols else 0]
        self.ends = [start + size if size else following for (start, size, _), following in zip(symbols, nexts)]

    def name(self, address: int) -> str | None:
        i = bisect.bisect_right(self.starts, address) - 1
        return self.names[i] if i >= 0 and address < self.ends[i] else None


@lru_cache(maxsize=4)
def vmlinux_functions(vmlinux: Path) -> VmlinuxFunctions:
    return VmlinuxFunctions(vmlinux)


class Resolver:
    def __init__(self, samples: Samples, vmlinux: Path | None = None):
        self.kallsyms = samples.kallsyms
        self.vmlinux = vmlinux_functions(vmlinux) if vmlinux else None
        self.offset = 0
        if self.vmlinux and samples.ktext is not None and self.vmlinux.text is not None:
            self.offset = samples.ktext - self.vmlinux.text
        self.unresolved = 0

    @property
    def source(self) -> str:
        """Where names come from, for the report."""
        if self.kallsyms:
            return "kallsyms" + (" and vmlinux" if self.vmlinux else "")
        return f"vmlinux (KASLR offset {self.offset:#x})" if self.vmlinux else "none"

    def name(self, address: int) -> str:
        if address in self.kallsyms:
            function, module = self.kallsyms[address]
            return f"{function} [{module}]" if module else function
        found = self.vmlinux.name(address - self.offset) if self.vmlinux else None
        if found is None:
            self.unresolved += 1
            return f"{address:#x}"
        return found
