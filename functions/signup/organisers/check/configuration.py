"""The settings of a deployment, judged by the functions' own rules: `register` and `notify` are built from them as
each instance builds them at its first request (nothing connects yet), so what they would refuse is refused here."""

from __future__ import annotations

from typing import Any

from signup import service
from signup.errors import MisconfiguredError
from signup.organisers.check.report import Result, Status
from signup.settings import OrganiserSettings, Settings

SETTINGS, KEY, PROTECTIONS = "configuration.settings", "configuration.key", "configuration.protections"


def check_configuration(settings: OrganiserSettings, client: Any) -> tuple[list[Result], Settings | None]:
    """The results, and the functions' settings when they hold."""
    try:
        functions = settings.functions
        service.build(functions, client=client)
        service.build_notifier(functions, client=client)
        if functions.organise_url:
            service.build_organise(functions, client=client)
    except MisconfiguredError as error:
        fix = "Set it as infra/ does (the Terraform variable of the same name, in lower case), then deploy again."
        return [Result(SETTINGS, Status.FAIL, f"settings: {error}", fix)], None
    results = [
        Result(
            SETTINGS,
            Status.PASS,
            f"settings: every required one present and valid, for register and notify ({functions.public_base_url})",
        ),
        _key(functions),
        _protections(functions),
    ]
    return results, functions


def _key(settings: Settings) -> Result:
    ring = settings.keys
    if ring.previous:
        kept = ", ".join(key.id for key in ring.previous)
        return Result(
            KEY,
            Status.WARN,
            f"SIGNING_KEY: key {ring.current.id}, with the previous {kept} still accepted (a rotation in progress)",
            "Once the sessions signed up for under the previous key have ended, drop it (docs/keys.md).",
            details={"current": ring.current.id, "previous": [key.id for key in ring.previous]},
        )
    return Result(KEY, Status.PASS, f"SIGNING_KEY: key {ring.current.id}", details={"current": ring.current.id})


def _protections(settings: Settings) -> Result:
    """Which optional protections are on; the ones that are off by choice are named, not failed."""
    on = [
        f"rate limits {settings.rate_limit_per_session} per session and {settings.rate_limit_overall} overall "
        f"per {settings.rate_limit_window} s",
        f"at most {settings.mail_cap_per_day} mails a day per mailbox",
    ]
    off: list[str] = []
    (on if settings.check_deliverability else off).append("the DNS check of addresses")
    (on if settings.turnstile_secret_key else off).append("Cloudflare Turnstile (no TURNSTILE_SECRET_KEY)")
    details = {"on": on, "off": off, "trusted_proxy_hops": settings.trusted_proxy_hops}
    # What is off leads: it is what a warning is about.
    summary = "protections: " + (f"off: {', '.join(off)}; " if off else "") + f"on: {'; '.join(on)}"
    if not settings.check_deliverability:
        fix = "Set EMAIL_CHECK_DELIVERABILITY=true: addresses whose domain takes no mail are then refused at the form."
        return Result(PROTECTIONS, Status.WARN, summary, fix, details=details)
    return Result(PROTECTIONS, Status.PASS, summary, details=details)
