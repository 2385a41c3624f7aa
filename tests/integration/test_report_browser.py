"""Report pages in a real browser: a real ext4-crash campaign with a failing state, served by
`invoke report.serve` on loopback, loaded by headless Chromium. Each page must render without
console messages (script errors, failed loads), carry its plots, and every relative link and
in-page anchor must resolve. Each checker is first shown to catch what it exists to catch."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from PIL import Image

from sisctl.campaign.core.kind import KIND_MODULES, Findings
from sisctl.campaign.core.runner import start
from sisctl.report.junit import Case
from sisctl.report.page import Table

from sisctl.campaign.core.records import read_records
from sisctl.campaign.core.runner import resume
from sisctl.campaign.ext4crash import blocklog
from sisctl.campaign.ext4crash.campaign import Ext4CrashCampaign, PendingState
from sisctl.campaign.ext4crash.options import CampaignConfig
from sisctl.campaign.ext4crash.fsworkloads import workload
from sisctl.campaign.ext4crash.ops import pattern

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[2]
SCENARIO = "write_during_journal_commit"
FAILED_RED = (0xC5, 0x22, 0x1F)           # the failed badge and border colour of the stylesheet


class Browser:
    """Headless Chromium, a fresh profile per load, no network but loopback, no leftovers."""

    def __init__(self, profile_root: Path):
        self.binary = shutil.which("chromium")
        assert self.binary, "chromium is missing; lab/setup.sh installs it"
        self.profile_root, self.loads = profile_root, 0

    def _run(self, url: str, *mode: str) -> subprocess.CompletedProcess:
        self.loads += 1
        argv = [self.binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
                f"--user-data-dir={self.profile_root / f'profile-{self.loads}'}", "--enable-logging=stderr",
                "--v=0", *mode, url]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        finally:   # helpers (zygote, renderer) share its process group
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return subprocess.CompletedProcess(argv, proc.returncode, out.decode(errors="replace"),
                                           err.decode(errors="replace"))

    def dom(self, url: str) -> tuple[str, list[str]]:
        """The page's DOM after load, and every console message it caused."""
        result = self._run(url, "--dump-dom")
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout, [line for line in result.stderr.splitlines() if ":CONSOLE" in line]

    def screenshot(self, url: str, path: Path) -> Image.Image:
        result = self._run(url, f"--screenshot={path}", "--window-size=1280,2000", "--hide-scrollbars")
        assert result.returncode == 0 and path.exists(), result.stderr[-2000:]
        return Image.open(path).convert("RGB")


class Anchors(HTMLParser):
    def __init__(self, html: str):
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()
        self.svgs = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        self.svgs += tag == "svg" and "plot" in (attrs.get("class") or "")


def broken_links(page_url: str, html: str) -> list[str]:
    """Relative links that do not load from the server, and in-page anchors with no element."""
    parsed = Anchors(html)
    broken = []
    for href in parsed.hrefs:
        if href.startswith("#"):
            if href[1:] not in parsed.ids:
                broken.append(href)
            continue
        if urlparse(href).scheme or href.startswith("//"):
            continue                                   # absolute (Grafana): not ours to fetch
        try:
            with urllib.request.urlopen(urljoin(page_url, href), timeout=10) as response:
                response.read(1)
        except urllib.error.URLError as err:
            broken.append(f"{href} ({err})")
    return broken


@pytest.fixture(scope="module")
def failing_campaign(board, lab_dirs, tmp_path_factory) -> Path:
    """A real campaign whose disk lied once: an fsynced write lost, so one state fails; the rest is
    an ordinary run of the scenario (the folder is resumed by the campaign core, which writes the page)."""
    scratch = tmp_path_factory.mktemp("honest")
    cfg = CampaignConfig(board.name, [SCENARIO], "powerloss", 1, seed=5, keep_all=True)
    with Ext4CrashCampaign.direct(board, cfg, scratch) as campaign:
        campaign.run()
    first = next(r for r in read_records(scratch / "records.jsonl") if r.get("type") == "state")
    big = next(op for op in workload(SCENARIO, first["run_seed"]) if op.kind == "write" and op.length >= 1 << 20)
    log_path = scratch / "runs" / f"{SCENARIO}-0.log"
    log = blocklog.read_log(log_path)
    lost = next(e for e in log.entries if e.is_write and _data(log_path, e) == pattern(big.seed, big.length)[:64])
    out = lab_dirs["reports"] / "ext4-crash-lying-disk"
    with Ext4CrashCampaign.direct(board, cfg, out, base=scratch / "base.img") as liar:
        liar.pending = [PendingState(SCENARIO, 0, "end-lying-disk", log_path, len(log.entries), [lost.index])]
        liar.run_checks_only()
    summary = resume(str(out), progress=lambda _: None)
    assert summary["status"] == "failed" and summary["failed"] == 1, summary
    return out


def _data(path: Path, entry: blocklog.Entry) -> bytes:
    with open(path, "rb") as f:
        f.seek(entry.data_offset)
        return f.read(64)


