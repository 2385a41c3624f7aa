"""Boards as jobs take them: by name or file, or `tag:KEY=VALUE[,...]` for any healthy board of the
fleet with those tags; held through the lab's coordinator when there is one, their health check
run first when it is due."""
from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from sisctl.board.board import Board
from sisctl.board.spec import BoardSpec, find_board
from sisctl.jobs.healthcheck import check_board

# sisctl.fleet.claims is imported where a board is taken: labgrid's client costs a third of a second
# at every start of the command line, and a command refused for bad input takes no board.


def fleet_hold(name: str) -> AbstractContextManager:
    """The hold a job's Board is given: through the coordinator, once per process."""
    from sisctl.fleet import claims
    return claims.held(name, health_check=check_board)


def board_name(text: str) -> str:
    """The board `text` names; a tag selection takes (and holds until this process ends) a board."""
    if not text.startswith("tag:"):
        return text
    from sisctl.fleet import claims
    return claims.select_board(text[4:], health_check=check_board)


def board_spec(text: str) -> BoardSpec:
    return find_board(board_name(text))


def fleet_board(spec: BoardSpec, reports: Path | None = None) -> Board:
    """The Board a job uses: its every flash and session held through the fleet."""
    return Board(spec, reports=reports, hold=fleet_hold)


def held_board(text: str, reports: Path | None = None) -> Board:
    return fleet_board(board_spec(text), reports)
