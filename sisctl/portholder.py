"""Who holds a TCP port: so a service refuses to start (and says why) instead of trusting
whatever answers there."""
from __future__ import annotations

import os
import socket
from pathlib import Path


def port_holder(host: str, port: int) -> str | None:
    """None if `host:port` can be bound now; else who listens there ('pid N (command line)')."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            return None
        except OSError:
            pass
    inodes = _listening_inodes(port)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            held = any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir())
            if held:
                command = " ".join((entry / "cmdline").read_bytes().decode(errors="replace")
                                   .replace("\0", " ").split())
                return f"pid {entry.name} ({command[:160]})"
        except OSError:   # gone meanwhile, or not ours to look at
            continue
    return "another process (not visible from here)"


def _listening_inodes(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(f"socket:[{fields[9]}]")
    return found
