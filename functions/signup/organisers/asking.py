"""Asking the organiser before a command does what cannot be undone."""

from __future__ import annotations

from typing import TextIO

from signup.errors import MisconfiguredError


def agreed(question: str, without_terminal: str, out: TextIO, answers: TextIO) -> bool:
    """Whether the organiser answers yes on the terminal. Without one (a script, a pipe) nobody can answer: that is
    refused (MisconfiguredError, `without_terminal`), never taken for a no that exits as a success."""
    if not answers.isatty():
        raise MisconfiguredError(f"{without_terminal} without --yes: there is no terminal to ask for confirmation")
    print(f"{question} [y/N] ", end="", file=out, flush=True)
    answer = answers.readline()
    if not answer.endswith("\n"):
        print(file=out)  # the input ended (Ctrl-D): what follows goes on a line of its own
    return answer.strip().lower() in ("y", "yes", "j", "ja")
