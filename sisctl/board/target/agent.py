"""target.kind agent (the default): sisctl's agent, PID 1's child in sisctl's initramfs, framing every
command's output and status on the console (firmware/agent/sisagent.c). Nothing to set.

    target:
      kind: agent
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sisctl.board.agent import Agent
from sisctl.board.target import TargetSettings
from sisctl.image.guest import build_guest

if TYPE_CHECKING:
    from sisctl.board.board import BoardSession

SNAPSHOTS = True


def has_agent(spec) -> bool:
    return True


@dataclass(kw_only=True)
class AgentTarget(TargetSettings):
    """kind agent: sisctl's initramfs and its agent; no settings."""


def check(spec, path) -> None:
    pass


def guest_image(board, artifact):
    return build_guest(artifact, board.spec.boot.modules)


def prepare(session: BoardSession) -> None:
    return None


class AgentLink:
    """The agent as a session's target."""

    def __init__(self, session: BoardSession):
        self.agent = session.agent = Agent(session.console, session.name)

    def wait_ready(self, timeout_s: float) -> None:
        self.agent.wait_ready(timeout_s)

    def after_boot(self) -> None:
        self.agent.set_clock()

    def run(self, command: str, timeout_s: float):
        return self.agent.run(command, timeout_s)

    def close(self) -> None:
        pass


def attach(session: BoardSession, prepared=None) -> AgentLink:
    return AgentLink(session)
