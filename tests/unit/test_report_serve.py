"""report.serve serves the reports folder and nothing a symbolic link under it points to outside;
a busy port is named with its holder."""
import functools
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from sisctl.cli.report import QuietHandler


def test_a_symlink_out_of_the_reports_folder_is_not_served(tmp_path):
    reports, outside = tmp_path / "reports", tmp_path / "etc"
    (reports / "run").mkdir(parents=True)
    (reports / "run" / "index.html").write_text("<p>ok</p>")
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0\n")
    (reports / "etc").symlink_to(outside)
    (reports / "run" / "inner").symlink_to(reports / "run")   # a link that stays inside is fine
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(reports)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert urllib.request.urlopen(f"{base}/run/index.html", timeout=5).read() == b"<p>ok</p>"
        assert urllib.request.urlopen(f"{base}/run/inner/index.html", timeout=5).status == 200
        for path in ("/etc/passwd", "/etc/", "/run/../etc/passwd"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + path, timeout=5)
            assert refused.value.code == 404, path
    finally:
        server.shutdown()
        server.server_close()


def test_a_busy_port_is_named_with_its_holder(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        done = subprocess.run([str(Path(sys.executable).parent / "invoke"), "report.serve", "--port", str(port)],
                              cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "SISCTL_REPORTS": str(tmp_path)})
    finally:
        taken.close()
    assert done.returncode == 2, done.stderr
    assert f"127.0.0.1:{port} is taken by pid {os.getpid()}" in done.stderr and "Traceback" not in done.stderr
