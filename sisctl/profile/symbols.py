"""Kernel addresses to function names: the kallsyms functions the agent sent (the running kernel's
own addresses, KASLR and modules included), else vmlinux's symbol table read with pyelftools,
moved by the KASLR offset (the running _stext against vmlinux's). Where vmlinux has DWARF line
tables, a function's source file and line come from them."""
from __future__ import annotations

import bisect
import os
from functools import cached_property, lru_cache
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.common.exceptions import DWARFError, ELFError
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
        self.start_of: dict[str, int] = {}
        for start, _, name in symbols:
            self.start_of.setdefault(name, start)

    def name(self, address: int) -> str | None:
        i = bisect.bisect_right(self.starts, address) - 1
        return self.names[i] if i >= 0 and address < self.ends[i] else None


@lru_cache(maxsize=4)
def vmlinux_functions(vmlinux: Path) -> VmlinuxFunctions:
    return VmlinuxFunctions(vmlinux)


class SourceLines:
    """File and line of link addresses from vmlinux's DWARF: the address ranges say which
    compilation unit holds an address, and only that unit's line table is read."""

    def __init__(self, vmlinux: Path):
        self._file = open(vmlinux, "rb")
        elf = ELFFile(self._file)
        self.dwarf = elf.get_dwarf_info() if elf.has_dwarf_info() else None
        self.aranges = self.dwarf.get_aranges() if self.dwarf else None
        self._rows: dict[int, tuple[list[int], list[str]]] = {}

    def line(self, address: int) -> str | None:
        offset = self.aranges.cu_offset_at_addr(address) if self.aranges else None
        if offset is None:
            return None
        if offset not in self._rows:
            self._rows[offset] = self._unit_rows(self.dwarf.get_CU_at(offset))
        addresses, places = self._rows[offset]
        i = bisect.bisect_left(addresses, address)      # the first row at the address: a function's opening
        if i == len(addresses) or addresses[i] != address:
            i -= 1
        return places[i] if i >= 0 and places[i] else None

    @cached_property
    def tree(self) -> str:
        """The source tree's root where units are named by absolute paths (a kernel built with O=
        compiles its tree's files from a build folder): what the first units' folders share."""
        folders = []
        for unit in self.dwarf.iter_CUs():
            name = unit.get_top_DIE().attributes.get("DW_AT_name")
            path = name.value.decode(errors="replace") if name else ""
            if os.path.isabs(path):
                folders.append(os.path.dirname(path))
            if len(folders) == 32:
                break
        return os.path.commonpath(folders) if len(folders) > 1 else ""

    def _shown(self, path: str, comp_dir: str) -> str:
        for base in (comp_dir, self.tree):
            if base not in ("", "/") and path.startswith(base + "/"):
                return os.path.relpath(path, base)
        return path

    def _unit_rows(self, unit) -> tuple[list[int], list[str]]:
        """The unit's line table as sorted addresses and their places, paths relative to the folder
        it was compiled in or to the source tree."""
        program = self.dwarf.line_program_for_CU(unit)
        attributes = unit.get_top_DIE().attributes
        comp_dir = attributes["DW_AT_comp_dir"].value.decode(errors="replace") if "DW_AT_comp_dir" in attributes else ""
        header = program.header
        version = header["version"]
        dirs = [os.path.join(comp_dir, d.decode(errors="replace") if isinstance(d, bytes) else d)
                for d in header["include_directory"]]
        rows = []
        for entry in program.get_entries():
            state = entry.state
            if state is None:
                continue
            if state.end_sequence:
                rows.append((state.address, ""))
                continue
            index = state.file if version >= 5 else state.file - 1
            if not 0 <= index < len(header["file_entry"]):
                continue
            file = header["file_entry"][index]
            name = file.name.decode(errors="replace")
            folder_index = file.dir_index if version >= 5 else file.dir_index - 1
            folder = dirs[folder_index] if 0 <= folder_index < len(dirs) else comp_dir
            rows.append((state.address, f"{self._shown(os.path.normpath(os.path.join(folder, name)), comp_dir)}"
                                        f":{state.line}"))
        rows.sort(key=lambda row: row[0])
        return [r[0] for r in rows], [r[1] for r in rows]


@lru_cache(maxsize=4)
def source_lines(vmlinux: Path) -> SourceLines:
    return SourceLines(vmlinux)


def function_lines(vmlinux: Path | None, functions: list[str]) -> dict[str, str]:
    """Where each of `functions` (as the resolver names them) starts in the source, for those that
    vmlinux knows and has line tables for; {} without vmlinux or DWARF."""
    if vmlinux is None:
        return {}
    starts, lines = vmlinux_functions(vmlinux).start_of, source_lines(vmlinux)
    if lines.dwarf is None:
        return {}
    found = {name: lines.line(starts[name]) for name in functions if name in starts}
    return {name: where for name, where in found.items() if where}


def add_sources(top: list[dict], vmlinux: Path | None) -> list[dict]:
    """A top-functions table (folded.top_functions) with each function's 'source' (file:line, or '')."""
    try:
        lines = function_lines(vmlinux, [t["function"] for t in top])
    except (OSError, ValueError, ELFError, DWARFError):     # gone, not ELF, damaged: the names stand
        lines = {}
    return [{**t, "source": lines.get(t["function"], "")} for t in top]


class Resolver:
    def __init__(self, samples: Samples, vmlinux: Path | None = None):
        self.kallsyms = samples.kallsyms
        self.vmlinux_path = vmlinux
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

    def name(self, address: int | str) -> str:
        if isinstance(address, str):      # a frame the report named by a sym line it did not send
            self.unresolved += 1
            return address
        if address in self.kallsyms:
            function, module = self.kallsyms[address]
            return f"{function} [{module}]" if module else function
        found = self.vmlinux.name(address - self.offset) if self.vmlinux else None
        if found is None:
            self.unresolved += 1
            return f"{address:#x}"
        return found
