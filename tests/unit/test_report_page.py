"""The page layer: verdicts, escaping, sections, plots as inline SVG, job pages and the reports index."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from sisctl.report import plots
from sisctl.report.index import collect, write_index
from sisctl.report.jobpage import grafana_url, write_job_page
from sisctl.report.page import (VERDICTS, Badge, Details, Figure, Group, Link, Page, Paragraph, Table, render,
                                write_page)

def _body(html: str) -> str:
    return html[html.index("<body>"):]


HOSTILE = '<script>alert("x")</script> & \'q\''


class Elements(HTMLParser):
    """Every start tag with its attributes, and the page's visible text."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def named(self, tag: str) -> list[dict]:
        return [attrs for t, attrs in self.tags if t == tag]


@pytest.mark.parametrize("status", VERDICTS)
def test_every_verdict_is_at_the_top_with_its_reason(status):
    html = render(Page("ext4-crash on qemu-virt-0", status, reason="the board hung", headline="12 states"))
    body = html[html.index("<body>"):]
    first_block = body[:body.index("</header>")]
    assert f'class="verdict {status}"' in first_block and f">{status}</span>" in first_block
    assert "the board hung" in first_block and "12 states" in first_block
    assert f"<title>ext4-crash on qemu-virt-0 — {status}</title>" in html


def test_an_unknown_status_never_reads_as_a_pass():
    body = _body(render(Page("x", "weird")))
    assert 'class="verdict error"' in body and "passed" not in body


def test_everything_given_is_escaped():
    page = Page(HOSTILE, "failed", reason=HOSTILE, headline=HOSTILE, provenance={"board": HOSTILE, HOSTILE: 1},
                links=[Link(HOSTILE, 'a" onclick="x')],
                sections=[Paragraph(HOSTILE), Table(HOSTILE, [HOSTILE], [[HOSTILE], [Link(HOSTILE, HOSTILE)],
                                                                          [Badge(HOSTILE, HOSTILE)]], note=HOSTILE),
                          Details(HOSTILE, HOSTILE), Group(HOSTILE, [Paragraph(HOSTILE)])])
    html = render(page)
    parsed = Elements(html)
    assert not parsed.named("script"), "a text became a script element"
    assert all("onclick" not in attrs for _, attrs in parsed.tags), "an href broke out of its attribute"
    assert "".join(parsed.text).count('<script>alert("x")</script>') >= 10   # shown as text, every time
    badge = [a for a in parsed.named("span") if "badge" in a.get("class", "")][-1]
    assert re.fullmatch(r"[a-z0-9 -]+", badge["class"])


def test_sections_render_as_their_elements(tmp_path):
    fig = Figure("Outcomes", plots.bars({"alpha": {"ok": 3, "fsck": 1}, "beta": {"ok": 2}}), caption="by scenario")
    page = Page("job", "passed", sections=[
        Table("States", ["scenario", "states", "mean ms", "replay"],
              [["alpha", 4, 1.5, Link("replay", "replays/a.txt")], ["beta", 2, None, None]], note="2 of 2"),
        fig, Details("e2fsck output", "line 1\nline 2", open=True),
        Table("Crash state", [], [["outcome", Badge("violation")], ["recovery ms", 3.5]])])
    path = write_page(tmp_path, page)
    parsed = Elements(path.read_text())
    assert path == tmp_path / "index.html" and not list(tmp_path.glob("*.tmp"))
    assert [a["href"] for a in parsed.named("a")] == ["replays/a.txt"]
    assert parsed.named("svg") and parsed.named("figcaption") == [{}]
    assert parsed.named("details") == [{"open": None}]
    cells = [a.get("class") for a in parsed.named("td")]
    assert cells.count("num") == 3       # 4, 1.5 and 2 align right; the missing value is a dash
    assert "<td>-</td>" in path.read_text()
    assert '<table class="facts"><tbody><tr><th>outcome</th><td><span class="badge violation">' in path.read_text()


def test_a_figure_is_inline_svg_without_prolog_or_fixed_size():
    svg = Figure("x", plots.distribution({"a": [1.0, 2.0, 3.0], "b": []}, "ms")).svg
    assert svg.startswith('<svg class="plot"') and "<?xml" not in svg and "<!DOCTYPE" not in svg
    assert "viewBox" in svg.split(">", 1)[0]      # so the stylesheet can shrink it to the page
    assert "http://" not in svg.replace("http://www.w3.org", "").replace("http://purl.org", "") \
        .replace("http://creativecommons.org", "")


def test_the_plot_helpers_draw_with_and_without_data():
    for figure in (plots.bars({}), plots.bars({"a": 1, "b": 2}, ylabel="runs"), plots.distribution({}, "ms"),
                   plots.histogram([1, 2, 2, 3], "ms"), plots.rate_over_time([]),
                   plots.rate_over_time([0.5, 3, 70, 71, 300])):
        assert Figure("t", figure).svg.startswith("<svg")


