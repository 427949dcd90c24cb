"""The email workflow: `notify` sends each mail exactly once, through a real SMTP server, with real content."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from signup.ledger import outbox
from signup.ledger.writes import ATTEMPTS
from signup.service import build_notifier
from signup.settings import Settings
from signup.store.outbox import Claim, Outbox

from dev.mailbox import Mailbox
from tests import events
from tests.conftest import current_generation, sent_today
from tests.support import SUMMER, Clock, calendar_of, cancel, deliver, mail_state, parts, sign_up

Registrations = Callable[[str], list[dict[str, Any]]]


class TestTheConfirmation:
    def test_carries_the_session_the_person_and_the_links(
        self, client: Any, notify_app: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session(starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2))
        answer = sign_up(client, session_id)

        assert deliver(notify_app, events.created(session_id, answer["id"])) == 200

        [received] = inbox.received
        message = received.message
        text, html = parts(message)
        assert received.recipients == ["jan@example.nl"]
        assert message["To"].addresses[0].display_name == "Jan van der Berg"
        assert message["To"].addresses[0].addr_spec == "jan@example.nl"
        assert str(message["From"]) == "Strategiesessies <sessies@example.nl>"
        assert str(message["Reply-To"]) == "Anna de Vries <anna@example.nl>"
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["Date"].datetime.tzinfo is not None
        assert message["Subject"] == "Bevestiging: Strategiesessie, dinsdag 10 juni 2036, 16:00–18:00"
        for part in (text, html):
            assert "Beste Jan," in part
            assert "Aangemeld op naam van: Jan van der Berg" in part.replace("</strong>", "").replace("<strong>", "")
            assert "dinsdag 10 juni 2036, 16:00–18:00" in part
            assert "Grand Café Genieten" in part
            assert "https://www.google.com/maps/search/?api=1&" in part.replace("&amp;", "&")
            assert "https://calendar.google.com/calendar/render?action=TEMPLATE" in part
            assert "http://signup.test/cancel/" in part
        stored = mail_state(db, session_id, answer["id"])
        assert stored["state"] == "sent"
        assert stored["attempts"] == 1
        assert stored["message_id"] == message["Message-ID"]
        assert isinstance(stored["sent_at"], datetime)

    def test_attaches_an_rfc5545_invitation_with_a_stable_uid(
        self, client: Any, notify_app: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session(starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2))
        answer = sign_up(client, session_id)

        deliver(notify_app, events.created(session_id, answer["id"]))

        calendar = calendar_of(inbox.received[0].message)
        [event] = calendar.walk("VEVENT")
        assert calendar["METHOD"] == "REQUEST"
        generation = current_generation(session_id, answer["id"])
        assert event["UID"] == f"{answer['id']}.{generation}.{session_id}@example.nl"
        assert event.decoded("DTSTART") == SUMMER
        assert event.decoded("DTEND") == SUMMER + timedelta(hours=2)
        assert event["SUMMARY"] == "Strategiesessie"
        assert "Grand Café Genieten" in str(event["LOCATION"])
        assert str(event["ORGANIZER"]) == "mailto:anna@example.nl"

    def test_for_the_waiting_list_says_so_and_books_nothing(
        self, client: Any, notify_app: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session(capacity=0)
        answer = sign_up(client, session_id)

        deliver(notify_app, events.created(session_id, answer["id"]))

        message = inbox.received[0].message
        text, _ = parts(message)
        assert answer["status"] == "waitlisted"
        assert message["Subject"].startswith("Je staat op de wachtlijst")
        assert "wachtlijst" in text
        assert not [a for a in message.iter_attachments() if a.get_content_type() == "text/calendar"]

    def test_keeps_a_long_subject_intact(
        self, client: Any, notify_app: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        title = "Gratis strategiesessie voor ondernemers in Amsterdam-Oost en omgeving"
        session_id = make_session(title=title, starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2))
        answer = sign_up(client, session_id)

        deliver(notify_app, events.created(session_id, answer["id"]))

        assert inbox.received[0].message["Subject"] == f"Bevestiging: {title}, dinsdag 10 juni 2036, 16:00–18:00"
        message = inbox.received[0].message
        assert max(len(line) for line in inbox.received[0].raw.split(b"\r\n")) <= 998
        for part in message.walk():
            if not part.is_multipart():  # encoded bodies keep to the 76 characters of RFC 2045
                assert max(len(line) for line in str(part.get_payload()).splitlines()) <= 76

    def test_is_in_english_for_an_english_session(
        self, client: Any, notify_app: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session(language="en", starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2))
        answer = sign_up(client, session_id)

        deliver(notify_app, events.created(session_id, answer["id"]))

        message = inbox.received[0].message
        text, _ = parts(message)
        assert message["Subject"] == "Confirmed: Strategiesessie, Tuesday 10 June 2036, 16:00–18:00"
        assert "Dear Jan," in text

    def test_escapes_a_hostile_name_in_html_and_keeps_it_intact_in_text(
        self, client: Any, notify_app: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        hostile = '<script>alert("x")</script> & <b>Co</b>'
        answer = sign_up(client, session_id, first_name=hostile)

        deliver(notify_app, events.created(session_id, answer["id"]))

        text, html = parts(inbox.received[0].message)
        assert f"Beste {hostile}," in text
        assert "<script>" not in html
        assert "<b>Co</b>" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;Co&lt;/b&gt;" in html


class TestExactlyOnce:
    def test_the_same_event_ten_times_at_once_sends_one_mail(
        self, client: Any, notify_app: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        answer = sign_up(client, session_id)
        event = events.created(session_id, answer["id"], event_id="same-event")

        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(pool.map(lambda _: deliver(notify_app, event), range(10)))

        assert statuses == [200] * 10
        assert len(inbox.received) == 1
        assert mail_state(db, session_id, answer["id"])["attempts"] == 1

    def test_a_4xx_is_retried_by_the_sweep_and_delivered_once(
        self, client: Any, notify_app: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        answer = sign_up(client, session_id)
        inbox.refuse_next(1, "451 4.7.1 Greylisted, try again later")

        deliver(notify_app, events.created(session_id, answer["id"]))
        after_refusal = mail_state(db, session_id, answer["id"])
        now = datetime.now(UTC)
        too_soon = deliver(notify_app, events.tick(now + timedelta(seconds=10)))
        mails_too_soon = len(inbox.received)
        deliver(notify_app, events.tick(now + timedelta(minutes=2)))
        deliver(notify_app, events.tick(now + timedelta(minutes=30)))

        assert after_refusal["state"] == "pending"
        assert after_refusal["attempts"] == 1
        assert "451" in after_refusal["last_error"]
        assert after_refusal["next_attempt_at"] > now
        assert too_soon == 200
        assert mails_too_soon == 0
        assert len(inbox.received) == 1
        assert mail_state(db, session_id, answer["id"])["state"] == "sent"
        assert mail_state(db, session_id, answer["id"])["attempts"] == 2

    def test_a_5xx_is_failed_with_the_reason_and_never_retried(
        self, client: Any, notify_app: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        answer = sign_up(client, session_id)
        inbox.refuse_always("550 5.1.1 Mailbox does not exist")

        deliver(notify_app, events.created(session_id, answer["id"]))
        inbox.refuse_always(None)
        for days in (1, 2, 3):
            deliver(notify_app, events.tick(datetime.now(UTC) + timedelta(days=days)))

        stored = mail_state(db, session_id, answer["id"])
        assert stored["state"] == "failed"
        assert stored["attempts"] == 1
        assert "550" in stored["last_error"]
        assert inbox.received == []

    def test_passing_failures_give_up_after_the_last_attempt(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        answer = sign_up(client, session_id)
        inbox.refuse_always("421 4.3.2 Service shutting down")

        notifier.registration_written(session_id, answer["id"])
        now = datetime.now(UTC)
        for _ in range(outbox.MAX_ATTEMPTS + 2):
            now += timedelta(days=1)
            notifier.sweep(now)

        stored = mail_state(db, session_id, answer["id"])
        assert stored["state"] == "failed"
        assert stored["attempts"] == outbox.MAX_ATTEMPTS

    def test_a_sender_that_died_holding_the_lease_is_replaced_by_the_sweep_once_it_expires(
        self, client: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        answer = sign_up(client, session_id)
        ref = db.collection("sessions").document(session_id).collection("registrations").document(answer["id"])
        now = datetime.now(UTC)
        [died] = Outbox(db, lease=timedelta(minutes=2), message_domain="example.nl").claim(
            [ref.get()], now, leased_at=now
        )
        clock = Clock(now)
        notifier = build_notifier(Settings.from_env(), client=db, clock=clock)

        notifier.registration_written(session_id, answer["id"])
        clock.now = now + timedelta(minutes=1)
        notifier.sweep(clock.now)
        while_leased = len(inbox.received)
        clock.now = now + timedelta(minutes=3)
        notifier.sweep(clock.now)
        clock.now = now + timedelta(minutes=10)
        notifier.sweep(clock.now)

        assert died.keys == ("confirmation",)
        assert while_leased == 0
        assert len(inbox.received) == 1
        stored = mail_state(db, session_id, answer["id"])
        assert (stored["state"], stored["attempts"]) == ("sent", 2)
        assert (
            stored["message_id"] == died.mail("confirmation")["message_id"]
        )  # the same Message-ID lets receivers drop a duplicate

    def test_an_event_that_never_arrived_is_made_good_by_the_sweep(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        ids = [sign_up(client, session_id, email=f"person{n}@example.nl")["id"] for n in range(5)]

        report = notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))

        assert report.outcomes["sent"] >= 5
        assert sorted(r.recipients[0] for r in inbox.received) == [f"person{n}@example.nl" for n in range(5)]
        assert {mail_state(db, session_id, i)["state"] for i in ids} == {"sent"}


class TestReminders:
    def test_go_once_at_the_right_time_to_those_confirmed_before_they_were_due(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session(capacity=2, reminder_hours=[24])
        early = sign_up(client, session_id, email="early@example.nl")
        leaving = sign_up(client, session_id, email="leaving@example.nl")
        moved_up = sign_up(client, session_id, email="moved-up@example.nl")
        moved_up_late = sign_up(client, session_id, email="moved-up-late@example.nl")
        cancel(client, session_id, leaving["id"])  # moved_up takes the seat
        due = datetime.now(UTC)
        db.collection("sessions").document(session_id).update(
            {"starts_at": due + timedelta(hours=24), "ends_at": due + timedelta(hours=26)}
        )
        late = sign_up(client, session_id, email="late@example.nl")  # after the reminder was due: waiting list
        cancel(client, session_id, early["id"])  # moved_up_late takes the seat, after the reminder was due

        before = notifier.sweep(due - timedelta(minutes=1))
        at_due = notifier.sweep(due + timedelta(minutes=1))
        again = notifier.sweep(due + timedelta(minutes=6))

        received = inbox.received
        reminded = [r.recipients[0] for r in received if r.message["Subject"].startswith("Herinnering")]
        assert [moved_up["status"], moved_up_late["status"], late["status"]] == ["waitlisted"] * 3
        assert (before.reminders_queued, at_due.reminders_queued, again.reminders_queued) == (0, 1, 0)
        assert reminded == ["moved-up@example.nl"]
        assert mail_state(db, session_id, moved_up["id"], "reminder_24h")["state"] == "sent"
        assert "reminder_24h" not in _registration(db, session_id, moved_up_late["id"])["emails"]

    def test_are_not_sent_once_the_session_has_begun(
        self, client: Any, notifier: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session(reminder_hours=[24])
        sign_up(client, session_id)
        starts = datetime.now(UTC) + timedelta(days=30)

        report = notifier.sweep(starts + timedelta(minutes=1))

        assert report.reminders_queued == 0
        assert not [r for r in inbox.received if r.message["Subject"].startswith("Herinnering")]


def _registration(db: Any, session_id: str, registration_id: str) -> dict[str, Any]:
    ref = db.collection("sessions").document(session_id).collection("registrations").document(registration_id)
    data: dict[str, Any] = ref.get().to_dict()
    return data


class TestTheDailyCapPerAddress:
    def test_stops_the_form_from_flooding_an_inbox_and_spares_other_addresses(
        self, client: Any, db: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        make_session()  # an empty database
        from dataclasses import replace

        notifier = build_notifier(replace(Settings.from_env(), mail_cap_per_day=2), client=db)
        victim = [sign_up(client, make_session_keep(db, n), email="victim@example.nl")["id"] for n in range(4)]
        sign_up(client, "s-keep-0", email="other@example.nl")

        report = notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))
        later = notifier.sweep(datetime.now(UTC) + timedelta(hours=1))

        recipients = [r.recipients[0] for r in inbox.received]
        assert recipients.count("victim@example.nl") == 2
        assert recipients.count("other@example.nl") == 1
        assert report.outcomes["skipped"] == 2
        assert later.outcomes == {}
        states = [mail_state(db, f"s-keep-{n}", victim[n])["state"] for n in range(4)]
        assert sorted(states) == ["sent", "sent", "skipped", "skipped"]
        skipped = [mail_state(db, f"s-keep-{n}", victim[n]) for n in range(4)]
        assert all("cap" in m["last_error"] for m in skipped if m["state"] == "skipped")

    def test_holds_when_each_mail_is_sent_by_its_own_event_at_the_same_moment(
        self, client: Any, db: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        from dataclasses import replace

        session_id = make_session()
        notifier = build_notifier(replace(Settings.from_env(), mail_cap_per_day=2), client=db)
        ids = [sign_up(client, session_id, email=f"target+{n}@example.nl")["id"] for n in range(8)]

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda rid: notifier.registration_written(session_id, rid), ids))

        assert len([r for r in inbox.received if r.recipients[0].startswith("target+")]) == 2
        states = sorted(mail_state(db, session_id, rid)["state"] for rid in ids)
        assert states == ["sent", "sent", *["skipped"] * 6]
        # What was counted and not sent was given back: the mailbox's count for the day is the two that went.
        assert sent_today(db, "target@example.nl") == 2


class TestMailAfterAnOrganisersChange:
    def test_is_composed_from_the_session_as_it_is_now_whatever_an_instance_read_before(
        self, client: Any, db: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        from dataclasses import replace

        session_id = make_session(starts_at=SUMMER, ends_at=SUMMER + timedelta(hours=2))
        # One instance of `notify`, with sessions cached as long as `register` caches them in production and more.
        instance = build_notifier(replace(Settings.from_env(), session_cache_seconds=300), client=db)
        first = sign_up(client, session_id, email="eerst@example.nl")["id"]
        instance.registration_written(session_id, first)
        # The organiser moves the session a day on; another instance announces it to those signed up.
        later = SUMMER + timedelta(days=1)
        db.collection("sessions").document(session_id).update(
            {"starts_at": later, "ends_at": later + timedelta(hours=2), "revision": 1}
        )
        then = sign_up(client, session_id, email="daarna@example.nl")["id"]
        instance.registration_written(session_id, then)

        [_, received] = inbox.received
        text, _ = parts(received.message)
        assert received.recipients == ["daarna@example.nl"]
        assert "woensdag 11 juni 2036, 16:00–18:00" in text
        [event] = calendar_of(received.message).walk("VEVENT")
        assert event.decoded("DTSTART") == later
        assert event.decoded("SEQUENCE") == 2
        assert mail_state(db, session_id, then)["state"] == "sent"


def make_session_keep(db: Any, n: int) -> str:
    """Sessions with fixed ids, made after the test's make_session emptied the database."""
    from tests.conftest import session_fields

    db.collection("sessions").document(f"s-keep-{n}").set(session_fields())
    return f"s-keep-{n}"


