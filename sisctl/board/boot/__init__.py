"""Boot methods: how a session brings the kernel under test from off to the agent answering, one
module per method, picked by a board file's `boot.method`.

A method module has:
  NAME      its `boot.method` value
  SECTION   (key, dataclass) of its own settings section `boot.<key>:`, or None
  check(spec, path)        rules beyond the types, run when the board file loads: fill in defaults,
                           refuse what cannot work (config.ConfigError naming the key)
  boot(session, request)   boot the board; BoardSession gives the steps (boot files, QEMU with its
                           ready snapshots, power, console, waiting for the agent, cleanups)
  STAGES_KERNEL            (optional, default True) False for a method that boots what the board has
                           installed: flashing records that kernel instead of staging one
Adding a method is a module here and its line in METHODS (docs/development.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sisctl.board.boot import installed, pi_tryboot, qemu, uboot, uefi

METHODS = {method.NAME: method for method in (qemu, uboot, uefi, pi_tryboot, installed)}


@dataclass(frozen=True)
class BootRequest:
    """What one session asks of its boot."""
    fast: bool                      # from a ready snapshot where the board has them
    append: str                     # kernel command-line words of this session
    disks: list = field(default_factory=list)   # extra QEMU disks (board.qemu.Disk)
    ready_timeout_s: float = 120.0


def sections() -> list[tuple[str, type]]:
    """Every method's own settings section, as (key under boot:, dataclass)."""
    return [method.SECTION for method in METHODS.values() if method.SECTION]