def test_a_page_is_self_contained():
    html = render(Page("job", "passed", sections=[Figure("p", plots.histogram([1, 2], "ms"))]))
    parsed = Elements(html)
    assert not parsed.named("script") and not parsed.named("link") and not parsed.named("img")
    assert "@import" not in html and not re.search(r"url\((?!#)", html)   # only references within the page


def _summary(folder, status="passed", **extra):
    folder.mkdir(parents=True, exist_ok=True)
    data = {"kind": "ext4-crash", "board": "qemu-virt-0", "status": status, "headline": f"{status} headline",
            "provenance": {"kernel_version": "6.1.0-test", "board": "qemu-virt-0"}, **extra}
    (folder / "summary.json").write_text(json.dumps(data))
    return data


def test_an_aborted_campaign_page_says_so_and_links_its_files(tmp_path):
    out = tmp_path / "ext4-crash-1"
    summary = _summary(out, "aborted", reason="interrupted", seed=7, elapsed_s=30, finished_epoch=1_700_000_000)
    (out / "junit.xml").write_text("<testsuite/>")
    write_job_page(out, summary, [], ("http://grafana.example:3000/", "sisctl-campaign-results-prom"))
    html = (out / "index.html").read_text()
    parsed = Elements(html)
    hrefs = [a["href"] for a in parsed.named("a")]
    assert 'class="verdict aborted"' in html and "interrupted" in html and "passed" not in _body(html)
    assert hrefs[:3] == ["../index.html", "summary.json", "junit.xml"]
    assert hrefs[3] == ("http://grafana.example:3000/d/sisctl-campaign-results-prom?var-board=qemu-virt-0"
                        "&from=1699999910000&to=1700000060000")
    assert "<code>7</code>" in html and "6.1.0-test" in html


def test_a_failing_section_builder_still_gives_a_page_with_the_verdict(tmp_path):
    out = tmp_path / "job"
    summary = _summary(out, "failed")

    def broken():
        raise KeyError("recovery_ms")
    write_job_page(out, summary, broken)
    html = (out / "index.html").read_text()
    assert 'class="verdict failed"' in html and "incomplete" in html and "KeyError" in html


def test_an_error_page_shows_the_whole_problem_first(tmp_path):
    out = tmp_path / "job"
    problem = "qemu-virt-0: kernel crashed: BUG\n--- console (last lines) ---\n[ 1.0] Call trace: <ext4_fill_super>"
    write_job_page(out, _summary(out, "error", reason=problem.splitlines()[0], problem=problem),
                   [Paragraph("the kind's own section")])
    html = (out / "index.html").read_text()
    assert html.index("What went wrong") < html.index("own section")
    assert "Call trace: &lt;ext4_fill_super&gt;" in html


def test_no_grafana_link_without_a_grafana_url(tmp_path):
    out = tmp_path / "job"
    write_job_page(out, _summary(out), [], ("", "uid"))
    assert "Grafana" not in (out / "index.html").read_text()
    assert grafana_url("http://g", "uid", {"board": "b", "elapsed_s": 0, "finished_epoch": 100}) \
        == "http://g/d/uid?var-board=b&from=40000&to=160000"


def test_the_index_lists_every_run_newest_first_with_its_verdict(tmp_path):
    _summary(tmp_path / "old", "passed", finished_epoch=1000)
    _summary(tmp_path / "new", "aborted", finished_epoch=3000)
    _summary(tmp_path / "mid", "error", finished_epoch=2000)
    (tmp_path / "mid" / "index.html").write_text("page")
    (tmp_path / "smoke-legacy").mkdir()
    (tmp_path / "smoke-legacy" / "summary.json").write_text(json.dumps({"board": "b", "passed": 5, "failed": 1}))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "summary.json").write_text("{not json")
    (tmp_path / "runs").mkdir()   # console logs, no summary: not a run
    entries = {e.id: e for e in collect(tmp_path)}
    assert set(entries) == {"old", "new", "mid", "smoke-legacy", "broken"}
    assert entries["smoke-legacy"].status == "failed" and entries["smoke-legacy"].kind == "smoke"
    assert entries["broken"].status == "error" and "unreadable" in entries["broken"].headline
    assert entries["mid"].href == "mid/index.html" and entries["old"].href == "old/summary.json"
    html = write_index(tmp_path).read_text()
    order = [a["href"].split("/")[0] for a in Elements(html).named("a")]
    assert order.index("new") < order.index("mid") < order.index("old")
    assert "5 runs" in html and "1 aborted" in html and "6.1.0-test" in html


def test_an_empty_reports_folder_gives_an_index_saying_so(tmp_path):
    html = write_index(tmp_path / "reports").read_text()
    assert "no runs yet" in html and 'class="verdict' not in html
