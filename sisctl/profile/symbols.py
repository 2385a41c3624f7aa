"""Kernel addresses to function names: the kallsyms functions the agent sent (the running kernel's
own addresses, KASLR and modules included), else vmlinux's symbol table read with pyelftools,
moved by the KASLR offset (the running _stext against vmlinux's)."""
from __future__ import annotations

import bisect
from functools import lru_cache
from pathlib import Path

from elftools.elf.elffile import ELFFile

from sisctl.profile.samples import Samples


class VmlinuxFunctions:
    """The functions of one vmlinux by link address."""

    def __init__(self, vmlinux: Path):
        funcs, self.text = [], None
        with open(vmlinux, "rb") as f:
            symtab = ELFFile(f).get_section_by_name(".symtab")
            if symtab is None:
                raise ValueError(f"{vmlinux} has no symbol table")
            for sym in symtab.iter_symbols():
                if sym.name == "_stext":
                    self.text = sym["st_value"]
                if sym["st_info"]["type"] == "STT_FUNC" and sym["st_value"]:
                    funcs.append((sym["st_value"], sym["st_value"] + max(1, sym["st_size"]), sym.name))
        funcs.sort()
        self.starts = [f[0] for f in funcs]
        self.ends = [f[1] for f in funcs]
        self.names = [f[2] for f in funcs]

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
