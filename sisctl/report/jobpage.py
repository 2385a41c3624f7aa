"""A job's page from its summary.json: verdict, provenance, the files next to it, a Grafana link,
then the sections the job adds. Used by the campaign core (every kind, every outcome) and smoke."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

from sisctl.report.page import Details, Link, Page, Paragraph, Section, write_page

# files a job folder may hold, linked from the page header when present
JOB_FILES = ("summary.json", "junit.xml", "records.jsonl", "campaign.json")


def write_job_page(out: Path, summary: dict, sections: Callable[[], list[Section]] | list[Section] = (),
                   grafana: tuple[str, str] | None = None, links: list[Link] = ()) -> Path:
    """reports/<id>/index.html. `sections` may be a callable: a page is written even when it fails
    (the page then says why), so a reporting bug never hides a verdict. `grafana`: (url, board uid);
    `links`: more links for the header (relative to `out`)."""
    body = list(sections) if not callable(sections) else _sections_or_problem(sections)
    if "\n" in summary.get("problem", ""):    # e.g. a kernel crash with the console's last lines
        body.insert(0, Details("What went wrong", summary["problem"], open=True))
    kind = summary.get("kind", "job")
    page = Page(title=f"{kind} on {summary.get('board', '?')}: {out.name}",
                status=summary.get("status", ""), reason=summary.get("reason", ""),
                headline=summary.get("headline", ""),
                provenance={**summary.get("provenance", {}), **booted_lines(summary.get("booted") or {}),
                            **({"seed": summary["seed"]} if "seed" in summary else {})},
                links=_links(out, summary, grafana) + list(links), sections=body)
    return write_page(out, page)


def booted_lines(booted: dict) -> dict:
    """The kernels a job booted itself (not the board's flashed one): a KTAP --kernel, a
    benchmark's baseline and candidate."""
    def line(k: dict) -> str:
        return f"{k.get('variant', '')} {k.get('kernel_version') or '?'} (build id {str(k.get('build_id'))[:12]})".strip()
    if "sides" in booted:
        return {f"{side} kernel": line(k) for side, k in booted["sides"].items()}
    return {"booted kernel": line(booted)} if booted else {}


def _sections_or_problem(build: Callable[[], list[Section]]) -> list[Section]:
    try:
        return list(build())
    except Exception as err:   # noqa: BLE001 - a page with the problem beats no page
        return [Paragraph(f"This page is incomplete: building its sections failed ({type(err).__name__}: {err}). "
                          "summary.json and junit.xml hold the full result.")]


def _links(out: Path, summary: dict, grafana: tuple[str, str] | None) -> list[Link]:
    links = [Link("all reports", "../index.html")]
    links += [Link(name, name) for name in JOB_FILES if (out / name).exists()]
    if grafana and grafana[0]:
        links.append(Link("Grafana", grafana_url(grafana[0], grafana[1], summary)))
    return links


def grafana_url(base: str, board_uid: str, summary: dict) -> str:
    """The campaign-results board for this job: its board, over the time it ran (with a minute either side)."""
    finished = summary.get("finished_epoch") or time.time()
    started = finished - float(summary.get("elapsed_s") or 0)
    query = urlencode({"var-board": summary.get("board", ".*"), "from": int((started - 60) * 1000),
                       "to": int((finished + 60) * 1000)})
    return f"{base.rstrip('/')}/d/{board_uid}?{query}"


def text_excerpt(path: Path, lines: int = 60) -> str:
    """The last lines of a text file (a console log), or why there is none."""
    try:
        text = path.read_text(errors="replace")
    except OSError as err:
        return f"({path.name}: {err.strerror})"
    return "\n".join(text.splitlines()[-lines:])


def console_details(path: Path, title: str = "Console excerpt", lines: int = 60) -> Details:
    return Details(f"{title} (last {lines} lines of {path.name})", text_excerpt(path, lines))
