"""Load YAML into typed dataclasses; every error names the file, the key and what was expected.

Types may carry constraints as `Annotated[T, Check(...)]` (`Seconds`, `Regex`, `Name`, `between`):
`parse` enforces them and `json_schema` publishes them, so editors check the same rules.

A section whose fields depend on one of its keys is a tagged union, `Annotated[Base, ChosenBy(key,
choices, default)]`: `choices` maps each value of `key` to a dataclass derived from Base (or is a
function returning that mapping, called when first needed, so the choices may live in modules
imported late). parse() reads `key` (or takes `default` when it is absent), refuses an unknown value
listing the known ones, and reads the rest of the section with the chosen dataclass, which names any
missing or unknown key; json_schema() publishes one object per choice, selected by if/then on `key`.
The key is no field of the chosen dataclass: Base offers it as a property through
`ChosenBy.name_of(type(self))`, and `default_choice(T)` is the default_factory of a field of type T.
Example (sisctl/board/power/):

    PowerSpec = Annotated[PowerSettings, ChosenBy("model", {"qmp": QmpPower, "http": HttpPower}, "qmp")]
    power: PowerSpec = field(default_factory=default_choice(PowerSpec))
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
import subprocess
import types
import typing
import urllib.parse
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Mapping, TypeVar, get_args, get_origin, get_type_hints

import yaml

from sisctl.errors import UsageError
from sisctl.paths import PROJECT

T = TypeVar("T")
MAX_FILE_BYTES = 1 << 20
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"


class ConfigError(UsageError):
    """A configuration file is unreadable or does not match its schema."""

    def __init__(self, path: Path | str, key: str, problem: str):
        self.path, self.key, self.problem = str(path), key, " ".join(problem.split())
        where = f"{path}: key '{key}'" if key else str(path)
        super().__init__(f"{where}: {self.problem}")


@dataclasses.dataclass(frozen=True, eq=False)   # hashed by identity: a hint may sit in a Union
class Check:
    """A rule beyond the type: `test` returns True, or False / a problem text."""
    test: Callable[[Any], bool | str]
    expected: str
    schema: dict


@dataclasses.dataclass(frozen=True, eq=False)
class ChosenBy:
    """`Annotated[Base, ChosenBy(key, choices, default)]`: the value of `key` picks the dataclass that
    reads the section (see the module's docstring). Without a default, `key` is required."""
    key: str
    choices: Mapping[str, type] | Callable[[], Mapping[str, type]]
    default: str | None = None

    def table(self) -> Mapping[str, type]:
        return self.choices() if callable(self.choices) else self.choices

    def name_of(self, cls: type) -> str:
        """The value of `key` that chooses `cls`."""
        for name, choice in self.table().items():
            if choice is cls:
                return name
        raise TypeError(f"{cls.__name__} is not one of the choices of '{self.key}'")


def default_choice(hint: Any) -> Callable[[], Any]:
    """The default_factory of a field of type `Annotated[Base, ChosenBy(..., default=...)]`."""
    chosen = _chosen_by(hint)
    if chosen is None or chosen.default is None:
        raise TypeError(f"{hint} is no ChosenBy type with a default")
    return lambda: chosen.table()[chosen.default]()


def _chosen_by(hint: Any) -> ChosenBy | None:
    if get_origin(hint) is not Annotated:
        return None
    return next((extra for extra in get_args(hint)[1:] if isinstance(extra, ChosenBy)), None)


def between(lo: float | None, hi: float | None = None, *, above: bool = False, what: str = "a value") -> Check:
    """lo <= value <= hi (value > lo with `above`); None leaves that side open."""
    def test(v):
        return (lo is None or (v > lo if above else v >= lo)) and (hi is None or v <= hi)
    low = "" if lo is None else (f"> {lo}" if above else f">= {lo}")
    high = "" if hi is None else f"<= {hi}"
    schema = {k: v for k, v in {("exclusiveMinimum" if above else "minimum"): lo, "maximum": hi}.items()
              if v is not None}
    return Check(test, f"{what} {' and '.join(filter(None, (low, high)))}", schema)


def max_bytes(limit: int, why: str) -> Check:
    return Check(lambda v: len(v.encode()) <= limit, f"a text of at most {limit} bytes ({why})",
                 {"maxLength": limit})


def _regex_problem(value: str) -> bool | str:
    try:
        re.compile(value)
        return True
    except re.error as err:
        return f"not a valid regular expression ({err})"


def name_ok(value: str) -> bool:
    """Whether `value` can be used as one folder name."""
    return re.fullmatch(NAME_PATTERN, value) is not None and value not in (".", "..")


SECONDS_MAX = 1e7    # about 116 days: every timeout sockets, locks and deadlines take (parse() refuses NaN)
Seconds = Annotated[float, between(0, SECONDS_MAX, above=True, what="seconds")]   # a timeout
SecondsOrZero = Annotated[float, between(0, SECONDS_MAX, what="seconds")]
Regex = Annotated[str, Check(_regex_problem, "a regular expression", {"format": "regex"})]
ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
EnvName = Annotated[str, Check(lambda v: v == "" or re.fullmatch(ENV_NAME, v) is not None,
                               "an environment variable name (letters, digits and '_', not first a digit)",
                               {"pattern": f"^({ENV_NAME})?$"})]   # '' : none named


def _http_url(value: str) -> bool | str:
    if re.match(r"https?://[^/\s]", value) is None:
        return False
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port                     # ValueError when not a number from 0 to 65535
    except ValueError as err:
        return f"not a URL ({err})"
    return bool(parts.hostname) and port != 0 or "not a URL (no host, or port 0)"


HOST_PORT = r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/]+):([0-9]{1,5})"


