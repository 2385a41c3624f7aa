"""The config loader's rules beyond types, and the published JSON Schema of board files."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated

import jsonschema
import pytest
import yaml

from sisctl import config, paths
from sisctl.board.spec import BoardSpec, load_board, write_schema
from sisctl.config import ChosenBy, ConfigError, Name, Regex, Seconds, default_choice
from sisctl.errors import UsageError
from tests.malformed.test_corpus import BOARDS as MALFORMED_BOARDS

# Rules that need more than one key, the file's name or the QEMU binary: not expressible in the schema.
BEYOND_SCHEMA = {"name-mismatch", "memory-over-host", "machine-unknown", "cpu-unknown", "binary-missing",
                 "binary-bad-path", "console-url-on-qemu", "uboot-without-firmware", "real-board-no-console",
                 "real-board-qmp-power", "pi-without-pi", "cpu-unknown-with-options", "pi-qmp-power",
                 "uefi-real-board", "uefi-with-firmware", "uefi-code-missing", "pi-with-qemu", "pi-config-line-newline",
                 "nested-non-string-key", "binary-not-qemu", "smp-past-the-machine", "extra-arg-unknown-option",
                 "console-scheme-unknown", "console-no-port", "console-socket-no-port", "power-url-bad-port",
                 "power-url-port-text", "power-url-bad-ipv6",
                 "ready-timeout-nan", "crash-grace-nan", "pi-back-timeout-nan",   # JSON has no NaN
                 "data-link-no-prefix", "data-link-off-qemu-net",
                 "target-prompt-empty", "target-secret-both", "target-shell-no-image", "installed-qemu",
                 "installed-agent-target", "uboot-bootefi-gzip"}


@dataclass
class Timed:
    name: Name
    timeout_s: Seconds = 1.0
    patterns: list[Regex] = field(default_factory=list)


@pytest.mark.parametrize("data, key, words", [
    ({"name": "../x"}, "name", "a name of letters"),
    ({"name": ".."}, "name", "a name of letters"),
    ({"name": "a" * 65}, "name", "at most 64"),
    ({"name": "x", "timeout_s": 0}, "timeout_s", "expected seconds > 0"),
    ({"name": "x", "timeout_s": -1.5}, "timeout_s", "expected seconds > 0"),
    ({"name": "x", "timeout_s": float("nan")}, "timeout_s", "finite"),
    ({"name": "x", "timeout_s": float("inf")}, "timeout_s", "finite"),
    ({"name": "x", "patterns": ["ok", "(("]}, "patterns[1]", "not a valid regular expression"),
    ({"name": "x", 3: "y"}, "3", "a key must be a string"),
])
def test_constraints_name_the_key(data, key, words):
    with pytest.raises(ConfigError) as caught:
        config.parse(Timed, data, "f.yaml")
    assert caught.value.key == key and words in str(caught.value)


def test_good_values_pass():
    timed = config.parse(Timed, {"name": "a-b_c.1", "timeout_s": 2, "patterns": ["(?i)warn"]}, "f.yaml")
    assert timed.timeout_s == 2.0 and isinstance(timed.timeout_s, float)


def test_duplicate_keys_are_refused_at_any_depth(tmp_path):
    f = tmp_path / "d.yaml"
    for text, key in [("a: 1\nb: 2\na: 3\n", "a"), ("a: {x: 1, y: 2, x: 1}\n", "x"),
                      ("l: [{k: 1}, {k: 2, k: 3}]\n", "k")]:
        f.write_text(text)
        with pytest.raises(ConfigError, match=f"duplicate key '{key}'"):
            config.load_yaml(f)
    f.write_text("base: &b {x: 1}\nmore: {<<: *b, y: 2}\n")     # a merge is not a duplicate
    assert config.load_yaml(f)["more"] == {"x": 1, "y": 2}
    assert yaml.safe_load("a: 1\na: 2\n") == {"a": 2}, "plain PyYAML keeps the last: the case this guards"


def test_unreadable_and_oversized_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read file"):
        config.load_yaml(tmp_path / "missing.yaml")
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * (config.MAX_FILE_BYTES + 1))
    with pytest.raises(ConfigError, match="at most"):
        config.load_yaml(big)


def test_names_given_on_the_command_line_stay_in_their_folder():
    for bad in ("../../etc/passwd", "..", "a/b", ""):
        with pytest.raises(UsageError, match="not a valid board name"):
            config.named_file(bad, paths.boards_dir(), "board")
    assert config.named_file("qemu-virt-0", paths.boards_dir(), "board").parent == paths.boards_dir()


def test_published_schema_is_current(tmp_path):
    fresh = write_schema(tmp_path / "board.schema.json")
    shipped = paths.boards_dir() / "board.schema.json"
    assert shipped.read_text() == fresh.read_text(), \
        "boards/board.schema.json is stale: python -c 'from sisctl.board.spec import write_schema; write_schema()'"


def _validator():
    schema = json.loads((paths.boards_dir() / "board.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_schema_accepts_every_shipped_board():
    for path in sorted(paths.boards_dir().glob("*.yaml")):
        load_board(path)
        errors = list(_validator().iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, f"{path.name}: {errors[0].message}"


@pytest.mark.parametrize("path", [p for p in MALFORMED_BOARDS if p.stem not in BEYOND_SCHEMA],
                         ids=lambda p: p.stem)
def test_schema_rejects_what_the_loader_rejects(path):
    try:
        data = config.load_yaml(path)
    except ConfigError:
        return            # not YAML at all: editors say so themselves
    assert not _validator().is_valid(data)


def test_schema_describes_the_board_dataclass():
    schema = json.loads((paths.boards_dir() / "board.schema.json").read_text())
    props = schema["$defs"]["BoardSpec"]["properties"]
    assert set(props) == {f for f in BoardSpec.__dataclass_fields__ if f != "source"}
    assert schema["$defs"]["QemuSpec"]["properties"]["smp"]["minimum"] == 1


# --- tagged unions: a key's value picks the dataclass ---------------------------------------------

@dataclass(kw_only=True)
class Shape:
    @property
    def kind(self) -> str:
        return SHAPE.name_of(type(self))


@dataclass(kw_only=True)
class Circle(Shape):
    radius: Seconds


@dataclass(kw_only=True)
class Dot(Shape):
    """A point: no size."""


SHAPE = ChosenBy("kind", {"circle": Circle, "dot": Dot})
ShapeSpec = Annotated[Shape, SHAPE]
Background = Annotated[Shape, ChosenBy("kind", lambda: {"dot": Dot, "circle": Circle}, default="dot")]


@dataclass
class Drawing:
    shape: ShapeSpec
    background: Background = field(default_factory=default_choice(Background))


def test_the_key_picks_the_dataclass():
    drawing = config.parse(Drawing, {"shape": {"kind": "circle", "radius": 2}, "background": {}}, "d.yaml")
    assert drawing.shape == Circle(radius=2.0) and drawing.shape.kind == "circle"
    assert drawing.background == Dot() and Drawing(shape=Dot()).background == Dot()


@pytest.mark.parametrize("data, key, words", [
    ({"shape": {"radius": 2}}, "shape.kind", "required key is missing; one of: circle, dot"),
    ({"shape": {"kind": "square"}}, "shape.kind", "unknown kind 'square'; known: circle, dot"),
    ({"shape": {"kind": ["circle"]}}, "shape.kind", "unknown kind ['circle']; known: circle, dot"),
    ({"shape": {"kind": "circle"}}, "shape.radius", "required key is missing"),
    ({"shape": {"kind": "circle", "radius": 0}}, "shape.radius", "expected seconds > 0"),
    ({"shape": {"kind": "dot", "radius": 1}}, "shape.radius", "unknown key for kind dot; expected one of: kind"),
    ({"shape": "circle"}, "shape", "expected a mapping, got a string"),
    ({"shape": {"kind": "dot"}, "background": {"kind": "circle"}}, "background.radius", "required key is missing"),
])
def test_a_tagged_union_names_the_key(data, key, words):
    with pytest.raises(ConfigError) as caught:
        config.parse(Drawing, data, "d.yaml")
    assert caught.value.key == key and words in str(caught.value)


def test_a_tagged_union_in_the_schema():
    schema = config.json_schema(Drawing, "drawing")
    shape, background = schema["$defs"]["Shape"], schema["$defs"]["Shape_2"]    # one base, two unions
    assert shape["properties"]["kind"] == {"enum": ["circle", "dot"]} and shape["required"] == ["kind"]
    assert background["properties"]["kind"] == {"enum": ["dot", "circle"], "default": "dot"}
    assert schema["$defs"]["Circle"]["properties"]["kind"] == {"const": "circle"}
    assert schema["$defs"]["Circle"]["required"] == ["radius"] and schema["$defs"]["Dot"]["description"]
    check = jsonschema.Draft202012Validator(schema)
    assert check.is_valid({"shape": {"kind": "circle", "radius": 1}})
    assert check.is_valid({"shape": {"kind": "dot"}, "background": {}})       # the default choice
    for wrong in ({"shape": {"radius": 1}}, {"shape": {"kind": "circle"}}, {"shape": {"kind": "square"}},
                  {"shape": {"kind": "dot", "radius": 1}}, {"shape": {"kind": "dot"}, "background": {"radius": 1}}):
        assert not check.is_valid(wrong), wrong


def test_an_alias_bomb_is_refused_as_it_is_read(tmp_path):
    """Nine levels of nine aliases: 1 KB that would expand into 387 million strings."""
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="aliases expand to more than 100000 values") as caught:
        config.load_yaml(path)
    assert len(str(caught.value)) < 300
    small = tmp_path / "small.yaml"
    small.write_text("base: &b {x: 1}\none: *b\ntwo: *b\n")   # ordinary reuse still reads
    assert config.load_yaml(small)["two"] == {"x": 1}
