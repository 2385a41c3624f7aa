"""Targets: what a session talks to once the board is up, one module per `target.kind`.

  agent   sisctl's own agent in sisctl's initramfs (the default): exact output, snapshots, campaigns
  shell   a login prompt and a shell on the serial console (a board's own OS, a busybox system)
  ssh     a board's own OS over SSH, its host key checked
  prompt  a kernel with only a command prompt of its own (no agent, no POSIX shell)

A target's module holds the dataclass of its settings (derived from TargetSettings; the key
`kind:` picks it, as `model:` picks a power switch), and:
  SNAPSHOTS            whether a QEMU board's ready snapshot can stand in for a boot of it
  has_agent(spec)      whether sisctl's agent answers there (campaigns that need it ask)
  check(spec, path)    rules beyond the types, when the board file loads (config.ConfigError)
  guest_image(board, artifact)   the initramfs a QEMU or loader boot gives this kernel
  prepare(session)     before the boot: what the target adds to it (QEMU options, say); returns what
                       attach is given
  attach(session, prepared)   after the console opened: the link the session runs commands through
A link has wait_ready(timeout_s), after_boot(), run(command, timeout_s) -> CommandResult and close().
Adding a target is a module here and its line in KINDS (docs/development.md).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, is_dataclass
from importlib import import_module
from pathlib import Path
from typing import Annotated

from sisctl import config
from sisctl.config import ChosenBy
from sisctl.errors import UsageError

KINDS = ("agent", "shell", "ssh", "prompt")    # target.kind -> the module of that name in this folder


@dataclass(kw_only=True)
class TargetSettings:
    """What a session talks to: `kind` names a module of sisctl/board/target/, whose settings follow."""

    @property
    def kind(self) -> str:
        return CHOICE.name_of(type(self))


@functools.cache
def module(kind: str):
    return import_module(f"{__name__}.{kind}")


def _settings_of(mod) -> type:
    found = [v for v in vars(mod).values() if isinstance(v, type) and is_dataclass(v)
             and issubclass(v, TargetSettings) and v.__module__ == mod.__name__]
    if len(found) != 1:
        raise TypeError(f"{mod.__name__} must define one dataclass derived from TargetSettings, not {len(found)}")
    return found[0]


@functools.cache
def _choices() -> dict[str, type]:
    return {kind: _settings_of(module(kind)) for kind in KINDS}


CHOICE = ChosenBy("kind", _choices, default="agent")
TargetSpec = Annotated[TargetSettings, CHOICE]


@dataclass(kw_only=True)
class Secret:
    """A secret named by the board file, never held in it: an environment variable or a file."""
    env: str = ""      # the name of an environment variable
    file: str = ""     # or a file holding the secret (its first line)

    def check(self, path, key: str) -> None:
        """A board file names its secret one way (the environment or a file), not both."""
        if self.env and self.file:
            raise config.ConfigError(path, key, "name the secret one way: {env: NAME} or {file: PATH}, not both")

    def read(self, board: str, what: str) -> str:
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise UsageError(f"{board}: {what} comes from ${self.env}, which is not set")
            if "\n" in value or "\r" in value:
                raise UsageError(f"{board}: {what} from ${self.env} has a line break; a secret is one line")
            return value
        if self.file:
            path = Path(os.path.expanduser(self.file))
            try:
                return path.read_text().splitlines()[0] if path.stat().st_size else ""
            except OSError as err:
                raise UsageError(f"{board}: {what} comes from {path}, which cannot be read "
                                 f"({err.strerror or err})") from None
        return ""
