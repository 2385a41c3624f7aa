"""Put a board's boot files where its TFTP server serves them: a local folder or one on a lab host."""
from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from sisctl.board.errors import BoardError
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
        made = remote.run(f"mkdir -p {shlex.quote(target)}")
        if made.code != 0:
            raise BoardError(board, f"cannot create {target} on {ssh.host}: {made.stderr.strip()}")
        for name, path in files.items():
            remote.put(path, f"{target}/{name}")
