"""Which boards a sharded campaign runs on: `--boards` as a comma list of board names, or
`tag:KEY=VALUE[,KEY=VALUE...]` for every board of the fleet with those tags that takes jobs."""
from __future__ import annotations

from sisctl.board.errors import BoardError
from sisctl.board.spec import find_board
from sisctl.errors import UsageError
from sisctl.fleet.claims import parse_tags, required
from sisctl.fleet.holder import this_process
from sisctl.fleet.health import TAKES_JOBS, health_of
from sisctl.fleet.session import CoordinatorSession, Place


def resolve_boards(text: str) -> list[str]:
    """Board names in shard order; bad input (an unknown board, a name twice) is a usage error."""
    text = text.strip()
    if text.startswith("tag:"):
        return tagged_boards(text[4:])
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UsageError("--boards: give board names separated by commas, or tag:KEY=VALUE[,KEY=VALUE...]")
    for name in names:
        if name.startswith("tag:"):
            raise UsageError(f"--boards {text}: a tag selection stands alone (tag:KEY=VALUE,KEY=VALUE), "
                             "not in a list of names")
        if names.count(name) > 1:
            raise UsageError(f"--boards {text}: board {name!r} is named twice")
    return [find_board(name).name for name in names]


def tagged_boards(tag_text: str) -> list[str]:
    """Every place on the coordinator with these tags whose health takes jobs, sorted by name."""
    tags = parse_tags(tag_text, "--boards")
    spec, address = required(f"--boards tag:{tag_text}")
    holder = this_process()
    with CoordinatorSession(address, f"{holder.host}/sisctl-list-{holder.pid}", spec.connect_timeout_s) as session:
        places = session.places()
    return matching(places, tags, tag_text)


def matching(places: dict[str, Place], tags: dict[str, str], tag_text: str) -> list[str]:
    tagged = [p for p in places.values() if all(p.tags.get(k) == v for k, v in tags.items())]
    if not tagged:
        raise UsageError(f"--boards tag:{tag_text}: no board on the coordinator has these tags")
    names = sorted(p.name for p in tagged if health_of(p.tags) in TAKES_JOBS)
    if not names:
        raise BoardError(tagged[0].name if len(tagged) == 1 else f"tag:{tag_text}",
                         "no board with these tags takes jobs: " + ", ".join(
                             f"{p.name} ({health_of(p.tags)})" for p in sorted(tagged, key=lambda p: p.name)))
    return names
