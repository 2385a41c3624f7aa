"""Put a board's boot files where its TFTP server serves them: a local folder or one on a lab host."""
from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from sisctl.board.ssh import SshRunner, SshSpec


def stage(files: dict[str, Path], root: str, folder: str, ssh: SshSpec | None, board: str) -> None:
    """Copy `files` (served name -> local file) into <root>/<folder>/."""
    if ssh is None:
        target = Path(root) / folder
        target.mkdir(parents=True, exist_ok=True)
        for name, path in files.items():
            shutil.copyfile(path, target / name)
        return
    target = f"{root.rstrip('/')}/{folder}"
    with SshRunner(ssh, board) as remote:
        remote.must(f"mkdir -p {shlex.quote(target)}", f"creating {target}")
        for name, path in files.items():
            remote.put(path, f"{target}/{name}")
