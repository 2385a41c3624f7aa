"""How a failed SSH connect is classed: a refusal is final, a slow or absent host may be tried again."""
from pathlib import Path

import paramiko
import pytest

from sisctl.sshlink import SshRefused, SshUnreachable, open_checked


def fail_with(err):
    closed = []

    def connect():
        raise err

    def attempt():
        open_checked(connect, lambda: closed.append(True), where="ssh root@board:22",
                     known_hosts=Path("known_hosts"), host="board", port=22)
    return attempt, closed


def test_a_rejected_key_is_a_refusal():
    attempt, closed = fail_with(paramiko.AuthenticationException("Authentication failed."))
    with pytest.raises(SshRefused, match="authentication failed"):
        attempt()
    assert closed


def test_an_authentication_timeout_is_a_slow_host_not_a_refusal():
    attempt, closed = fail_with(paramiko.AuthenticationException("Authentication timeout."))
    with pytest.raises(SshUnreachable, match="no answer to authentication within the timeout"):
        attempt()
    assert closed
