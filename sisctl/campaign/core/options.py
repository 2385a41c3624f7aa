"""A campaign kind's options, one table per kind: `--NAME VALUE` on `invoke campaign` and `NAME: VALUE`
in a test plan step's `options:` are the same option, parsed the same way.

The command line's help and checks (sisctl/cli/campaign.py), test plans (sisctl/nightly/plan.py) and
the kind's config_from_options all read the kind's table (`KIND.options`), so an option is one entry:

    Option("runs", parse_runs, 2, "runs per scenario")

`parse` gets the given value (text from the command line, any YAML value from a plan) or, when the
option is not given, `default`; it returns the config's value or raises a UsageError naming the
option (`flag(name)`; durations through sisctl/duration.py). A value of None counts as not given.
"""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from sisctl import config
from sisctl.errors import UsageError


@dataclass(frozen=True)
class Option:
    name: str                          # as in Python and plans (checksum_repair); the command line: --checksum-repair
    parse: Callable[[Any], Any]        # given value (or default) -> the config's value; UsageError naming it
    default: Any                       # used when the option is not given (parsed too); shown in the help
    help: str                          # without the kind and the default: the command line adds both
    field: str = ""                    # the config field it fills (default: its name)

    @property
    def flag(self) -> str:
        return flag(self.name)

    @property
    def shown_help(self) -> str:
        """The help with its default, when it has one worth showing."""
        return self.help if self.default in (None, "") else f"{self.help} (default {self.default})"


def flag(name: str) -> str:
    """An option's name on the command line: --checksum-repair for checksum_repair."""
    return "--" + name.replace("_", "-")


def check_names(kind: str, table: Sequence[Option], given: Iterable[str]) -> None:
    """A UsageError for the first option that is not in the kind's table."""
    names = {o.name for o in table}
    unknown = sorted(set(given) - names)
    if unknown and unknown[0].replace("-", "_") in names:   # a plan's key written as the command line's flag
        raise UsageError(f"{unknown[0]!r}: in a test plan's options the key is {unknown[0].replace('-', '_')!r} "
                         f"(the command line's {flag(unknown[0])})")
    if unknown:
        raise UsageError(f"{flag(unknown[0])} is not an option of {kind} campaigns "
                         f"(they take {', '.join(o.flag for o in table)})")


def option_values(kind: str, table: Sequence[Option], given: dict[str, Any]) -> dict[str, Any]:
    """The config fields of the options `given` (the command line's, a plan step's), every option of
    the table parsed, in its order, from its given value or its default."""
    check_names(kind, table, given)
    return {o.field or o.name: o.parse(o.default if given.get(o.name) is None else given[o.name]) for o in table}


def one_of(name: str, choices: Sequence[str]) -> Callable[[Any], str]:
    """A parser for an option that takes one of `choices`."""
    def parse(value: Any) -> str:
        if value not in choices:
            raise UsageError(f"{flag(name)} {value!r}: expected one of {', '.join(choices)}")
        return value
    return parse


def on_off(name: str) -> Callable[[Any], str]:
    """A parser for an option that is on or off (YAML reads a plan's bare on and off as true and false)."""
    def parse(value: Any) -> str:
        text = {True: "on", False: "off"}.get(value, str(value)) if isinstance(value, bool) else str(value)
        if text not in ("on", "off"):
            raise UsageError(f"{flag(name)} {text!r}: expected on or off")
        return text
    return parse


def config_from_json(cls: type, table: Sequence[Option], data: Any):
    """A kind's config dataclass `cls` from a campaign.json's config, checked as its options were when
    the campaign started (a damaged or hand-edited file is bad input before anything boots, not a
    traceback after); keys the config no longer has are left out."""
    if not isinstance(data, dict):
        raise UsageError(f"key 'config': expected a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    kept = {k: v for k, v in data.items() if k in known}
    for option in table:
        name = option.field or option.name
        if name in kept:
            try:
                kept[name] = option.parse(kept[name])
            except UsageError as err:
                raise UsageError(f"key 'config.{name}': {err}") from None
    try:
        return config.parse(cls, kept, "campaign.json", "config")
    except config.ConfigError as err:
        raise UsageError(f"key '{err.key}': {err.problem}") from None
