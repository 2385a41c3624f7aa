"""Where sisctl keeps things: project files, the build cache, board state and reports."""
from __future__ import annotations

import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

PROJECT = Path(__file__).resolve().parent.parent


def shown(path: Path) -> str:
    """A path as messages give it: relative to the project when inside it."""
    path = Path(path)
    return str(path.relative_to(PROJECT)) if path.is_absolute() and path.is_relative_to(PROJECT) else str(path)


def cache_dir() -> Path:
    """Build cache (downloads, kernels, guest images); shared by all checkouts of a machine."""
    base = os.environ.get("SISCTL_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sisctl"
    return Path(base)


def state_dir() -> Path:
    """Board state: which artifact is flashed, VM snapshots, locks."""
    base = os.environ.get("SISCTL_STATE") or Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local/state")) / "sisctl"
    return Path(base)


def reports_dir() -> Path:
    return Path(os.environ.get("SISCTL_REPORTS") or PROJECT / "reports")


def boards_dir() -> Path:
    return PROJECT / "boards"


def recipes_dir() -> Path:
    return PROJECT / "firmware" / "recipes"


def unique_dir(parent: Path, name: str) -> Path:
    """Create and return parent/name, or parent/name-N if that exists already."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        path = parent / (name if n == 0 else f"{name}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{parent / name}: too many folders of that name")


def partial_path(path: Path) -> Path:
    """Where this process and thread write `path` before renaming it into place: two writers of the
    same cached file (two campaigns starting at once) never share one."""
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.partial")


@contextmanager
def written_into_place(path: Path) -> Iterator[Path]:
    """The partial path to write `path` at: renamed into place when the block ends, removed (file or
    folder) if it fails, so a failed write leaves neither a torn `path` nor a partial behind."""
    partial = partial_path(path)
    try:
        yield partial
        partial.replace(path)   # inside: a target that cannot be replaced (a folder) leaves no partial either
    except BaseException:
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)
        raise


def stale_partials(path: Path) -> list[Path]:
    """The partial files of `path` whose writer process is gone (killed mid-write)."""
    stale = []
    for partial in path.parent.glob(f".{path.name}.*.partial"):
        pid = partial.name[len(path.name) + 2:].partition("-")[0]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            stale.append(partial)
        except (ValueError, PermissionError):
            pass
    return stale


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` so a crash leaves the old or the new content, never a torn file."""
    with written_into_place(path) as partial, open(partial, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def set_aside(path: Path) -> Path:
    """Move a damaged state file out of the way (kept once, for a look), returning where it went."""
    damaged = path.with_name(path.name + ".damaged")
    os.replace(path, damaged)
    return damaged
