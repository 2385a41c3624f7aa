"""Report tasks: rebuild the reports index or a campaign's page, serve the reports folder on loopback."""
from __future__ import annotations

import functools
import json
import os
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from invoke import Collection, task

from sisctl import paths
from sisctl.cli.common import guard, usage
from sisctl.jsonfile import read_json


@task(name="index")
@guard
def report_index(c):
    """Rebuild reports/index.html: every run, newest first."""
    from sisctl.report.index import collect, write_index
    path = write_index(paths.reports_dir())
    print(f"{path} ({len(collect(paths.reports_dir()))} runs)")


@task(name="page", help={"campaign": "campaign id or folder"})
@guard
def report_page(c, campaign):
    """Rewrite one campaign's index.html from its summary.json and records (e.g. after an upgrade)."""
    from sisctl.campaign.core.records import read_records
    from sisctl.campaign.core.runner import campaign_dir, load_campaign, write_pages
    from sisctl.errors import UsageError
    out = campaign_dir(campaign)
    kind, _ = load_campaign(out)
    try:
        summary = read_json(out / "summary.json")
        if not isinstance(summary, dict) or not isinstance(summary.get("status"), str):
            raise ValueError("not a summary sisctl wrote")
    except (OSError, ValueError) as err:
        raise UsageError(f"{out / 'summary.json'}: no finished campaign's summary ({err})") from None
    write_pages(kind, out, summary, list(read_records(out / "records.jsonl")))
    print(out / "index.html")


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves the reports folder and nothing outside it: a path that resolves out of the folder
    (through a symbolic link under it) is not found."""

    def translate_path(self, path: str) -> str:
        translated = super().translate_path(path)
        root = os.path.realpath(self.directory)
        real = os.path.realpath(translated)
        inside = real == root or real.startswith(root + os.sep)
        return translated if inside else os.path.join(os.devnull, "outside")   # never a file: 404

    def log_message(self, format, *args):   # noqa: A002 - the base class's name
        pass


@task(name="serve", help={"port": "port on 127.0.0.1 (default: a free one)"})
@guard
def report_serve(c, port="0"):
    """Serve the reports folder to a browser on 127.0.0.1; Ctrl-C stops it."""
    from sisctl.report.index import write_index
    if not str(port).isdigit() or int(port) > 65535:
        raise usage(f"--port {port!r}: expected a port number (0 for a free one)")
    folder = paths.reports_dir()
    write_index(folder)
    handler = functools.partial(QuietHandler, directory=str(folder))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", int(port)), handler)
    except OSError as err:
        from sisctl.portholder import port_holder
        holder = port_holder("127.0.0.1", int(port))
        raise usage(f"--port {port}: 127.0.0.1:{port} is taken{f' by {holder}' if holder else ''} "
                    f"({err.strerror or err}); give another port, or 0 for a free one") from None
    with server:
        print(f"serving {folder} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped")


@task(name="history", help={"case": "text in JOB.CASE to look for (* matches anything)",
                             "board": "only this board's results", "last": "results per case (default 20)",
                             "rebuild": "read the store again from the reports folder first"})
@guard
def report_history(c, case, board="", last="20", rebuild=False):
    """Print each matching case's results over past plan runs, oldest first: run, kernel, outcome."""
    import time
    from contextlib import closing

    from sisctl.report.history import History
    if not str(last).isdigit() or int(last) < 1:
        raise usage(f"--last {last!r}: expected a positive number")
    with closing(History.rebuild() if rebuild else History.open()) as history:
        found = history.matching(case, board, int(last))
    if not found:
        raise usage(f"no case of any recorded plan run matches --case {case!r}" + (f" on board {board}" if board else ""))
    shown = None
    for r in found:
        if (r.job, r.name) != shown:
            shown = (r.job, r.name)
            print(f"{r.job} {r.name}")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.finished))
        print(f"  {when}  {r.outcome:5}  {r.run}  {r.kernel} {r.build_id[:12]}  {r.detail[:80]}".rstrip())


@task(name="kcidb", help={"job": "a plan run's or campaign's id (or folder)",
                           "out": "where to write it (default: kcidb.json in the run's folder)"})
@guard
def report_kcidb(c, job, out=""):
    """Write a plan run or campaign as a KCIDB v5 document (KernelCI's format), checked against its schema."""
    from pathlib import Path

    from invoke import Exit

    from sisctl.report.kcidb import InvalidDocument, document
    folder = Path(job) if (Path(job) / "summary.json").exists() else paths.reports_dir() / job
    try:
        data = document(folder)
    except InvalidDocument as err:
        raise Exit(f"error: {err}", code=1) from None
    target = Path(out) if out else folder / "kcidb.json"
    if target.is_dir() or not target.parent.is_dir():
        raise usage(f"--out {target}: " + ("a folder; give a file's path" if target.is_dir() else
                                           f"its folder {target.parent} does not exist"))
    paths.write_atomic(target, json.dumps(data, indent=1) + "\n")
    print(f"{target}: {len(data['checkouts'])} checkouts, {len(data['builds'])} builds, {len(data['tests'])} tests "
          f"(KCIDB v{data['version']['major']}.{data['version']['minor']}, valid)")


report = Collection("report")
report.add_task(report_history)
report.add_task(report_kcidb)
report.add_task(report_index)
report.add_task(report_page)
report.add_task(report_serve)
