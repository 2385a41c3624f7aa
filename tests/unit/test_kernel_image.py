"""The running kernel's GNU build id, read from its ELF notes (/sys/kernel/notes)."""
from __future__ import annotations

import struct

from sisctl.image.kernel import notes_build_id


def note(name: bytes, kind: int, desc: bytes) -> bytes:
    def pad(data: bytes) -> bytes:
        return data + b"\0" * (-len(data) % 4)
    return struct.pack("<III", len(name), len(desc), kind) + pad(name) + pad(desc)


def test_the_build_id_is_found_among_a_running_kernels_notes():
    build_id = bytes(range(20))
    notes = note(b"Linux\0", 1, b"\x06\x01\x00\x00") + note(b"Xen\0", 3, b"abcd") + note(b"GNU\0", 3, build_id)
    assert notes_build_id(notes) == build_id.hex()
    assert notes_build_id(notes[:-8]) is None and notes_build_id(b"") is None
