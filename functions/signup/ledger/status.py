"""Where a registration stands."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    # Sessions with `confirm_email`: a sign-up waits for its address to be confirmed, holding no seat and no place
    # on the waiting list, until `confirm_by`; then it lapses (EXPIRED).
    UNCONFIRMED = "unconfirmed"
    EXPIRED = "expired"


# What every sign-up to a session with `confirm_email` is answered with, newcomer or not: "check your mail".
CHECK_EMAIL = "check_email"
