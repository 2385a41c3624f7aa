"""Board files are the truth: the labgrid exporter configuration of a lab host, and the places
and tags on the coordinator, are derived from them (`invoke fleet.export --host H`).

Network consoles (socket://, rfc2217://, served by ser2net) become NetworkSerialPort resources
the place matches, so locking the place acquires them on the exporter. A local tty is listed as
a RawSerialPort but not matched: acquiring it would make the exporter open the tty itself.
QEMU boards have no resources of their own; their place is what jobs hold. The board files
are read above (the command line) and handed in: the fleet reads a BoardSpec's `name`, `lab`,
`console` and `source` fields, and imports nothing of the board floor.
"""
from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from sisctl import config, paths
from sisctl.fleet.health import BOARD_FILE_TAG, health_tags
from sisctl.fleet.session import CoordinatorRefused, CoordinatorSession

if TYPE_CHECKING:
    from sisctl.board.spec import BoardSpec

TAG_KEY = re.compile(r"[a-z][a-z0-9_]+$")       # what labgrid's coordinator accepts as a tag key
OWN_TAGS = ("eligible", "host", "name", BOARD_FILE_TAG)


def boards_of_host(host: str, specs: list[BoardSpec]) -> list[BoardSpec]:
    return [spec for spec in specs if spec.lab and spec.lab.host == host]


def place_tags(spec: BoardSpec) -> dict[str, str]:
    """The board's own tags, its host, and its file's path when it is not in boards/ (the health
    check, given only the place, reads the board from there)."""
    for key in spec.lab.tags:
        if not TAG_KEY.match(key) or key.startswith(("lease_", "health")) or key in OWN_TAGS:
            raise config.ConfigError(spec.source, f"lab.tags.{key}", "a tag key is lower-case letters, digits and "
                                     "'_', starting with a letter, and not one sisctl keeps itself "
                                     f"({', '.join(OWN_TAGS)}, health*, lease_*)")
    source = Path(spec.source).resolve() if spec.source else None
    elsewhere = source and source.parent != paths.boards_dir().resolve()
    return {**spec.lab.tags, "host": spec.lab.host, **({BOARD_FILE_TAG: str(source)} if elsewhere else {})}


def console_resources(spec: BoardSpec) -> tuple[dict, list[str]]:
    """(exporter resources of the board's group, the resource classes its place matches)."""
    url = spec.console.url
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme in ("socket", "rfc2217"):
        serial = {"host": parsed.hostname, "port": parsed.port, "speed": spec.console.baudrate,
                  "protocol": "raw" if parsed.scheme == "socket" else "rfc2217"}
        return {"NetworkSerialPort": serial}, ["NetworkSerialPort"]
    if url.startswith("/dev/"):
        return {"RawSerialPort": {"port": url, "speed": spec.console.baudrate}}, []
    return {}, []


def exporter_config(specs: list[BoardSpec]) -> dict:
    return {spec.name: resources for spec in specs if (resources := console_resources(spec)[0])}


def write_exporter_config(host: str, specs: list[BoardSpec], target: Path | None = None) -> Path:
    target = target or paths.state_dir() / "labgrid" / f"exporter-{host}.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    # a Jinja2 template to the exporter: "#" starts a statement there, "##" a comment
    target.write_text(f"## labgrid exporter of lab host {host}, written by 'invoke fleet.export' from boards/*.yaml\n"
                      + yaml.safe_dump(exporter_config(specs), sort_keys=True))
    return target


def create_places(session: CoordinatorSession, host: str, specs: list[BoardSpec]) -> list[str]:
    """Create or update each board's place: tags, matches; a new place starts with health unknown."""
    existing = session.places()
    done = []
    for spec in specs:
        tags = place_tags(spec)
        place = existing.get(spec.name)
        if place is None:
            session.add_place(spec.name)
            tags.update(health_tags("unknown", "new in the fleet"))
        stale = {k: "" for k in (place.tags if place else {})
                 if k not in tags and not k.startswith(("lease_", "health", "jobs_")) and k != "eligible"}
        session.set_tags(spec.name, {**stale, **tags})
        for cls in console_resources(spec)[1]:
            pattern = f"{host}/{spec.name}/{cls}"
            if place is None or pattern not in place.matches:
                try:
                    session.add_match(spec.name, pattern)
                except CoordinatorRefused:
                    pass                    # locked right now: the match is added on the next export
        done.append(spec.name)
    return done
