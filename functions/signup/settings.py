"""One frozen settings object, built from the environment in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

import email_validator

from signup.errors import MisconfiguredError
from signup.keys import KeyRing
from signup.ledger.session import mailbox
from signup.logs import LEVELS

TURNSTILE_VERIFY_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
# A secret that is not used: Secret Manager holds no empty secret, so infra/ stores this word instead.
NO_SECRET = "none"  # noqa: S105 - the word for no secret, not a secret
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    """What the functions read from their environment."""

    project: str
    public_base_url: str
    keys: KeyRing
    check_deliverability: bool = True
    session_cache_seconds: float = 5.0
    mail_from: str | None = None
    smtp_url: str | None = None
    smtp_password: str | None = None
    smtp_timeout: float = 20.0
    smtp_utf8: bool = False
    smtp_max_connections: int = 8
    smtp_max_per_second: float | None = None
    sweep_limit: int = 500
    rate_limit_per_session: int = 20
    rate_limit_overall: int = 60
    rate_limit_window: int = 600
    trusted_proxy_hops: int = 0
    mail_cap_per_day: int = 10
    turnstile_secret_key: str | None = None
    turnstile_verify_url: str = TURNSTILE_VERIFY_URL
    log_level: str = "INFO"
    calendar_reply_address: str | None = None
    # The organisers' page (`organise`): its own public address, and who may organise every session.
    organise_url: str | None = None
    organisers: frozenset[str] = frozenset()

    def require_organise_url(self) -> str:
        """ORGANISE_URL, which `organise` needs for its links and `notify` for the links in its mails."""
        if not self.organise_url:
            raise MisconfiguredError("Missing required setting ORGANISE_URL")
        return self.organise_url

    def require_mail(self) -> tuple[str, str]:
        """MAIL_FROM and SMTP_URL, which only `notify` needs; a missing one names itself."""
        if not self.mail_from:
            raise MisconfiguredError("Missing required setting MAIL_FROM")
        if not self.smtp_url:
            raise MisconfiguredError("Missing required setting SMTP_URL")
        return self.mail_from, self.smtp_url

    @cached_property
    def public_origin(self) -> str:
        parts = urlsplit(self.public_base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; a missing or malformed one names itself."""
        env = os.environ if env is None else env
        base_url = _required(env, "PUBLIC_BASE_URL").rstrip("/")
        if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
            raise MisconfiguredError("PUBLIC_BASE_URL must be an absolute http(s) URL")
        verify_url = env.get("TURNSTILE_VERIFY_URL", "").strip() or TURNSTILE_VERIFY_URL
        if urlsplit(verify_url).scheme not in ("http", "https"):
            raise MisconfiguredError("TURNSTILE_VERIFY_URL must be an http(s) URL")
        return cls(
            project=_required(env, "GOOGLE_CLOUD_PROJECT"),
            public_base_url=base_url,
            keys=KeyRing.parse(_required(env, "SIGNING_KEY")),
            check_deliverability=_flag(env, "EMAIL_CHECK_DELIVERABILITY", default=True),
            session_cache_seconds=_number(env, "SESSION_CACHE_SECONDS", default=5.0),
            mail_from=env.get("MAIL_FROM", "").strip() or None,
            smtp_url=env.get("SMTP_URL", "").strip() or None,
            smtp_password=env.get("SMTP_PASSWORD") or None,
            smtp_timeout=_number(env, "SMTP_TIMEOUT_SECONDS", default=20.0),
            smtp_utf8=_flag(env, "SMTP_UTF8", default=False),
            smtp_max_connections=int(_positive(env, "SMTP_MAX_CONNECTIONS", whole=True) or 8),
            smtp_max_per_second=_positive(env, "SMTP_MAX_PER_SECOND", whole=False),
            sweep_limit=int(_number(env, "SWEEP_LIMIT", default=500)),
            rate_limit_per_session=int(_number(env, "RATE_LIMIT_PER_SESSION", default=20)),
            rate_limit_overall=int(_number(env, "RATE_LIMIT_OVERALL", default=60)),
            rate_limit_window=int(_number(env, "RATE_LIMIT_WINDOW_SECONDS", default=600)) or 1,
            trusted_proxy_hops=_whole(env, "TRUSTED_PROXY_HOPS", default=0),
            mail_cap_per_day=int(_number(env, "MAIL_CAP_PER_DAY", default=10)),
            turnstile_secret_key=_secret(env, "TURNSTILE_SECRET_KEY"),
            turnstile_verify_url=verify_url,
            log_level=_log_level(env),
            calendar_reply_address=_address(env, "CALENDAR_REPLY_ADDRESS"),
            organise_url=_url(env, "ORGANISE_URL"),
            organisers=_addresses(env, "ORGANISERS"),
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise MisconfiguredError(f"Missing required setting {name}")
    return value


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """An optional secret; `none` is none (what infra/ stores in Secret Manager for a secret not used)."""
    value = env.get(name, "")
    return None if value.strip().lower() in ("", NO_SECRET) else value


def _address(env: Mapping[str, str], name: str) -> str | None:
    """A bare address, normalised; None when not set."""
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        return str(email_validator.validate_email(value, check_deliverability=False).normalized)
    except email_validator.EmailNotValidError:
        raise MisconfiguredError(f"{name} must be a bare address, such as antwoord@example.nl, not {value!r}") from None


def _url(env: Mapping[str, str], name: str) -> str | None:
    """An absolute http(s) address without a trailing slash; None when not set."""
    value = env.get(name, "").strip().rstrip("/")
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise MisconfiguredError(f"{name} must be an absolute http(s) URL")
    return value


def _addresses(env: Mapping[str, str], name: str) -> frozenset[str]:
    """Comma-separated bare addresses, each checked, and kept as `mailbox` compares them (ASCII case aside)."""
    found = set()
    for part in env.get(name, "").split(","):
        if not part.strip():
            continue
        try:
            address = email_validator.validate_email(part.strip(), check_deliverability=False).normalized
        except email_validator.EmailNotValidError:
            raise MisconfiguredError(
                f"{name} must be bare addresses separated by commas, not {part.strip()!r}"
            ) from None
        found.add(mailbox(address))
    return frozenset(found)


def _log_level(env: Mapping[str, str]) -> str:
    value = env.get("LOG_LEVEL", "").strip().upper() or "INFO"
    value = "WARNING" if value == "WARN" else value
    if value not in LEVELS:
        raise MisconfiguredError(f"LOG_LEVEL must be one of {', '.join(LEVELS)}, not {value!r}")
    return value


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise MisconfiguredError(f"{name} must be true or false, not {value!r}")


def _whole(env: Mapping[str, str], name: str, *, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()):
        raise MisconfiguredError(f"{name} must be a whole number, 0 or more, not {value!r}")
    return int(value)


def _number(env: Mapping[str, str], name: str, *, default: float) -> float:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise MisconfiguredError(f"{name} must be a number of seconds, not {value!r}") from None
    if number < 0:
        raise MisconfiguredError(f"{name} must not be negative")
    return number


def _positive(env: Mapping[str, str], name: str, *, whole: bool) -> float | None:
    """A count (or rate) above zero; None when not set."""
    value = env.get(name, "").strip()
    if not value:
        return None
    kind = "a whole number" if whole else "a number"
    try:
        number = int(value) if whole else float(value)
    except ValueError:
        raise MisconfiguredError(f"{name} must be {kind} above zero, not {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise MisconfiguredError(f"{name} must be {kind} above zero, not {value!r}")
    return number


@dataclass(frozen=True)
class OrganiserSettings:
    """What the organisers' command reads from its environment: the project, and the functions' keys and settings
    for the commands that need them (a command that needs none works with the project alone)."""

    project: str
    env: Mapping[str, str]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, project: str | None = None) -> OrganiserSettings:
        env = dict(os.environ if env is None else env)
        project = (project or env.get("GOOGLE_CLOUD_PROJECT", "")).strip()
        if not project:
            raise MisconfiguredError("Missing required setting GOOGLE_CLOUD_PROJECT (or --project)")
        return cls(project, {**env, "GOOGLE_CLOUD_PROJECT": project})

    @cached_property
    def keys(self) -> KeyRing | None:
        """SIGNING_KEY as the functions have it, if it is set."""
        keys = self.env.get("SIGNING_KEY", "").strip()
        return KeyRing.parse(keys) if keys else None

    def require_keys(self) -> KeyRing:
        if self.keys is None:
            raise MisconfiguredError("Missing required setting SIGNING_KEY (the functions' key)")
        return self.keys

    @cached_property
    def functions(self) -> Settings:
        """The functions' own settings, read by their own rules."""
        return Settings.from_env(self.env)
