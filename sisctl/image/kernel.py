"""Check that a file really is an arm64 kernel, and read what it says about itself."""
from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from sisctl.errors import UsageError

ARM64_MAGIC = b"ARM\x64"        # at offset 56 of an arm64 Image header
GNU_BUILD_ID_NOTE = struct.pack("<III", 4, 20, 3) + b"GNU\0"
BANNER = re.compile(rb"Linux version (\S+) \(([^\n\0]{0,200})")
MAX_IMAGE_BYTES = 256 << 20      # an arm64 Image is tens of MiB; anything this big is not one


class InvalidKernel(UsageError):
    """The file is not something an arm64 board can boot."""


@dataclass
class KernelImage:
    path: Path
    version: str | None
    build_id: str | None
    image_size: int


@dataclass
class ElfSummary:
    build_id: str | None
    sections: list[dict]


def read_image(path: Path) -> bytes:
    """Return the raw Image bytes, undoing a gzip wrapper (Debian's vmlinuz on some flavours)."""
    too_big = f"{path}: more than {MAX_IMAGE_BYTES >> 20} MiB%s: not an arm64 kernel Image"
    if Path(path).stat().st_size > MAX_IMAGE_BYTES:
        raise InvalidKernel(too_big % "")
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        unpacker = zlib.decompressobj(16 + zlib.MAX_WBITS)     # gzip; bounded, so a bomb is refused
        try:
            data = unpacker.decompress(data, MAX_IMAGE_BYTES + 1)
        except zlib.error as err:
            raise InvalidKernel(f"{path}: corrupt gzip-compressed kernel ({err})") from None
        if len(data) > MAX_IMAGE_BYTES:
            raise InvalidKernel(too_big % " once decompressed")
        if not unpacker.eof:
            raise InvalidKernel(f"{path}: corrupt gzip-compressed kernel (cut short)")
    return data


def inspect_image(path: Path) -> KernelImage:
    data = read_image(path)
    if len(data) < 64 or data[56:60] != ARM64_MAGIC:
        raise InvalidKernel(f"{path}: not an arm64 kernel Image (no 'ARM\\x64' magic at offset 56)")
    image_size = struct.unpack_from("<Q", data, 16)[0]
    if image_size and image_size < len(data) // 2:
        raise InvalidKernel(f"{path}: header says the image is {image_size} bytes but the file holds "
                            f"{len(data)}: truncated or not a kernel")
    banner = BANNER.search(data)
    return KernelImage(Path(path), banner.group(1).decode(errors="replace") if banner else None,
                       _find_build_id(data), image_size)


def _find_build_id(data: bytes) -> str | None:
    """The kernel's own GNU build-id note; the vDSOs embedded as ELF files carry their own."""
    embedded = list(_embedded_elf_ranges(data))
    for match in re.finditer(re.escape(GNU_BUILD_ID_NOTE), data):
        if not any(start <= match.start() < end for start, end in embedded):
            return data[match.end():match.end() + 20].hex()
    return None


def _embedded_elf_ranges(data: bytes):
    """(start, end) of each ELF file inside the Image, from its section header table's end."""
    for match in re.finditer(b"\x7fELF[\x01\x02]\x01", data):
        at = match.start()
        if len(data) < at + (0x3E if data[at + 4] == 2 else 0x32):
            continue            # a cut header: no file there
        if data[at + 4] == 2:
            shoff, = struct.unpack_from("<Q", data, at + 0x28)
            shentsize, shnum = struct.unpack_from("<HH", data, at + 0x3A)
        else:
            shoff, = struct.unpack_from("<I", data, at + 0x20)
            shentsize, shnum = struct.unpack_from("<HH", data, at + 0x2E)
        size = shoff + shentsize * shnum
        if 0 < size < 16 << 20:
            yield at, at + size


def inspect_elf(path: Path) -> ElfSummary:
    """Build-id and allocated sections of a vmlinux, read with pyelftools."""
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            if elf["e_machine"] != "EM_AARCH64":
                raise InvalidKernel(f"{path}: ELF for {elf['e_machine']}, expected EM_AARCH64")
            build_id = None
            sections = []
            for section in elf.iter_sections():
                if section.name == ".notes" or section["sh_type"] == "SHT_NOTE":
                    for note in section.iter_notes():
                        if note["n_type"] == "NT_GNU_BUILD_ID":
                            build_id = note["n_desc"]
                if section["sh_flags"] & 0x2 and section["sh_size"]:   # SHF_ALLOC
                    sections.append({"name": section.name, "addr": hex(section["sh_addr"]),
                                     "size": section["sh_size"]})
            return ElfSummary(build_id, sections)
    except ELFError as err:
        raise InvalidKernel(f"{path}: not a valid ELF file ({err})") from None


def notes_build_id(notes: bytes) -> str | None:
    """The GNU build id among the ELF notes of a running kernel (/sys/kernel/notes), or None."""
    at = 0
    while at + 12 <= len(notes):
        namesz, descsz, kind = struct.unpack_from("<III", notes, at)
        name_at = at + 12
        desc_at = name_at + (namesz + 3) // 4 * 4
        if desc_at + descsz > len(notes):
            return None
        if kind == 3 and notes[name_at:name_at + namesz] == b"GNU\0":
            return notes[desc_at:desc_at + descsz].hex()
        at = desc_at + (descsz + 3) // 4 * 4
    return None
