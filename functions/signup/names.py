"""People's names as mails and organisers read them: light enough for `register` to use on its way up."""

from __future__ import annotations


def full_name(first_name: str, infix: str, last_name: str) -> str:
    """Names the Dutch way: "Jan" + "van der" + "Berg" is "Jan van der Berg"."""
    return " ".join(part for part in (first_name, infix, last_name) if part)