def _host_port(value: str) -> bool | str:
    found = re.fullmatch(HOST_PORT, value)
    return found is not None and (1 <= int(found.group(2)) <= 65535 or "the port is 1 to 65535")


def _or_none(check: Callable[[str], bool | str]) -> Callable[[str], bool | str]:
    return lambda value: value == "" or check(value)


HttpUrl = Annotated[str, Check(_http_url, "an http:// or https:// URL", {"pattern": r"^https?://[^/\s]"})]
HttpUrlOrNone = Annotated[str, Check(_or_none(_http_url), "an http:// or https:// URL, or '' for none",
                                     {"pattern": r"^(https?://[^/\s].*)?$"})]
HostPort = Annotated[str, Check(_host_port, "HOST:PORT (port 1-65535; [::1]:25 for IPv6)",
                                {"pattern": f"^{HOST_PORT}$"})]
HostPortOrNone = Annotated[str, Check(_or_none(_host_port), "HOST:PORT (port 1-65535; [::1]:25 for IPv6), "
                                      "or '' for none", {"pattern": f"^({HOST_PORT})?$"})]


def _committable(value: str) -> bool | str:
    """A secret file must not be one git would commit: outside the project, or ignored by it."""
    path = Path(os.path.expanduser(value)).resolve()
    if not path.is_relative_to(PROJECT):
        return True
    try:
        ignored = subprocess.run(["git", "-C", str(PROJECT), "check-ignore", "-q", "--", str(path)],
                                 capture_output=True, timeout=10).returncode
    except (OSError, subprocess.TimeoutExpired):
        return True     # no git to commit it with
    return ignored != 1 or ("a file inside the project that git does not ignore, so it could be committed: "
                            "keep secrets outside the repository or list the file in .gitignore")


SecretPath = Annotated[str, Check(_committable, "a secret file outside the repository", {})]
Name = Annotated[str, Check(name_ok, "a name of letters, digits, '.', '_' and '-' (it becomes a folder "
                            "name: no '/', no '..', at most 64 characters)", {"pattern": f"^{NAME_PATTERN}$"})]


def check_name(value: str, what: str) -> str:
    """`value` if it can be used as one folder name; else a UsageError naming `what`."""
    if not name_ok(value):
        raise UsageError(f"{value!r} is not a valid {what} name: use letters, digits, '.', '_' and '-' "
                         "(no '/', no '..', at most 64 characters)")
    return value


# --- reading YAML --------------------------------------------------------------------------------

