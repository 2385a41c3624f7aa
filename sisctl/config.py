"""Load YAML into typed dataclasses; every error names the file, the key and what was expected."""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import yaml

from sisctl.errors import UsageError

T = TypeVar("T")


class ConfigError(UsageError):
    """A configuration file is unreadable or does not match its schema."""

    def __init__(self, path: Path | str, key: str, problem: str):
        self.path, self.key, self.problem = str(path), key, problem
        where = f"{path}: key '{key}'" if key else str(path)
        super().__init__(f"{where}: {problem}")


def load_yaml(path: Path) -> dict:
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(path, "", f"cannot read file ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(path, "", f"not valid YAML{at}: {getattr(err, 'problem', err)}") from None
    if not isinstance(data, dict):
        raise ConfigError(path, "", "expected a mapping of keys at the top level")
    return data


def named_file(name_or_path: str, folder: Path, what: str) -> Path:
    """A YAML file given by path, or by name in `folder`; an unknown name lists the known ones."""
    path = Path(name_or_path)
    if not path.suffix:
        path = folder / f"{name_or_path}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(path, "", f"no such {what}; known {what}s: {', '.join(known)}")
    return path


def load(cls: type[T], path: Path) -> T:
    return parse(cls, load_yaml(path), path)


def parse(cls: type[T], data: Any, path: Path | str, key: str = "") -> T:
    """Build dataclass `cls` from `data`, checking unknown, missing and mistyped keys."""
    if not isinstance(data, dict):
        raise ConfigError(path, key, f"expected a mapping, got {_kind(data)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
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
    if origin in (typing.Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        inner = [o for o in options if o is not type(None)]
        return _convert(inner[0], value, path, key)
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise ConfigError(path, key, f"expected one of {', '.join(map(repr, choices))}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(path, key, f"expected a list, got {_kind(value)}")
        (item,) = get_args(hint)
        return [_convert(item, v, path, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, key, f"expected a mapping, got {_kind(value)}")
        _, item = get_args(hint)
        return {str(k): _convert(item, v, path, _join(key, str(k))) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return parse(hint, value, path, key)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is Any or (isinstance(value, hint) and not (hint is int and isinstance(value, bool))):
        return value
    raise ConfigError(path, key, f"expected {hint.__name__}, got {_kind(value)} {value!r}")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), type(value).__name__)
