"""reports/index.html: every job under the reports folder, newest first, from each summary.json."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from sisctl.jsonfile import read_json
from sisctl.report.page import Badge, Link, Page, Table, write_page


@dataclass
class Entry:
    id: str
    finished: float           # epoch seconds
    kind: str
    board: str
    kernel: str
    status: str
    headline: str
    href: str


def collect(reports: Path) -> list[Entry]:
    entries = [_entry(path) for path in reports.glob("*/summary.json")]
    return sorted(entries, key=lambda e: (e.finished, e.id), reverse=True)


def _entry(path: Path) -> Entry:
    folder = path.parent
    href = f"{folder.name}/index.html" if (folder / "index.html").exists() else f"{folder.name}/summary.json"
    try:
        data = read_json(path)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        return Entry(folder.name, path.stat().st_mtime, "?", "?", "?", "error",
                     f"summary.json unreadable: {err}", href)
    origin = data.get("provenance")
    origin = origin if isinstance(origin, dict) else {}
    return Entry(folder.name, _finished(data, path), str(data.get("kind") or folder.name.split("-")[0]),
                 str(data.get("board", "?")), str(origin.get("kernel_version") or "?"), _status(data),
                 str(data.get("headline") or ""), href)


def _finished(data: dict, path: Path) -> float:
    """When the run ended; the file's time when a damaged or hand-made summary does not say."""
    try:
        finished = float(data.get("finished_epoch") or math.nan)
    except (TypeError, ValueError):
        finished = math.nan
    return finished if math.isfinite(finished) else path.stat().st_mtime


def _status(data: dict) -> str:
    """A summary's verdict; summaries written before they carried one are judged by their counts."""
    if data.get("status"):
        return str(data["status"])
    if "failed" in data and "passed" in data:
        return "failed" if data["failed"] else "passed" if data["passed"] else "error"
    return "error"


def index_page(entries: list[Entry]) -> Page:
    counts = {s: sum(e.status == s for e in entries) for s in ("passed", "failed", "error", "aborted")}
    headline = f"{len(entries)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    rows = [[time.strftime("%Y-%m-%d %H:%M", time.gmtime(e.finished)), e.kind, e.board, e.kernel,
             Badge(e.status), e.headline, Link(e.id, e.href)] for e in entries]
    table = Table("Runs, newest first", ["finished (UTC)", "kind", "board", "kernel", "verdict", "key figure",
                                          "report"], rows)
    return Page("sisctl reports", headline=headline if entries else "no runs yet", sections=[table])


def write_index(reports: Path) -> Path:
    reports.mkdir(parents=True, exist_ok=True)
    return write_page(reports, index_page(collect(reports)))