class TestOneBadMailDoesNotStopTheRest:
    def test_a_session_that_cannot_work_holds_up_only_its_own_mail(
        self, client: Any, notifier: Any, inbox: Mailbox, db: Any, make_session: Callable[..., str]
    ) -> None:
        good = make_session()
        bad = make_session()
        good_id = sign_up(client, good, email="piet@example.nl")["id"]
        bad_id = sign_up(client, bad, email="kees@example.nl")["id"]
        # An organiser edits the session in the console after people signed up, and gets the address wrong.
        db.collection("sessions").document(bad).update({"organiser": {"name": "Anna", "email": "Anna <anna@x.nl>"}})

        notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))
        notifier.sweep(datetime.now(UTC) + timedelta(minutes=2))

        assert [r.recipients[0] for r in inbox.received] == ["piet@example.nl"]
        assert mail_state(db, good, good_id)["state"] == "sent"
        stuck = mail_state(db, bad, bad_id)
        assert stuck["state"] == "pending"
        assert "MisconfiguredError" in stuck["last_error"]

    def test_an_unforeseen_error_in_one_send_leaves_the_others_recorded_and_sends_nothing_twice(
        self,
        client: Any,
        notifier: Any,
        inbox: Mailbox,
        db: Any,
        make_session: Callable[..., str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from signup.mail.transport import smtp

        session_id = make_session()
        ids = {name: sign_up(client, session_id, email=f"{name}@example.nl")["id"] for name in ("anna", "bert", "cor")}
        real_send = smtp.Connection.send

        def send(connection: Any, message: Any, sender: str, recipient: str) -> None:
            if recipient.startswith("bert@"):
                raise RuntimeError("a fault nobody foresaw")
            real_send(connection, message, sender, recipient)

        monkeypatch.setattr(smtp.Connection, "send", send)
        notifier.sweep(datetime.now(UTC) + timedelta(seconds=5))
        monkeypatch.setattr(smtp.Connection, "send", real_send)
        notifier.sweep(datetime.now(UTC) + timedelta(minutes=2))

        assert sorted(r.recipients[0] for r in inbox.received) == [
            "anna@example.nl",
            "bert@example.nl",
            "cor@example.nl",
        ]
        assert {name: mail_state(db, session_id, rid)["state"] for name, rid in ids.items()} == dict.fromkeys(
            ids, "sent"
        )
        assert mail_state(db, session_id, ids["bert"])["attempts"] == 2


class AlwaysAhead:
    """The emulator's client, with another writer changing a registration just before each of our conditional writes
    of it (once watching): a field nobody reads, until the `resend_at`-th write, before which it queues the
    confirmation anew, as `signup resend` does."""

    def __init__(self, db: Any, ref: Any, resend_at: int) -> None:
        self._db, self._ref, self._resend_at = db, ref, resend_at
        self.watching, self.writes, self.resent = False, 0, False

    def write_option(self, **precondition: Any) -> Any:
        if self.watching:
            self.writes += 1
            if self.writes == self._resend_at:
                self._ref.update(outbox.pending_update("confirmation"))
                self.resent = True
            elif self.writes < self._resend_at:
                self._ref.update({"touched": self.writes})
        return self._db.write_option(**precondition)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


class TestTheSweepMendingMailDueAt:
    def test_leaves_a_mail_queued_since_it_read_the_registration_due(
        self, client: Any, notifier: Any, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        answer = sign_up(client, session_id)
        ref = db.collection("sessions").document(session_id).collection("registrations").document(answer["id"])
        long_ago = datetime.now(UTC) - timedelta(days=1)
        # Sent, with a `mail_due_at` left behind: what the sweep mends when it finds it.
        ref.update(
            {"emails.confirmation.state": "sent", "emails.confirmation.sent_at": long_ago, "mail_due_at": long_ago}
        )
        found = ref.get()
        ref.update(outbox.pending_update("confirmation"))  # `signup resend`, between the sweep's read and its write

        notifier._mend_due(found, datetime.now(UTC))

        stored = ref.get().to_dict()
        assert stored["emails"]["confirmation"]["state"] == "pending"
        assert stored["mail_due_at"] is not None


class TestOneBadSessionDoesNotStopTheSweep:
    @pytest.mark.parametrize(
        ("spoil", "logged"),
        [
            ("a reminder ten billion hours ahead", "reminder_hours"),  # once an OverflowError for every session
            ("a registration's time edited into text", "TypeError"),  # comparing it with a time fails
        ],
    )
    def test_is_logged_counted_and_the_other_sessions_get_their_reminders(
        self,
        client: Any,
        notifier: Any,
        db: Any,
        make_session: Callable[..., str],
        caplog: pytest.LogCaptureFixture,
        spoil: str,
        logged: str,
    ) -> None:
        good, bad = make_session(reminder_hours=[24]), make_session(reminder_hours=[24])
        good_id = sign_up(client, good, email="piet@example.nl")["id"]
        bad_id = sign_up(client, bad, email="kees@example.nl")["id"]
        if logged == "reminder_hours":
            db.collection("sessions").document(bad).update({"reminder_hours": [1e10]})
        else:
            db.collection("sessions", bad, "registrations").document(bad_id).update({"confirmed_at": "gisteren"})
        starts = db.collection("sessions").document(good).get().get("starts_at")

        with caplog.at_level(logging.ERROR):
            report = notifier.sweep(starts - timedelta(hours=23))

        assert (report.sessions_failed, report.reminders_queued) == (1, 1), spoil
        assert "reminder_24h" in _registration(db, good, good_id)["emails"]
        assert "reminder_24h" not in _registration(db, bad, bad_id)["emails"]
        [line] = [r.getMessage() for r in caplog.records if bad in r.getMessage()]
        assert logged in line


class TestLeases:
    def test_run_from_when_the_claim_is_made_not_from_the_ticks_time(
        self, client: Any, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        answer = sign_up(client, session_id)
        ref = db.collection("sessions").document(session_id).collection("registrations").document(answer["id"])
        tick = datetime.now(UTC) - timedelta(minutes=10)  # a sweep that has been busy for ten minutes
        made = datetime.now(UTC)

        [claim] = Outbox(db, lease=timedelta(minutes=2), message_domain="example.nl").claim(
            [ref.get()], tick, leased_at=made
        )

        assert claim.mail("confirmation")["lease_until"] == made + timedelta(minutes=2)

    def test_are_judged_by_the_clock_so_a_tick_for_a_later_moment_leaves_a_mail_being_sent_alone(
        self, client: Any, db: Any, notifier: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        answer = sign_up(client, session_id)
        ref = db.collection("sessions").document(session_id).collection("registrations").document(answer["id"])
        made = datetime.now(UTC)
        box = Outbox(db, lease=timedelta(minutes=5), message_domain="example.nl")
        [sending] = box.claim([ref.get()], made, leased_at=made)  # another instance, handing it to SMTP right now

        report = notifier.sweep(made + timedelta(hours=7))  # a run for the moment a reminder falls due
        box.record([(sending, {"confirmation": outbox.Outcome(outbox.MailState.SENT)})], made)

        assert report.outcomes == {}
        assert inbox.received == []
        stored = mail_state(db, session_id, answer["id"])
        assert (stored["state"], stored["attempts"]) == ("sent", 1)

    def test_a_mail_is_not_sent_when_its_claim_would_run_out_before_the_mail_server_answers(
        self, client: Any, db: Any, inbox: Mailbox, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        answer = sign_up(client, session_id)
        hurried = build_notifier(Settings.from_env(), client=db, lease=timedelta(seconds=1))

        hurried.registration_written(session_id, answer["id"])

        stored = mail_state(db, session_id, answer["id"])
        assert inbox.received == []
        assert (stored["state"], stored["last_error"]) == ("pending", "not sent before its claim ran out")

    def test_nor_by_its_outcome_recorded_after_every_conditional_write_met_a_change(
        self, client: Any, db: Any, make_session: Callable[..., str]
    ) -> None:
        session_id = make_session()
        answer = sign_up(client, session_id)
        ref = db.collection("sessions").document(session_id).collection("registrations").document(answer["id"])
        now = datetime.now(UTC)
        writer = AlwaysAhead(db, ref, resend_at=1 + ATTEMPTS)  # the commit, then each write of its own
        box = Outbox(writer, lease=timedelta(minutes=2), message_domain="example.nl")
        [claim] = box.claim([ref.get()], now, leased_at=now)
        writer.watching = True

        box.record([(claim, {"confirmation": outbox.Outcome(outbox.MailState.SENT)})], now)

        assert writer.resent
        assert mail_state(db, session_id, answer["id"])["state"] == "pending"

    def test_a_mail_queued_again_while_the_old_one_was_sending_is_not_overwritten_by_its_outcome(
        self, client: Any, db: Any, make_session: Callable[..., str]
    ) -> None:
        ref, box, claim, now = claimed_sign_up(client, db, make_session)

        ref.update(outbox.pending_update("confirmation"))  # `signup resend`, while the first is still on its way
        box.record([(claim, {"confirmation": outbox.Outcome(outbox.MailState.SENT)})], now)

        assert mail_state(db, ref.parent.parent.id, ref.id)["state"] == "pending"

    def test_the_organizer_of_an_entry_that_went_is_kept_though_its_mail_was_queued_again_meanwhile(
        self, client: Any, db: Any, make_session: Callable[..., str]
    ) -> None:
        ref, box, claim, now = claimed_sign_up(client, db, make_session)

        ref.update(outbox.pending_update("confirmation"))  # queued again while the first, with its entry, went
        box.record([(claim, {"confirmation": outbox.Outcome(outbox.MailState.SENT, organizer="anna@example.nl")})], now)

        stored = ref.get().to_dict()
        assert stored["emails"]["confirmation"]["state"] == "pending"
        assert stored["calendar_organizer"] == "anna@example.nl"

    def test_nor_is_it_kept_for_a_sign_up_made_again_meanwhile_whose_entry_is_another(
        self, client: Any, db: Any, make_session: Callable[..., str]
    ) -> None:
        ref, box, claim, now = claimed_sign_up(client, db, make_session)
        cancel(client, ref.parent.parent.id, ref.id)
        assert sign_up(client, ref.parent.parent.id)["id"] == ref.id

        box.record([(claim, {"confirmation": outbox.Outcome(outbox.MailState.SENT, organizer="anna@example.nl")})], now)

        stored = ref.get().to_dict()
        assert stored["emails"]["confirmation"]["state"] == "pending"
        assert "calendar_organizer" not in stored


def claimed_sign_up(client: Any, db: Any, make_session: Callable[..., str]) -> tuple[Any, Outbox, Claim, datetime]:
    """A sign-up whose confirmation an instance has claimed and is sending: the registration, the outbox that
    claimed it, the claim, and when."""
    session_id = make_session()
    answer = sign_up(client, session_id)
    ref = db.collection("sessions").document(session_id).collection("registrations").document(answer["id"])
    box = Outbox(db, lease=timedelta(minutes=2), message_domain="example.nl")
    now = datetime.now(UTC)
    [claim] = box.claim([ref.get()], now, leased_at=now)
    return ref, box, claim, now
