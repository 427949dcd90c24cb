"""Signing keys: a subkey per purpose (HKDF), keys of at least 32 random bytes, and rotation without broken links."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from signup import keys, service
from signup.errors import MisconfiguredError, NotFoundError
from signup.http.formtokens import FormTokenError, FormTokens
from signup.keys import KeyRing, SigningKey, decode_key, hkdf
from signup.settings import Settings
from signup.store.ids import registration_id
from signup.tokens import CancelTokens

from dev.mailbox import Mailbox
from tests.conftest import cancel_token
from tests.support import serve, token_in

Registrations = Callable[[str], list[dict[str, Any]]]
KEY_1 = base64.b64encode(b"rotation test: the first key, 32+ bytes").decode()
KEY_2 = b"rotation test: the second key, 32+ bytes".hex()
JAN = {"first_name": "Jan", "last_name": "Berg", "email": "jan@example.nl"}
PIET = {"first_name": "Piet", "last_name": "Jansen", "email": "piet@example.nl"}


class TestHkdf:
    @pytest.mark.parametrize(
        ("salt", "info", "expected"),
        [
            # RFC 5869, appendix A, test cases 1 and 3.
            (
                bytes(range(13)),
                bytes(range(0xF0, 0xFA)),
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
            ),
            (b"", b"", "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
        ],
    )
    def test_gives_the_rfc_5869_test_vectors(self, salt: bytes, info: bytes, expected: str) -> None:
        assert hkdf(b"\x0b" * 22, info, length=42, salt=salt).hex() == expected

    def test_every_purpose_gets_its_own_subkey_and_none_is_the_root_key(self) -> None:
        key = SigningKey(secrets.token_bytes(32))
        purposes = (keys.REGISTRATION_IDS, keys.CANCEL_LINKS, keys.FORMS, keys.RATE_LIMITS, keys.MAIL_CAPS)

        subkeys = {key.subkey(purpose) for purpose in purposes}

        assert len(subkeys) == len(purposes)
        assert key.root not in subkeys
        assert all(len(subkey) == 32 for subkey in subkeys)


class TestAKeyIs32RandomBytes:
    RAW = bytes(range(32))

    @pytest.mark.parametrize(
        "written",
        [
            base64.b64encode(RAW).decode(),  # openssl rand -base64 32
            base64.b64encode(RAW).decode().rstrip("="),
            base64.urlsafe_b64encode(RAW).decode().rstrip("="),  # secrets.token_urlsafe(32)
            RAW.hex(),  # openssl rand -hex 32
            RAW.hex().upper(),
            f"  {RAW.hex()}\n",  # as pasted into Secret Manager
        ],
    )
    def test_written_as_base64_or_hex(self, written: str) -> None:
        assert decode_key(written, "SIGNING_KEY") == self.RAW

    @pytest.mark.parametrize(
        "written",
        [
            "",
            "dev-only-signing-key-not-secret",  # a passphrase: not 32 random bytes, however long it looks
            "a-long-enough-signing-key-0123456789",
            base64.b64encode(RAW[:31]).decode(),
            RAW[:31].hex(),
            RAW.hex() + "0",
            base64.b64encode(RAW).decode() + "==",
            "é" * 64,
        ],
    )
    def test_anything_else_is_refused_with_the_setting_named(self, written: str) -> None:
        with pytest.raises(MisconfiguredError, match="SIGNING_KEY must be at least 32 random bytes"):
            decode_key(written, "SIGNING_KEY")

    def test_the_key_itself_is_never_in_a_repr(self) -> None:
        settings = Settings.from_env({**os.environ, "SIGNING_KEY": KEY_2})

        assert KEY_2 not in repr(settings)
        assert repr(bytes.fromhex(KEY_2)) not in repr(settings)


class TestTheKeyRing:
    def test_makes_new_things_with_the_current_key_and_keeps_the_previous_ones(self) -> None:
        ring = KeyRing.parse(f"{KEY_2}, {KEY_1} ,{KEY_2}")

        assert ring.current.root == bytes.fromhex(KEY_2)
        assert [key.root for key in ring.previous] == [base64.b64decode(KEY_1)]  # the current one is not repeated
        assert ring.subkeys(keys.REGISTRATION_IDS) == (
            ring.current.subkey(keys.REGISTRATION_IDS),
            ring.previous[0].subkey(keys.REGISTRATION_IDS),
        )
        assert ring.get(ring.previous[0].id) is ring.previous[0]
        assert ring.get("unknown") is None

    def test_a_key_id_is_short_stable_and_different_per_key(self) -> None:
        one, two = KeyRing.parse(KEY_1).current, KeyRing.parse(KEY_2).current

        assert one.id == KeyRing.parse(KEY_1).current.id
        assert one.id != two.id
        assert len(one.id) == 8
        assert one.id.isalnum()


class TestAFormAcrossARotation:
    SHOWN = datetime(2026, 6, 1, 12, tzinfo=UTC)
    POSTED = SHOWN + timedelta(minutes=1)

    def test_a_form_shown_before_the_rotation_posts_after_it(self) -> None:
        before = FormTokens(KeyRing.parse(KEY_1).subkeys(keys.FORMS))
        during = FormTokens(KeyRing.parse(f"{KEY_2},{KEY_1}").subkeys(keys.FORMS))
        token = before.issue("s1", self.SHOWN)

        assert during.check(token, "s1", self.POSTED) == before.check(token, "s1", self.POSTED)

    def test_a_new_form_is_made_with_the_new_key(self) -> None:
        during = FormTokens(KeyRing.parse(f"{KEY_2},{KEY_1}").subkeys(keys.FORMS))
        after = FormTokens(KeyRing.parse(KEY_2).subkeys(keys.FORMS))

        assert after.check(during.issue("s1", self.SHOWN), "s1", self.POSTED)

    def test_a_form_made_with_a_key_no_longer_kept_is_refused(self) -> None:
        before = FormTokens(KeyRing.parse(KEY_1).subkeys(keys.FORMS))
        after = FormTokens(KeyRing.parse(KEY_2).subkeys(keys.FORMS))

        with pytest.raises(FormTokenError, match="invalid"):
            after.check(before.issue("s1", self.SHOWN), "s1", self.POSTED)


def register_app(db: Any, env: dict[str, str]) -> Any:
    """`register` wired from these settings, as an instance with that environment would be."""
    return serve(service.build(Settings.from_env({**os.environ, **env}), client=db))


def test_a_key_rotates_without_breaking_links_or_losing_registrations(
    db: Any, inbox: Mailbox, make_session: Callable[..., str], registrations: Registrations
) -> None:
    session_id = make_session(capacity=5)
    one, two = KeyRing.parse(KEY_1), KeyRing.parse(f"{KEY_2},{KEY_1}")
    before = register_app(db, {"SIGNING_KEY": KEY_1})
    jan = before.post(f"/sessions/{session_id}/registrations", json=JAN).get_json()
    service.build_notifier(Settings.from_env({**os.environ, "SIGNING_KEY": KEY_1}), client=db).sweep(
        datetime.now(UTC) + timedelta(seconds=5)
    )
    old_link = token_in(inbox, "jan@example.nl")
    inbox.clear()

    # Rotation: key 2 makes everything new, key 1 is kept after it as the previous one.
    after = register_app(db, {"SIGNING_KEY": f"{KEY_2},{KEY_1}"})
    again = after.post(f"/sessions/{session_id}/registrations", json=JAN)
    piet = after.post(f"/sessions/{session_id}/registrations", json=PIET).get_json()
    service.build_notifier(Settings.from_env({**os.environ, "SIGNING_KEY": f"{KEY_2},{KEY_1}"}), client=db).sweep(
        datetime.now(UTC) + timedelta(seconds=5)
    )
    new_link = token_in(inbox, "piet@example.nl")

    # The repeat found Jan's registration under the id key 1 made; Piet's is under key 2's.
    assert jan["id"] == registration_id(one.subkey(keys.REGISTRATION_IDS), session_id, "jan@example.nl")
    assert again.status_code == 201
    assert again.get_json()["id"] == jan["id"]
    assert piet["id"] == registration_id(two.subkey(keys.REGISTRATION_IDS), session_id, "piet@example.nl")
    assert sorted(doc["id"] for doc in registrations(session_id)) == sorted([jan["id"], piet["id"]])
    # Links name their key: the old one key 1, the new one key 2, which key 1 alone does not accept.
    assert old_link.startswith(f"{one.current.id}.")
    assert new_link.startswith(f"{two.current.id}.")
    assert CancelTokens(two).read(new_link).registration_id == piet["id"]
    with pytest.raises(NotFoundError):
        CancelTokens(one).read(new_link)
    # The old link still cancels Jan's registration, through the rotated instance.
    assert after.get(f"/cancel/{old_link}").status_code == 200
    cancelled = after.post(f"/cancel/{old_link}")
    assert cancelled.status_code == 200
    assert {doc["id"]: doc["status"] for doc in registrations(session_id)} == {
        jan["id"]: "cancelled",
        piet["id"]: "confirmed",
    }
    # Signing up afresh after cancelling stays under the same id, one generation on.
    first = {doc["id"]: doc["generation"] for doc in registrations(session_id)}[jan["id"]]
    rejoined = after.post(f"/sessions/{session_id}/registrations", json=JAN).get_json()
    assert rejoined["id"] == jan["id"]
    assert {doc["id"]: doc["generation"] for doc in registrations(session_id)}[jan["id"]] > first


def test_a_retired_key_no_longer_opens_its_links(db: Any, make_session: Callable[..., str]) -> None:
    session_id = make_session()
    jan = register_app(db, {"SIGNING_KEY": KEY_1}).post(f"/sessions/{session_id}/registrations", json=JAN)
    link = cancel_token(session_id, jan.get_json()["id"], keys=KeyRing.parse(KEY_1))

    retired = register_app(db, {"SIGNING_KEY": KEY_2}).get(f"/cancel/{link}")

    assert retired.status_code == 404
