"""First use of a board: flash it instead of failing with "run invoke flash first"."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from sisctl.board.board import Board, FlashRecord
from sisctl.build.artifact import Artifact
from sisctl.board.errors import BoardError
from sisctl.build.builder import build
from sisctl.build.recipe import find_recipe
from sisctl.image.guest import agent_digest


def kernel_for(board: Board, recipe: str = "", progress: Callable[[str], None] = print) -> Artifact | None:
    """The kernel to flash on `board` (`recipe`, else its default), built; None for a board that
    runs its installed kernel (boot method installed)."""
    if not board.stages_kernel:
        return None
    return build(find_recipe(recipe or board.spec.recipe), progress=progress)


def ensure_flashed(board: Board, progress: Callable[[str], None] = print) -> FlashRecord:
    """What the board has flashed. A board never flashed gets its default recipe; one whose guest
    image holds an older agent gets the same kernel again with the current agent. Either says so."""
    path = board.state / "flashed.json"
    if not path.exists():
        progress(f"{board.name}: nothing flashed yet; flashing its default recipe {board.spec.recipe!r} first")
        board.flash(kernel_for(board, progress=progress), progress=progress)
    else:
        record = _record(board, path)
        if record.agent != agent_digest():
            progress(f"{board.name}: the flashed guest image holds an older agent; flashing "
                     f"{record.kernel_version or record.artifact} again with the current one")
            board.flash(record.load_artifact() if board.stages_kernel else None, progress=progress)
    return board.flashed()


def _record(board: Board, path: Path) -> FlashRecord:
    try:
        return FlashRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as err:
        raise BoardError(board.name, f"{path}: not a readable flash record ({err}); "
                         f"run 'invoke flash --board {board.name}'") from None
