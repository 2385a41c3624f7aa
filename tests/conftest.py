"""Shared fixtures: isolated state and reports folders, the default kernel, a flashed board."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


def qemu_processes_mentioning(text: str) -> list[int]:
    """PIDs of running QEMU processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"qemu-system-aarch64") and text.encode() in b" ".join(argv):
            found.append(int(entry.name))
    return found


def new_folder(parent: Path, pattern: str, earlier: set[Path], ready, timeout_s: float = 300) -> Path | None:
    """The first folder matching `pattern` under `parent`, not in `earlier`, for which `ready(folder)`
    holds, polled until `timeout_s`; None if none does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for folder in set(parent.glob(pattern)) - earlier:
            if ready(folder):
                return folder
        time.sleep(0.1)
    return None


def killed_campaign(reports: Path, pattern: str, kind: str, board: str, options: dict, seed: int,
                    ready) -> Path | None:
    """Start a `kind` campaign in a child process, SIGKILL it once its folder under `reports`
    (matching `pattern`) is `ready`; that folder, or None if it never was."""
    code = ("import json, sys; from sisctl.campaign.core.runner import start\n"
            "start(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), progress=print)\n")
    earlier = set(reports.glob(pattern))
    project = Path(__file__).resolve().parents[1]
    child = subprocess.Popen([sys.executable, "-c", code, kind, board, json.dumps(options), str(seed)],
                             cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out = new_folder(reports, pattern, earlier, ready)
        if out:
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        return out
    finally:
        child.kill()
        child.wait()


@contextmanager
def http_receiver(status: int = 200):
    """A loopback HTTP server recording each POST as (headers, JSON body): its URL and that list."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((dict(self.headers), json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def lab_dirs(tmp_path_factory) -> dict[str, Path]:
    """Board state and reports of this test session live in a temporary folder (the build cache is shared)."""
    root = tmp_path_factory.mktemp("lab")
    dirs = {"state": root / "state", "reports": root / "reports"}
    os.environ["SISCTL_STATE"] = str(dirs["state"])
    os.environ["SISCTL_REPORTS"] = str(dirs["reports"])
    return dirs


@pytest.fixture(autouse=True, scope="module")
def no_orphan_qemu():
    """Every test module must leave no QEMU behind that it started."""
    yield
    state = os.environ.get("SISCTL_STATE")
    if state:
        left = qemu_processes_mentioning(state)
        assert not left, f"QEMU processes left running: {left}"
