"""Opening an SSH connection the one way sisctl does it: the host key checked against a known_hosts
file (an unknown or changed key is refused, never added), and paramiko's failures turned into one
line saying which host and what went wrong. Boards (board/ssh.py) and lab hosts (fleet/remote.py)
both connect through here."""
from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Callable

import paramiko

from sisctl.errors import InfrastructureError

# paramiko logs each failed handshake with a traceback; sisctl reports the failure itself, in one line
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class SshRefused(InfrastructureError):
    """The host answered but will not have us (its key is unknown or changed, ours was refused):
    trying again does not help."""


class SshUnreachable(InfrastructureError):
    """No SSH session could be set up (refused, timed out, reset): trying again may help."""


def refuse_unknown_keys(client: paramiko.SSHClient, known_hosts: Path) -> None:
    """`client` trusts the keys in `known_hosts` and no other."""
    if known_hosts.exists():
        client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())


def open_checked(connect: Callable[[], None], close: Callable[[], None], *, where: str, known_hosts: Path,
                 host: str, port: int) -> None:
    """Run `connect` (an SSHClient's or a fabric Connection's), closing it and raising SshRefused or
    SshUnreachable, each naming `where`, when it fails."""
    try:
        connect()
        return
    except paramiko.BadHostKeyException as err:
        close()
        raise SshRefused(f"{where}: host key does not match {known_hosts} (got {err.key.get_name()} "
                         f"{err.key.get_base64()[:16]}...); refusing to connect") from None
    except paramiko.AuthenticationException as err:
        close()
        if "timeout" not in str(err).lower():
            raise SshRefused(f"{where}: authentication failed ({err})") from None
        problem = f"no answer to authentication within the timeout ({err})"   # a slow host, not a refusal
    except paramiko.ssh_exception.NoValidConnectionsError as err:   # refused on every address
        close()
        problem = "; ".join(sorted({e.strerror or str(e) for e in err.errors.values()}))
    except paramiko.SSHException as err:
        close()
        if "not found in known_hosts" in str(err):
            raise SshRefused(f"{where}: unknown host key (its host key is not in {known_hosts}); refusing to "
                             f"connect: check it, then add it (ssh-keyscan -p {port} {host})") from None
        problem = str(err)
    except (socket.timeout, OSError) as err:
        close()
        problem = str(err) or type(err).__name__
    raise SshUnreachable(f"{where} unreachable: {problem}")
