"""Settings come from the environment in one place; a missing or malformed one names itself."""

from __future__ import annotations

import pytest
from signup.errors import MisconfiguredError
from signup.settings import Settings

COMPLETE = {
    "GOOGLE_CLOUD_PROJECT": "demo-project",
    "PUBLIC_BASE_URL": "https://europe-west4-demo.cloudfunctions.net/register/",
    "SIGNING_KEY": "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=",  # 32 bytes, base64
}


def test_a_complete_environment_gives_frozen_settings() -> None:
    settings = Settings.from_env(COMPLETE)

    assert settings.project == "demo-project"
    assert settings.public_base_url == "https://europe-west4-demo.cloudfunctions.net/register"
    assert settings.public_origin == "https://europe-west4-demo.cloudfunctions.net"
    assert settings.check_deliverability is True
    with pytest.raises(AttributeError):
        settings.project = "other"  # type: ignore[misc]


@pytest.mark.parametrize("name", sorted(COMPLETE))
def test_a_missing_setting_names_itself(name: str) -> None:
    env = {key: value for key, value in COMPLETE.items() if key != name}

    with pytest.raises(MisconfiguredError, match=f"Missing required setting {name}"):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"PUBLIC_BASE_URL": "localhost:8080"}, "PUBLIC_BASE_URL"),
        ({"SIGNING_KEY": "short"}, "SIGNING_KEY"),
        # Long enough as text, but no 32 bytes of key: a passphrase, 31 bytes, and not base64 or hex at all.
        ({"SIGNING_KEY": "a-long-enough-signing-key-0123456789"}, "SIGNING_KEY"),
        ({"SIGNING_KEY": "ab" * 31}, "SIGNING_KEY"),
        ({"SIGNING_KEY": "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeA=="}, "SIGNING_KEY"),
        ({"SIGNING_KEY": "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=!"}, "SIGNING_KEY"),
        ({"SIGNING_KEY": "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=,short"}, r"SIGNING_KEY \(key 2 of 2\)"),
        ({"SIGNING_KEY": "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=,"}, r"SIGNING_KEY \(key 2 of 2\)"),
        ({"EMAIL_CHECK_DELIVERABILITY": "maybe"}, "EMAIL_CHECK_DELIVERABILITY"),
        ({"SESSION_CACHE_SECONDS": "soon"}, "SESSION_CACHE_SECONDS"),
        ({"SESSION_CACHE_SECONDS": "-1"}, "SESSION_CACHE_SECONDS"),
        ({"SMTP_UTF8": "utf8"}, "SMTP_UTF8"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL"),
    ],
)
def test_a_malformed_setting_names_itself(changes: dict[str, str], named: str) -> None:
    with pytest.raises(MisconfiguredError, match=named):
        Settings.from_env({**COMPLETE, **changes})


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("0", False), ("off", False), ("TRUE", True)])
def test_the_deliverability_check_can_be_switched(value: str, expected: bool) -> None:
    assert Settings.from_env({**COMPLETE, "EMAIL_CHECK_DELIVERABILITY": value}).check_deliverability is expected


@pytest.mark.parametrize(("value", "expected"), [(None, False), ("", False), ("true", True), ("no", False)])
def test_smtputf8_is_off_unless_the_relay_is_said_to_speak_it(value: str | None, expected: bool) -> None:
    env = COMPLETE if value is None else {**COMPLETE, "SMTP_UTF8": value}

    assert Settings.from_env(env).smtp_utf8 is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "INFO"), ("", "INFO"), ("debug", "DEBUG"), (" WARNING ", "WARNING"), ("warn", "WARNING")],
)
def test_the_log_level_is_info_unless_set(value: str | None, expected: str) -> None:
    env = COMPLETE if value is None else {**COMPLETE, "LOG_LEVEL": value}

    assert Settings.from_env(env).log_level == expected