MAX_EXPANDED_NODES = 100_000   # what aliases may expand to: a 1 KB file must not become billions of strings


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (plain YAML keeps the last), and
    aliases that expand to more than MAX_EXPANDED_NODES nodes (refused as they are read)."""

    def compose_document(self):
        self._expanded, self._sizes = 0, {}
        return super().compose_document()

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            node = self.anchors.get(self.peek_event().anchor)
            if node is not None:
                self._expanded += self._size(node)
                if self._expanded > MAX_EXPANDED_NODES:
                    raise yaml.composer.ComposerError(
                        None, None, f"its aliases expand to more than {MAX_EXPANDED_NODES} values",
                        self.peek_event().start_mark)
        return super().compose_node(parent, index)

    def _size(self, node) -> int:
        """Values under `node` once every alias in it is expanded (each shared node counted once per use)."""
        if id(node) not in self._sizes:
            children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else \
                node.value if isinstance(node, yaml.SequenceNode) else []
            self._sizes[id(node)] = 1 + sum(self._size(child) for child in children)
        return self._sizes[id(node)]

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"a key must be a string, got {_kind(key)}", key_node.start_mark) from None
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first given at line {first})", key_node.start_mark)
                seen[key] = line
        return super().construct_mapping(node, deep)


def load_yaml(path: Path) -> dict:
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(path, "", f"cannot read file ({err.strerror})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(path, "", f"{len(raw)} bytes; a configuration file is at most {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise ConfigError(path, "", f"not valid UTF-8: byte 0x{raw[err.start]:02x} at line {line}") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else text[:getattr(err, "position", 0)].count("\n") + 1
        at = f" at line {line}"
        problem = getattr(err, "problem", None) or getattr(err, "reason", None) or err
        raise ConfigError(path, "", f"not valid YAML{at}: {problem}") from None
    except RecursionError:
        raise ConfigError(path, "", "nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError(path, "", f"expected a mapping of keys at the top level, got {_kind(data)}")
    return data


def named_file(name_or_path: str, folder: Path, what: str) -> Path:
    """A YAML file given by path, or by name in `folder`; an unknown name lists the known ones."""
    path = Path(name_or_path)
    if not path.suffix:
        path = folder / f"{check_name(name_or_path, what)}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(path, "", f"no such {what} file; known {what}s: {', '.join(known)}")
    return path


# --- typed parsing ---------------------------------------------------------------------------------

def load(cls: type[T], path: Path) -> T:
    return parse(cls, load_yaml(path), path)


def parse(cls: type[T], data: Any, path: Path | str, key: str = "") -> T:
    """Build dataclass `cls` from `data`, checking unknown, missing, mistyped and out-of-range keys."""
    if not isinstance(data, dict):
        raise ConfigError(path, key, f"expected a mapping, got {_kind(data)}")
    _string_keys(data, path, key)
    hints = get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(path, _join(key, unknown[0]),
                          f"unknown key; expected one of: {', '.join(sorted(fields))}")
    values = {}
    for name, field in fields.items():
        sub = _join(key, name)
        if name in data:
            values[name] = _convert(hints[name], data[name], path, sub)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(path, sub, "required key is missing")
    return cls(**values)


def _convert(hint: Any, value: Any, path: Path | str, key: str) -> Any:
    origin = get_origin(hint)
    if origin is Annotated:
        inner, *extras = get_args(hint)
        chosen = _chosen_by(hint)
        value = _choose(chosen, value, path, key) if chosen else _convert(inner, value, path, key)
        for check in (extra for extra in extras if isinstance(extra, Check)):
            verdict = check.test(value) if value is not None else True
            if verdict is not True:
                problem = verdict if isinstance(verdict, str) else f"expected {check.expected}"
                raise ConfigError(path, key, f"{problem}, got {_show(value)}")
        return value
    if origin in (typing.Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        inner = [o for o in options if o is not type(None)]
        return _convert(inner[0], value, path, key)
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices or type(value) is bool:
            raise ConfigError(path, key, f"expected one of {', '.join(map(repr, choices))}, got {_show(value)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(path, key, f"expected a list, got {_kind(value)}")
        (item,) = get_args(hint)
        return [_convert(item, v, path, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, key, f"expected a mapping, got {_kind(value)}")
        _string_keys(value, path, key)
        _, item = get_args(hint)
        return {k: _convert(item, v, path, _join(key, k)) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return parse(hint, value, path, key)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(path, key, f"expected a finite number, got {_show(value)}")
        return float(value)
    if hint is Any or (isinstance(value, hint) and not (hint is int and isinstance(value, bool))):
        return value
    raise ConfigError(path, key, f"expected {_NAMES.get(hint, hint.__name__)}, got {_kind(value)} {_show(value)}")


def _choose(chosen: ChosenBy, data: Any, path: Path | str, key: str) -> Any:
    """Read a tagged-union section: its `chosen.key` picks the dataclass that reads the rest."""
    if not isinstance(data, dict):
        raise ConfigError(path, key, f"expected a mapping, got {_kind(data)}")
    _string_keys(data, path, key)
    table, tag = chosen.table(), _join(key, chosen.key)
    known = ", ".join(table)
    if chosen.key not in data and chosen.default is None:
        raise ConfigError(path, tag, f"required key is missing; one of: {known}")
    name = data.get(chosen.key, chosen.default)
    if not isinstance(name, str) or name not in table:
        raise ConfigError(path, tag, f"unknown {chosen.key} {_show(name)}; known: {known}")
    cls = table[name]
    rest = {k: v for k, v in data.items() if k != chosen.key}
    allowed = sorted([chosen.key, *(f.name for f in dataclasses.fields(cls) if f.init)])
    unknown = sorted(set(rest) - set(allowed))
    if unknown:
        raise ConfigError(path, _join(key, unknown[0]),
                          f"unknown key for {chosen.key} {name}; expected one of: {', '.join(allowed)}")
    return parse(cls, rest, path, key)


def _string_keys(data: dict, path: Path | str, key: str) -> None:
    for k in data:
        if not isinstance(k, str):
            raise ConfigError(path, _join(key, str(k)), f"a key must be a string, got {_kind(k)} "
                              "(quote it: YAML reads yes/no/on/off and numbers as other types)")


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing", bool: "a boolean",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


# --- JSON Schema -----------------------------------------------------------------------------------

def json_schema(cls: type, title: str) -> dict:
    """A JSON Schema (draft 2020-12) of dataclass `cls`, with the same types and constraints as parse()."""
    defs = _Defs()
    root = _schema_of(cls, defs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, **root,
            "$defs": dict(sorted(defs.items()))}


def _schema_of(hint: Any, defs: dict) -> dict:
    origin = get_origin(hint)
    if origin is Annotated:
        inner, *extras = get_args(hint)
        chosen = _chosen_by(hint)
        schema = _chosen_schema(inner, chosen, defs) if chosen else _schema_of(inner, defs)
        for check in (extra for extra in extras if isinstance(extra, Check)):
            schema.update(check.schema)
        return schema
    if origin in (typing.Union, types.UnionType):
        options = [o for o in get_args(hint) if o is not type(None)]
        return {"anyOf": [_schema_of(options[0], defs), {"type": "null"}]}
    if origin is Literal:
        return {"enum": list(get_args(hint))}
    if origin is list:
        return {"type": "array", "items": _schema_of(get_args(hint)[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema_of(get_args(hint)[1], defs)}
    if dataclasses.is_dataclass(hint):
        if hint.__name__ not in defs:
            defs[hint.__name__] = {}   # placeholder against recursion
            defs[hint.__name__] = _object_schema(hint, defs)
        return {"$ref": f"#/$defs/{hint.__name__}"}
    return {str: {"type": "string"}, int: {"type": "integer"}, float: {"type": "number"},
            bool: {"type": "boolean"}}.get(hint, {})


class _Defs(dict):
    """The $defs being built, and which ChosenBy made each tagged union's entry."""
    def __init__(self):
        super().__init__()
        self.unions: dict[int, str] = {}