@pytest.fixture(scope="module")
def served(lab_dirs):
    """`invoke report.serve` on a free loopback port; stopped with Ctrl-C (SIGINT) afterwards."""
    proc = subprocess.Popen([str(Path(sys.executable).parent / "invoke"), "report.serve"], cwd=PROJECT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SISCTL_REPORTS": str(lab_dirs["reports"])})
    try:
        line = proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert match, f"report.serve said {line!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        yield match.group(1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0 and "stopped" in out, (proc.returncode, out, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture
def browser(tmp_path):
    return Browser(tmp_path)


def test_the_checkers_catch_script_errors_missing_plots_and_broken_links(browser, served, lab_dirs):
    bad = lab_dirs["reports"] / "checker-control"
    bad.mkdir(exist_ok=True)
    (bad / "index.html").write_text('<!DOCTYPE html><html><body><a href="nowhere.json">x</a><a href="#gone">y</a>'
                                    '<script>undefinedFunction();</script></body></html>')
    url = served + "checker-control/index.html"
    dom, console = browser.dom(url)
    assert any("undefinedFunction" in line for line in console), console
    assert Anchors(dom).svgs == 0
    assert broken_links(url, dom) == ["nowhere.json (HTTP Error 404: File not found)", "#gone"]
    shutil.rmtree(bad)


def test_a_failing_campaign_page_renders_with_plots_links_and_evidence(browser, served, failing_campaign, tmp_path):
    url = served + f"{failing_campaign.name}/index.html"
    dom, console = browser.dom(url)
    assert console == [], console
    page = Anchors(dom)
    assert page.svgs == 3                       # outcomes, recovery times, checking rate
    assert broken_links(url, dom) == []
    assert {"summary.json", "junit.xml", "records.jsonl", "../index.html"} <= set(page.hrefs)
    assert any(h.startswith("../runs/") and h.endswith("/console.log") for h in page.hrefs)
    key = f"{SCENARIO}/0/end-lying-disk"
    assert "#state-" + re.sub(r"[^A-Za-z0-9]", "-", key) in page.hrefs
    assert "corrupt big" in dom and "invoke campaign.replay --campaign" in dom and f"--state {key}" in dom
    assert 'class="verdict failed"' in dom
    shot = browser.screenshot(url, tmp_path / "campaign.png")
    assert _shows(shot.crop((0, 0, 1280, 200)), FAILED_RED), "no red verdict at the top"
    assert _shows(shot, (0x1E, 0x8E, 0x3E)), "the bar chart's green 'ok' bars were not drawn"


def test_the_index_lists_the_campaign_and_its_links_resolve(browser, served, failing_campaign, tmp_path):
    url = served + "index.html"
    dom, console = browser.dom(url)
    assert console == [], console
    assert f'href="{failing_campaign.name}/index.html"' in dom
    assert "crash states, 1 failed" in dom
    assert broken_links(url, dom) == []
    shot = browser.screenshot(url, tmp_path / "index.png")
    assert _shows(shot.crop((0, 0, 1280, 400)), FAILED_RED), "no red badge for the failed campaign"


@dataclass
class StubConfig:
    board: str
    seed: int


class StubKind:
    """A kind that records one result and is then interrupted, as by Ctrl-C."""
    name = "stub"

    def config_from_options(self, board, seed, options):
        return StubConfig(board, seed)

    def config_from_json(self, data):
        return StubConfig(**data)

    def execute(self, ctx, config):
        ctx.records.append({"type": "step", "ok": True})
        raise KeyboardInterrupt

    def findings(self, config, records, figures):
        return Findings({"steps": len(records)}, [Case("step", True)], f"{len(records)} steps")

    def terminal(self, summary):
        return f"{summary['steps']} steps"

    def page_sections(self, summary, records):
        return [Table("Steps", ["type", "ok"], [[r["type"], str(r["ok"])] for r in records])]


KIND = StubKind()


def test_an_interrupted_campaign_still_gets_a_page_that_says_aborted(board, monkeypatch, browser, served,
                                                                       lab_dirs):
    monkeypatch.setitem(KIND_MODULES, "stub", __name__)
    with pytest.raises(KeyboardInterrupt):
        start("stub", board.name, {}, 3, progress=lambda _: None)
    (out,) = [p for p in lab_dirs["reports"].glob("stub-*") if (p / "index.html").exists()]
    dom, console = browser.dom(served + f"{out.name}/index.html")
    assert console == [] and 'class="verdict aborted"' in dom and "interrupted" in dom
    assert "1 steps" in dom and "<td>step</td>" in dom
    index, _ = browser.dom(served + "index.html")
    row = re.search(rf"<tr>(?:(?!</tr>).)*{out.name}(?:(?!</tr>).)*</tr>", index, re.S).group(0)
    assert 'class="badge aborted"' in row and "passed" not in row


def _shows(image: Image.Image, colour: tuple[int, int, int], slack: int = 12) -> bool:
    """Whether the screenshot has pixels of about this colour (anti-aliasing shifts edges a little)."""
    return any(all(abs(a - b) <= slack for a, b in zip(seen, colour)) for _, seen in image.getcolors(1 << 24))
