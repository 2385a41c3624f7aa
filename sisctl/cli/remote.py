"""A task run again by the sisctl of the lab host its board is attached to (sisctl/fleet/remote.py
does the SSH side): one way, for every task, to say it again there."""
from __future__ import annotations

import inspect
from typing import Any

from invoke import Task
from invoke.parser.context import translate_underscores


def task_words(task: Task, given: dict[str, Any], name: str = "", leave_out: tuple[str, ...] = ()) -> list[str]:
    """The words of `task` (named `name`, default its own) with the options it was given, for the remote
    sisctl: each option of the task's signature whose value in `given` (the body's arguments by
    parameter name, such as its locals()) is set, as --NAME=VALUE, or --NAME for a flag that is on;
    an option that is None, "" or off is left to the remote default. `leave_out`: options that stay
    here (--json, when this side prints the result)."""
    words = [name or task.name]
    for option in list(inspect.signature(task.body).parameters)[1:]:      # after the invoke Context
        value = given.get(option)
        if option in leave_out or value is None or value is False or value == "":
            continue
        flag = "--" + translate_underscores(option)
        words.append(flag if value is True else f"{flag}={value}")
    return words
