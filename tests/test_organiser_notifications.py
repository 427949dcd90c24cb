"""The organiser hears of sign-ups: a mail for each sign-up and cancellation, or one digest a day at 08:00."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from signup import dates
from signup.errors import MisconfiguredError
from signup.ledger.session import parse_session

from dev.mailbox import Mailbox, Received
from tests import events
from tests.conftest import sent_today, session_fields
from tests.support import cancel, deliver, parts, sign_up

ANNA = "anna@example.nl"
PIET = {"first_name": "Piet", "infix": "", "last_name": "Jansen", "email": "piet@example.nl", "organisation": ""}


def to_organiser(inbox: Mailbox) -> list[Received]:
    return [r for r in inbox.received if r.recipients == [ANNA]]


def stored(db: Any, session_id: str, registration_id: str) -> dict[str, Any]:
    ref = db.collection("sessions").document(session_id).collection("registrations").document(registration_id)
    data: dict[str, Any] = ref.get().to_dict()
    return data


class TestEach:
    def test_a_sign_up_and_a_cancellation_each_reach_the_organiser_once_with_who_and_the_seats_left(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session(capacity=5, organiser_notifications="each")
        jan = sign_up(client, session_id)
        queued = stored(db, session_id, jan["id"])["emails"]["organiser_created"]

        for _ in range(2):  # the same event twice
            notifier.registration_written(session_id, jan["id"])
        after_sign_up = len(to_organiser(inbox))
        cancel(client, session_id, jan["id"])
        notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))
        notifier.sweep(datetime.now(UTC) + timedelta(minutes=10))

        assert queued == {"state": "pending"}
        assert after_sign_up == 1
        created, cancelled = (r.message for r in to_organiser(inbox))
        assert created["Subject"] == "Nieuwe aanmelding: Jan van der Berg, Strategiesessie"
        assert cancelled["Subject"] == "Afmelding: Jan van der Berg, Strategiesessie"
        assert str(created["To"]) == "Anna de Vries <anna@example.nl>"
        assert str(created["From"]) == "Strategiesessies <sessies@example.nl>"
        created_text, created_html = parts(created)
        cancelled_text, _ = parts(cancelled)
        # A notice to the organiser, not a letter: no greeting by their own full name, no reply to themselves.
        assert created_text.startswith("Er is een nieuwe aanmelding voor “Strategiesessie”.\n\n")
        assert "Anna de Vries" not in created_text
        assert created["Reply-To"] is None
        for part in (created_text, created_html):
            assert "Naam: Jan van der Berg" in part
            assert "Organisatie: Gemeente Amsterdam" in part
            assert "Status: aangemeld" in part
            assert "Er zijn nog 4 plaatsen vrij." in part
            assert "jan@example.nl" not in part  # the organiser is told who, not where to write
            assert "/cancel/" not in part  # and gets no link to cancel someone else
            assert "Vragen? Beantwoord" not in part
        assert "Naam: Jan van der Berg<br>\nOrganisatie: Gemeente Amsterdam<br>\nStatus: aangemeld" in created_html
        assert "Status: afgemeld" in cancelled_text
        assert "Er zijn nog 5 plaatsen vrij." in cancelled_text
        emails = stored(db, session_id, jan["id"])["emails"]
        assert [
            (emails[key]["state"], emails[key]["attempts"]) for key in ("organiser_created", "organiser_cancelled")
        ] == [
            ("sent", 1),
            ("sent", 1),
        ]
        assert [r.recipients for r in inbox.received].count(["jan@example.nl"]) == 2  # confirmation, cancellation

    @pytest.mark.parametrize(
        ("language", "capacity", "subject", "lines"),
        [
            (
                "nl",
                0,
                "Nieuwe aanmelding: Jan van der Berg, Strategiesessie",
                ["Status: op de wachtlijst", "De sessie is vol: wie zich nu aanmeldt, komt op de wachtlijst."],
            ),
            ("nl", None, "Nieuwe aanmelding: Jan van der Berg, Strategiesessie", ["geen maximum aantal plaatsen"]),
            ("en", 2, "New sign-up: Jan van der Berg, Strategiesessie", ["Status: signed up", "1 seat is left."]),
            (
                "en",
                0,
                "New sign-up: Jan van der Berg, Strategiesessie",
                ["Status: on the waiting list", "The session is full: whoever signs up now goes on the waiting list."],
            ),
        ],
    )
    def test_says_the_status_and_seats_in_the_sessions_language(
        self,
        language: str,
        capacity: int | None,
        subject: str,
        lines: list[str],
        client: Any,
        notifier: Any,
        inbox: Mailbox,
        make_session: Callable[..., str],
    ) -> None:
        session_id = make_session(capacity=capacity, language=language, organiser_notifications="each")
        jan = sign_up(client, session_id)

        notifier.registration_written(session_id, jan["id"])

        [received] = to_organiser(inbox)
        text, _ = parts(received.message)
        assert received.message["Subject"] == subject
        assert all(line in text for line in lines)

    def test_a_name_that_looks_like_html_stays_text(
        self, client: Any, notifier: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session(organiser_notifications="each")
        answer = sign_up(client, session_id, first_name="<b>Jan</b>", last_name="<a href=x>Berg</a>", infix="")

        notifier.registration_written(session_id, answer["id"])

        _, html = parts(to_organiser(inbox)[0].message)
        assert "&lt;b&gt;Jan&lt;/b&gt; &lt;a href=x&gt;Berg&lt;/a&gt;" in html
        assert "<b>Jan</b>" not in html
        assert "<a href=x>" not in html

    def test_the_organisers_mails_do_not_count_against_the_daily_cap_of_an_address(
        self, client: Any, db: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        from signup.service import build_notifier
        from signup.settings import Settings

        session_id = make_session(organiser_notifications="each")
        capped = build_notifier(replace(Settings.from_env(), mail_cap_per_day=1), client=db)
        for n in range(3):
            sign_up(client, session_id, email=f"person{n}@example.nl")

        report = capped.sweep(datetime.now(UTC) + timedelta(seconds=5))

        assert len(to_organiser(inbox)) == 3
        assert report.outcomes == {"sent": 6}
        assert sent_today(db, ANNA) == 0

    def test_nothing_is_queued_for_the_organiser_by_default(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        jan = sign_up(client, session_id)
        cancel(client, session_id, jan["id"])

        notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))

        assert sorted(stored(db, session_id, jan["id"])["emails"]) == ["cancellation", "confirmation"]
        assert to_organiser(inbox) == []


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"organiser_notifications": "weekly"}, "organiser_notifications must be one of none, each, daily"),
        ({"organiser_notifications": "daily", "organiser": {"name": "Anna"}}, "needs organiser.email"),
        ({"organiser_notifications": "each", "organiser": None}, "needs organiser.email"),
    ],
)
def test_a_notification_setting_that_cannot_work_names_itself(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(MisconfiguredError, match=named):
        parse_session("s", session_fields(**fields))


def next_eight(zone: ZoneInfo) -> datetime:
    """The first 08:00 in `zone` after now: the digest sent then covers the sign-ups of a moment ago."""
    local = datetime.now(zone)
    day = local.date() + timedelta(days=1 if local.hour >= 8 else 0)
    return datetime.combine(day, time(8), tzinfo=zone).astimezone(UTC)


class TestDaily:
    def test_one_digest_a_day_at_eight_with_what_changed_even_from_three_ticks_at_once(
        self, client: Any, notify_app: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session(capacity=5, organiser_notifications="daily")
        sign_up(client, session_id)
        piet = sign_up(client, session_id, **PIET)
        cancel(client, session_id, piet["id"])
        eight = next_eight(ZoneInfo("Europe/Amsterdam"))

        notifier.sweep(eight - timedelta(minutes=1))
        before_eight = len(to_organiser(inbox))
        with ThreadPoolExecutor(3) as pool:
            statuses = list(
                pool.map(lambda _: deliver(notify_app, events.tick(eight + timedelta(minutes=1))), range(3))
            )
        notifier.sweep(eight + timedelta(minutes=10))
        notifier.sweep(eight + timedelta(days=1, minutes=1))  # a day without changes

        assert statuses == [200, 200, 200]
        assert before_eight == 0
        [digest] = (r.message for r in to_organiser(inbox))
        text, html = parts(digest)
        zone = ZoneInfo("Europe/Amsterdam")
        since, until = dates.moment(eight - timedelta(days=1), zone, "nl"), dates.moment(eight, zone, "nl")
        assert digest["Subject"] == "Aanmeldingen Strategiesessie: 2 nieuw, 1 afgemeld"
        assert str(digest["To"]) == "Anna de Vries <anna@example.nl>"
        # yesterday 08:00 to today 08:00, in words
        assert f"Aanmeldingen en afmeldingen voor “Strategiesessie” tussen {since} en {until}:\n\n" in text
        assert (
            "Nieuwe aanmeldingen (2):\n- Jan van der Berg (Gemeente Amsterdam), aangemeld\n"
            "- Piet Jansen, inmiddels afgemeld\n"
        ) in text
        assert "Afmeldingen (1):\n- Piet Jansen\n" in text
        assert "- Piet Jansen\n\nEr zijn nog 4 plaatsen vrij.\n\n" in text
        assert "- Jan van der Berg (Gemeente Amsterdam), aangemeld<br>\n- Piet Jansen" in html
        assert "/cancel/" not in text
        digests = {
            doc.id: doc.to_dict()
            for doc in db.collection("sessions").document(session_id).collection("digests").stream()
        }
        assert len(digests) == 3
        quiet_before, busy, quiet_after = (digests[day] for day in sorted(digests))
        assert (quiet_before["changes"], busy["changes"], quiet_after["changes"]) == (0, 3, 0)
        assert "emails" not in quiet_before
        assert "emails" not in quiet_after
        assert (busy["since"], busy["until"]) == (quiet_before["until"], eight)
        assert quiet_after["since"] == eight
        assert (busy["emails"]["organiser_digest"]["state"], busy["emails"]["organiser_digest"]["attempts"]) == (
            "sent",
            1,
        )
        assert busy["mail_due_at"] is None

    def test_a_digest_the_mail_server_refused_is_sent_later_once(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session(organiser_notifications="daily")
        sign_up(client, session_id)
        eight = next_eight(ZoneInfo("Europe/Amsterdam"))
        notifier.sweep(eight - timedelta(minutes=1))  # the confirmation goes
        inbox.refuse_next(1, "451 4.7.1 Greylisted, try again later")

        notifier.sweep(eight + timedelta(minutes=1))
        refused = len(to_organiser(inbox))
        notifier.sweep(eight + timedelta(minutes=5))
        notifier.sweep(eight + timedelta(minutes=30))

        assert refused == 0
        assert len(to_organiser(inbox)) == 1
        [busy] = [
            doc.to_dict()
            for doc in db.collection("sessions").document(session_id).collection("digests").stream()
            if doc.get("changes")
        ]
        mail = busy["emails"]["organiser_digest"]
        assert (mail["state"], mail["attempts"]) == ("sent", 2)

    def test_no_digest_for_a_session_that_is_over_or_asks_for_none(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
    ) -> None:
        asks_none = make_session()
        sign_up(client, asks_none)
        eight = next_eight(ZoneInfo("Europe/Amsterdam"))

        notifier.sweep(eight + timedelta(minutes=1))
        over = make_session(
            organiser_notifications="daily", starts_at=eight - timedelta(days=3), ends_at=eight - timedelta(days=2)
        )
        notifier.sweep(eight + timedelta(minutes=2))

        assert to_organiser(inbox) == []
        for session_id in (asks_none, over):
            assert list(db.collection("sessions").document(session_id).collection("digests").stream()) == []


@pytest.mark.parametrize(
    ("zone", "now", "cutoff"),
    [
        ("Europe/Amsterdam", datetime(2026, 12, 2, 7, 30, tzinfo=UTC), datetime(2026, 12, 2, 7, 0, tzinfo=UTC)),
        ("Europe/Amsterdam", datetime(2026, 12, 2, 6, 59, tzinfo=UTC), datetime(2026, 12, 1, 7, 0, tzinfo=UTC)),
        # The night summer time begins: 08:00 is 07:00 UTC the day before, 06:00 UTC that day.
        ("Europe/Amsterdam", datetime(2026, 3, 29, 5, 30, tzinfo=UTC), datetime(2026, 3, 28, 7, 0, tzinfo=UTC)),
        ("Europe/Amsterdam", datetime(2026, 3, 29, 6, 0, tzinfo=UTC), datetime(2026, 3, 29, 6, 0, tzinfo=UTC)),
        ("America/New_York", datetime(2026, 12, 2, 12, 59, tzinfo=UTC), datetime(2026, 12, 1, 13, 0, tzinfo=UTC)),
        ("America/New_York", datetime(2026, 12, 2, 13, 0, tzinfo=UTC), datetime(2026, 12, 2, 13, 0, tzinfo=UTC)),
    ],
)
def test_the_digest_window_ends_at_the_latest_eight_oclock_in_the_sessions_own_time_zone(
    zone: str, now: datetime, cutoff: datetime
) -> None:
    from signup.mail.digest import cutoff as window_end

    session = parse_session("s", session_fields(timezone=zone))

    assert window_end(session, now) == cutoff