def _chosen_schema(base: type, chosen: ChosenBy, defs: dict) -> dict:
    """A tagged union: `chosen.key` is one of the choices, and each choice's object applies when it is
    named (the default's also when the key is absent). Entries are named after their classes, with
    _2, _3... when a class is in more than one union."""
    unions = getattr(defs, "unions", {})
    if id(chosen) not in unions:
        unions[id(chosen)] = union = _free_name(defs, base.__name__)
        defs[union] = {}   # placeholder against recursion
        table, cases = chosen.table(), []
        for value, cls in table.items():
            tag = {chosen.key: {"const": value}}
            ref = _free_name(defs, cls.__name__)
            defs[ref] = {}
            obj = _object_schema(cls, defs)
            defs[ref] = {**obj, "properties": {**tag, **obj["properties"]}}
            when: dict = {"properties": tag}
            if value != chosen.default:
                when["required"] = [chosen.key]
            cases.append({"if": when, "then": {"$ref": f"#/$defs/{ref}"}})
        choice: dict = {"enum": list(table)}
        if chosen.default is not None:
            choice["default"] = chosen.default
        schema: dict = {"type": "object", "properties": {chosen.key: choice}, "allOf": cases}
        if chosen.default is None:
            schema["required"] = [chosen.key]
        if base.__doc__ and not base.__doc__.startswith(f"{base.__name__}("):
            schema["description"] = " ".join(base.__doc__.split())
        defs[union] = schema
    return {"$ref": f"#/$defs/{unions[id(chosen)]}"}


def _free_name(defs: dict, name: str) -> str:
    return next(n for n in (name, *(f"{name}_{i}" for i in range(2, 1000))) if n not in defs)


def _object_schema(cls: type, defs: dict) -> dict:
    hints = get_type_hints(cls, include_extras=True)
    props, required = {}, []
    for f in dataclasses.fields(cls):
        if not f.init or f.name == "source":
            continue
        props[f.name] = _schema_of(hints[f.name], defs)
        if f.default is not dataclasses.MISSING and isinstance(f.default, (str, int, float, bool, type(None))):
            props[f.name]["default"] = f.default
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    schema = {"type": "object", "properties": props, "additionalProperties": False}
    if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):
        schema["description"] = " ".join(cls.__doc__.split())
    # What the loader checks across keys, said to editors too: a class's SCHEMA_EXTRA.
    return {**schema, **({"required": required} if required else {}), **getattr(cls, "SCHEMA_EXTRA", {})}
