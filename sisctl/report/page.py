"""One job's HTML page: the verdict at the top, provenance, then sections. Self-contained and offline:
an inline stylesheet, plots as inline SVG, no script, no network. Every text is escaped.

Usage (a campaign kind adds its sections; the core writes the page for every outcome):

    from sisctl.report.page import Badge, Details, Figure, Group, Link, Paragraph, Section, Table
    from sisctl.report import plots

    class MyKind:
        def page_sections(self, summary: dict, records: list[dict]) -> list[Section]:
            return [Paragraph("What this campaign does, in a sentence."),
                    Table("Results", ["target", "runs", "log"], [["x", 3, Link("console", "runs/x.log")]]),
                    Figure("Runs by outcome", plots.bars({"ok": 3, "crash": 1}, ylabel="runs")),
                    Details("Console excerpt", "...text...")]

Cells may be str, numbers, None (shown as "-"), Link(text, href) or Badge("violation") (a coloured
outcome); hrefs are relative to the job's folder (reports/<id>/). Table(title, [], rows) is a table of
facts (name, value). Group(title, sections, anchor) boxes one item (a failing case) and can be linked
as "#anchor". A Figure takes a matplotlib Figure (make them with sisctl.report.plots) and keeps only
its SVG. Jobs outside the campaign core: sisctl.report.jobpage.write_job_page(folder, summary, sections).
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Union

from matplotlib.figure import Figure as MplFigure

VERDICTS = ("passed", "failed", "error", "aborted")

# provenance keys shown in the header, in this order, with their labels; others follow as they are
PROVENANCE_LABELS = {"kernel_version": "kernel", "kernel_sha256": "sha256", "build_id": "build-id",
                     "board": "board", "firmware": "firmware", "sisctl_version": "sisctl", "seed": "seed"}


@dataclass(frozen=True)
class Link:
    text: str
    href: str


@dataclass(frozen=True)
class Badge:
    """A verdict or outcome in a table cell, coloured by its meaning (passed, failed, error, aborted, ...)."""
    text: str
    status: str = ""            # colour class; the text when not given


Cell = Union[str, int, float, Link, Badge, None]


@dataclass
class Paragraph:
    text: str


@dataclass
class Table:
    """Rows under headers; with no headers, a table of facts: a name and its value per row."""
    title: str
    headers: list[str]
    rows: list[list[Cell]]
    note: str = ""                  # a line under the table, e.g. "first 50 of 812"


@dataclass
class Details:
    """Pre-formatted text (e2fsck output, a console excerpt), folded away until clicked."""
    title: str
    text: str
    open: bool = False


@dataclass
class Figure:
    """A plot, kept as inline SVG; the matplotlib figure itself is not kept."""
    title: str
    svg: str
    caption: str = ""

    def __init__(self, title: str, figure: MplFigure | str, caption: str = ""):
        self.title, self.caption = title, caption
        self.svg = figure if isinstance(figure, str) else svg_of(figure)


@dataclass
class Group:
    """A titled block of sections (e.g. one failing state with its tables and details)."""
    title: str
    sections: list["Section"]
    anchor: str = ""                # id for links to it ("#state-3"); letters, digits and '-'


Section = Union[Paragraph, Table, Details, Figure, Group]


@dataclass
class Page:
    title: str
    status: str = ""                              # passed | failed | error | aborted; "" = no verdict box
    reason: str = ""                              # why, when not passed
    headline: str = ""                            # "258 crash states, 0 failed"
    provenance: dict = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)   # summary.json, junit.xml, a Grafana board, ...
    sections: list[Section] = field(default_factory=list)


def svg_of(figure: MplFigure) -> str:
    """The figure as an <svg> element for inlining (no XML prolog); the stylesheet shrinks it to the page."""
    buf = io.StringIO()
    figure.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg"):].replace("<svg", '<svg class="plot"', 1)


def write_page(folder: Path, page: Page) -> Path:
    path = folder / "index.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(page), encoding="utf-8")
    tmp.replace(path)
    return path


def render(page: Page) -> str:
    status = page.status if page.status in VERDICTS else "error"
    title = f"{page.title} — {status}" if page.status else page.title
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
             f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
             "<header>",
             f"<h1>{escape(page.title)}</h1>"]
    if page.status:
        parts.append(f"<p class=\"verdict {status}\"><span class=\"badge\">{escape(status)}</span>"
                     + (f" {escape(page.headline)}" if page.headline else "")
                     + (f"<br><span class=\"reason\">{escape(page.reason)}</span>" if page.reason else "") + "</p>")
    elif page.headline:
        parts.append(f"<p>{escape(page.headline)}</p>")
    if page.provenance:
        parts.append(_provenance(page.provenance))
    if page.links:
        parts.append("<nav>" + " · ".join(_link(link) for link in page.links) + "</nav>")
    parts.append("</header><main>")
    parts += [_section(s, 2) for s in page.sections]
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _provenance(origin: dict) -> str:
    keys = [k for k in PROVENANCE_LABELS if k in origin] + [k for k in origin if k not in PROVENANCE_LABELS]
    rows = "".join(f"<tr><th>{escape(PROVENANCE_LABELS.get(k, k))}</th><td><code>{escape(str(origin[k]))}"
                   f"</code></td></tr>" for k in keys)
    return f"<table class=\"provenance\">{rows}</table>"


def _section(section: Section, level: int) -> str:
    if isinstance(section, Paragraph):
        return f"<p>{escape(section.text)}</p>"
    if isinstance(section, Table):
        note = f"<p class=\"note\">{escape(section.note)}</p>" if section.note else ""
        if section.headers:
            head = "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in section.headers) + "</tr></thead>"
            body = "".join("<tr>" + "".join(f"<td{_align(c)}>{_cell(c)}</td>" for c in row) + "</tr>"
                           for row in section.rows)
            table = f"<table class=\"data\">{head}<tbody>{body}</tbody></table>"
        else:
            body = "".join(f"<tr><th>{_cell(row[0])}</th>" + "".join(f"<td>{_cell(c)}</td>" for c in row[1:])
                           + "</tr>" for row in section.rows if row)
            table = f"<table class=\"facts\"><tbody>{body}</tbody></table>"
        return f"<section><h{level}>{escape(section.title)}</h{level}>{table}{note}</section>"
    if isinstance(section, Details):
        return (f"<details{' open' if section.open else ''}><summary>{escape(section.title)}</summary>"
                f"<pre>{escape(section.text)}</pre></details>")
    if isinstance(section, Figure):
        caption = f"<figcaption>{escape(section.caption)}</figcaption>" if section.caption else ""
        return (f"<section><h{level}>{escape(section.title)}</h{level}>"
                f"<figure>{section.svg}{caption}</figure></section>")
    if isinstance(section, Group):
        inner = "".join(_section(s, min(level + 1, 6)) for s in section.sections)
        anchor = re.sub(r"[^A-Za-z0-9-]", "-", section.anchor)
        ident = f" id=\"{anchor}\"" if anchor else ""
        return f"<section class=\"group\"{ident}><h{level}>{escape(section.title)}</h{level}>{inner}</section>"
    raise TypeError(f"not a page section: {section!r}")


def _cell(cell: Cell) -> str:
    if cell is None:
        return "-"
    if isinstance(cell, Link):
        return _link(cell)
    if isinstance(cell, Badge):
        colour = re.sub(r"[^a-z0-9-]", "", (cell.status or cell.text).lower())
        return f"<span class=\"badge {colour}\">{escape(cell.text)}</span>"
    if isinstance(cell, float):
        return escape(f"{cell:g}")
    return escape(str(cell))


def _align(cell: Cell) -> str:
    return " class=\"num\"" if isinstance(cell, (int, float)) and not isinstance(cell, bool) else ""


def _link(link: Link) -> str:
    return f"<a href=\"{escape(link.href, quote=True)}\">{escape(link.text)}</a>"


STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;
 padding:1.2em 1.5em 3em;color:#1d2330;background:#fff}
h1{font-size:1.6em;margin:.2em 0 .4em}h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid #dde2ea}
h3{font-size:1.08em;margin:1.2em 0 .4em}
.verdict{font-size:1.1em;padding:.6em .9em;border-radius:6px;border-left:6px solid;margin:.4em 0 1em}
.verdict .badge{display:inline-block;font-weight:700;text-transform:uppercase;letter-spacing:.04em;
 padding:.05em .55em;border-radius:4px;color:#fff;margin-right:.4em}
.passed{background:#e9f7ee;border-color:#1e8e3e}.passed .badge,.badge.passed{background:#1e8e3e}
.failed{background:#fdecea;border-color:#c5221f}.failed .badge,.badge.failed{background:#c5221f}
.error{background:#fef4e5;border-color:#c26401}.error .badge,.badge.error{background:#c26401}
.aborted{background:#eef0f3;border-color:#5f6774}.aborted .badge,.badge.aborted{background:#5f6774}
.reason{font-size:.92em;color:#3c4350}
span.badge{color:#fff;background:#5f6774;font-weight:600;font-size:.85em;padding:.05em .5em;border-radius:4px;
 text-transform:uppercase;white-space:nowrap}
.badge.ok{background:#1e8e3e}.badge.violation{background:#c5221f}.badge.fsck{background:#e37400}
.badge.mount-failed{background:#8e24aa}.badge.sanity{background:#b08000}
table{border-collapse:collapse}
table.provenance th,table.facts th{text-align:left;font-weight:600;padding:.15em 1.2em .15em 0;color:#555;
 vertical-align:top;white-space:nowrap}
table.provenance td,table.facts td{padding:.15em 0;word-break:break-word}
table.data{width:100%;margin:.3em 0}
table.data th,table.data td{border-bottom:1px solid #e3e7ee;padding:.3em .6em;text-align:left;vertical-align:top}
table.data th{background:#f4f6f9;font-weight:600}
table.data td.num{text-align:right;font-variant-numeric:tabular-nums}
table.data tbody tr:hover{background:#f8fafc}
nav{margin:.8em 0}a{color:#1a5fb4}
code,pre{font:13px/1.4 ui-monospace,"DejaVu Sans Mono",monospace}
pre{background:#f6f8fa;border:1px solid #e3e7ee;border-radius:4px;padding:.7em;overflow-x:auto;
 white-space:pre-wrap;word-break:break-word;max-height:32em;overflow-y:auto}
details{margin:.5em 0}summary{cursor:pointer;font-weight:600}
figure{margin:.5em 0}svg.plot{max-width:100%;height:auto}
figcaption,.note{color:#5f6774;font-size:.9em}
section.group{border:1px solid #e3e7ee;border-radius:6px;padding:0 1em .6em;margin:1em 0}
section.group>h3{margin-top:.7em}
"""
