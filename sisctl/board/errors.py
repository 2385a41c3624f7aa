"""Typed failures of a board; each carries the board's name and the end of its console log."""
from __future__ import annotations

from sisctl.errors import BoardBusy, BoardError

__all__ = ["BoardBusy", "BoardError", "BootTimeout", "KernelCrash", "ConsoleLost", "BoardUnreachable",
           "AgentError", "CommandTimeout"]


class BootTimeout(BoardError):
    """No ready marker within the board's boot timeout."""


class KernelCrash(BoardError):
    """The kernel printed an error report (panic, oops, BUG, WARNING, ...)."""

    def __init__(self, board: str, title: str, report: str, log_tail: str = ""):
        self.title, self.report = title, report
        super().__init__(board, f"kernel error report: {title}", log_tail)


class ConsoleLost(BoardError):
    """The console closed or the machine behind it went away."""


class BoardUnreachable(BoardError):
    """A console, power switch or SSH host did not answer within its timeout."""


class AgentError(BoardError):
    """The in-guest agent did not answer as the protocol says."""


class CommandTimeout(AgentError):
    """A command did not finish within its timeout."""
