"""A kernel variant: a recipe plus optional kernel command-line words, written `RECIPE[+WORD...]`.

`debian-arm64`, `linux-kbuild`, `debian-arm64+mitigations=off+nosmt`: boot options are compared
without a rebuild. The words are checked so they pass through a boot loader and a shell unchanged.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sisctl.build.artifact import Artifact
from sisctl.build.builder import build
from sisctl.build.recipe import Recipe, find_recipe
from sisctl.errors import UsageError

CMDLINE_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.,:=/-]*")


@dataclass(frozen=True)
class Variant:
    recipe: str
    cmdline: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "+".join((self.recipe, *self.cmdline))

    @property
    def append(self) -> str:
        """The words added to the board's kernel command line."""
        return " ".join(self.cmdline)

    def load_recipe(self) -> Recipe:
        return find_recipe(self.recipe)

    def build(self, progress=print) -> Artifact:
        return build(self.load_recipe(), progress=progress)


def parse_variant(text: str, option: str = "--variant") -> Variant:
    """`RECIPE[+WORD...]`; a bad word or an empty part is a UsageError naming `option`."""
    parts = str(text).strip().split("+")
    recipe, words = parts[0].strip(), [w.strip() for w in parts[1:]]
    if not recipe:
        raise UsageError(f"{option} {text!r}: expected RECIPE[+KERNEL-OPTION...], e.g. debian-arm64+mitigations=off")
    for word in words:
        if not CMDLINE_WORD.fullmatch(word):
            raise UsageError(f"{option} {text!r}: {word!r} is not a kernel command-line word "
                             "(letters, digits and _ . , : = / - only)")
    return Variant(recipe, tuple(words))


def checked_variant(text: str, option: str = "--variant") -> Variant:
    """parse_variant, and its recipe must exist (the error names the option and the known recipes)."""
    variant = parse_variant(text, option)
    try:
        variant.load_recipe()
    except UsageError as err:
        raise UsageError(f"{option} {text!r}: {err}") from None
    return variant
