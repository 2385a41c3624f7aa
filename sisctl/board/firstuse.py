"""First use of a board: flash it instead of failing with "run invoke flash first"."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from sisctl.board.board import Board, FlashRecord
from sisctl.board.errors import BoardError
from sisctl.build.builder import build
from sisctl.build.recipe import find_recipe
from sisctl.image.guest import agent_digest


def ensure_flashed(board: Board, progress: Callable[[str], None] = print) -> FlashRecord:
    """What the board has flashed. A board never flashed gets its default recipe; one whose guest
    image holds an older agent gets the same kernel again with the current agent. Either says so."""
    path = board.state / "flashed.json"
    if not path.exists():
        progress(f"{board.name}: nothing flashed yet; flashing its default recipe {board.spec.recipe!r} first")
        board.flash(build(find_recipe(board.spec.recipe), progress=progress), progress=progress)
    else:
        record = _record(board, path)
        if record.agent != agent_digest():
            progress(f"{board.name}: the flashed guest image holds an older agent; flashing "
                     f"{record.kernel_version or record.artifact} again with the current one")
            board.flash(record.load_artifact(), progress=progress)
    return board.flashed()


def _record(board: Board, path: Path) -> FlashRecord:
    try:
        return FlashRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as err:
        raise BoardError(board.name, f"{path}: not a readable flash record ({err}); "
                         f"run 'invoke flash --board {board.name}'") from None
