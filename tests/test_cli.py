"""The organisers' command line `signup`, against the emulator, through the same code as the functions."""

from __future__ import annotations

import csv
import io
import re
import shutil
import stat
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from signup.errors import MisconfiguredError
from signup.http import formtokens
from signup.ledger.session import parse_session
from signup.organisers import cli, export, organiser

from tests.conftest import ROOT, session_fields
from tests.support import Clock, register, token_on

Registrations = Callable[[str], list[dict[str, Any]]]
EXAMPLE = (ROOT / "examples/session.toml").read_text()
GIT = shutil.which("git") or "/usr/bin/git"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def session_file(tmp_path: Path, text: str = EXAMPLE, **replace: str) -> Path:
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "session.toml"
    path.write_text(text, encoding="utf-8")
    return path


def sign_up(client: Any, session_id: str, first: str, infix: str, last: str, email: str, **extra: str) -> str:
    response = client.post(
        f"/sessions/{session_id}/registrations",
        json={"first_name": first, "infix": infix, "last_name": last, "email": email, "consent": "on", **extra},
    )
    assert response.status_code == 201, response.get_json()
    answer: str = response.get_json()["id"]
    return answer


@pytest.fixture
def example(tmp_path: Path, make_session: Callable[..., str]) -> str:
    """The example session, created through the command line (make_session only empties the database)."""
    code, said = run("sessions", "create", str(session_file(tmp_path)))
    assert (code, said) == (0, "created session strategiesessie-juni\n")
    return "strategiesessie-juni"


def test_a_session_from_a_toml_file_works_for_sign_ups_and_can_be_updated(
    tmp_path: Path, client: Any, db: Any, example: str
) -> None:
    stored = db.collection("sessions").document(example).get().to_dict()
    page = client.get(f"/sessions/{example}").get_data(as_text=True)
    code, said = run("sessions", "create", str(session_file(tmp_path, **{"capacity = 20": "capacity = 25"})))

    assert stored["starts_at"] == datetime(2027, 6, 8, 14, 0, tzinfo=UTC)
    assert stored["location"]["name"] == "Grand Café Genieten bij stadsdeelkantoor Oost"
    assert "dinsdag 8 juni 2027, 16:00–18:00" in page
    assert (code, said) == (0, "updated session strategiesessie-juni\n")
    assert db.collection("sessions").document(example).get().get("capacity") == 25


def documented_session_fields() -> dict[str, tuple[str, str]]:
    """The table "The data, as organisers see it in the console" of the README: field -> (type, meaning)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The data, as organisers see it in the console", 1)[1].split("\n## ", 1)[0]
    table = section.split("| field | type | meaning |", 1)[1].split("\n\n", 1)[0]
    fields = {}
    for row in table.strip().splitlines()[1:]:
        names, kind, meaning = (cell.strip() for cell in row.strip("|").split("|"))
        for name in re.findall(r"`([a-z_]+)`", names):
            fields[name] = (kind, meaning)
    return fields


# A value for each documented type, as a TOML value; a field whose type is new here names itself in a KeyError.
SAMPLE_BY_TYPE = {
    "timestamp": "2027-06-01T12:00:00+02:00",
    "integer": "7",
    "number": "1.5",
    "boolean": "true",
    "array of strings": '["https://www.example.nl", "https://example.org"]',
    "array of numbers": "[48, 2.5]",
}
SAMPLE_BY_NAME = {
    "starts_at": "2027-06-08T16:00:00+02:00",
    "ends_at": "2027-06-08T18:00:00+02:00",
    "email": '"anna@example.nl"',
    "co_organisers": '["kees@example.nl"]',
}
# The least a session needs, to try a field's value on.
MINIMAL_SESSION = {
    "title": "Sessie",
    "starts_at": datetime(2027, 6, 8, 14, tzinfo=UTC),
    "ends_at": datetime(2027, 6, 8, 16, tzinfo=UTC),
    "organiser": {"name": "Anna", "email": "anna@example.nl"},
}


def sample(name: str, kind: str, meaning: str = "") -> str:
    """A TOML value for a documented field (or map entry) that the functions accept.

    A string is the first the functions take of: an address (for a `..._url`), a plain text, and each value that
    the README's meaning names in backticks (a time zone, a language, a choice of words).
    """
    if name in SAMPLE_BY_NAME:
        return SAMPLE_BY_NAME[name]
    if kind.startswith("map "):
        entries = ", ".join(f"{key} = {sample(key, 'string')}" for key in re.findall(r"`([a-z_]+)`", kind))
        return "{ " + entries + " }"
    if kind != "string":
        return SAMPLE_BY_TYPE[kind]
    candidates = [f'"https://www.example.nl/{name}"'] if name.endswith("_url") else []
    candidates += [f'"{name} value"', *(f'"{word}"' for word in re.findall(r"`([^`]+)`", meaning))]
    return next(value for value in candidates if accepted(name, value))


def accepted(name: str, value: str) -> bool:
    try:
        parse_session("sample", {**MINIMAL_SESSION, name: tomllib.loads(f"v = {value}")["v"]})
    except MisconfiguredError:
        return False
    return True


def stored(db: Any, session_id: str) -> dict[str, Any]:
    document: dict[str, Any] = db.collection("sessions").document(session_id).get().to_dict()
    return document


def test_the_command_accepts_exactly_the_fields_the_readme_documents() -> None:
    assert set(documented_session_fields()) == organiser.SESSION_FIELDS


def test_every_documented_field_goes_through_the_command_stays_on_update_and_can_be_removed(
    tmp_path: Path, db: Any, make_session: Callable[..., str]
) -> None:
    documented = documented_session_fields()
    lines = [f"{name} = {sample(name, kind, meaning)}" for name, (kind, meaning) in documented.items()]
    expected = tomllib.loads("\n".join(lines))
    optional = sorted(name for name, (_, meaning) in documented.items() if meaning != "required")

    created = run("sessions", "create", str(session_file(tmp_path, 'id = "alles"\n' + "\n".join(lines))))
    after_create = stored(db, "alles")
    kept = run("sessions", "create", str(session_file(tmp_path, 'id = "alles"\ntitle = "Nieuwe titel"\n')))
    after_update = stored(db, "alles")
    removing = f'id = "alles"\nremove = {optional!r}\n'.replace("'", '"')
    removed = run("sessions", "create", str(session_file(tmp_path, removing)))
    after_remove = stored(db, "alles")

    assert created == (0, "created session alles\n")
    assert after_create == expected
    assert parse_session("alles", after_create).require_form_token is True
    assert kept == (0, "updated session alles\n")
    assert after_update == {**expected, "title": "Nieuwe titel"}
    assert removed == (0, "updated session alles\n")
    assert set(after_remove) == set(documented) - set(optional)


def test_an_update_keeps_what_the_console_and_the_functions_set_on_the_session(
    tmp_path: Path, db: Any, example: str
) -> None:
    ref = db.collection("sessions").document(example)
    ref.update({"require_form_token": True, "turnstile_site_key": "0x4AAAAAAA", "reminders_queued": {"24.0": True}})

    code, _ = run("sessions", "create", str(session_file(tmp_path, **{"capacity = 20": "capacity = 25"})))

    session = ref.get().to_dict()
    assert code == 0
    assert session["capacity"] == 25
    assert session["require_form_token"] is True
    assert session["turnstile_site_key"] == "0x4AAAAAAA"
    assert session["reminders_queued"] == {"24.0": True}
    assert session["location"]["name"] == "Grand Café Genieten bij stadsdeelkantoor Oost"


def test_a_file_removes_a_field_only_by_naming_it_under_remove(tmp_path: Path, db: Any, example: str) -> None:
    ref = db.collection("sessions").document(example)
    without_capacity = session_file(tmp_path, **{"capacity = 20\n": "", "retention_days = 90": 'remove = ["capacity"]'})

    code, said = run("sessions", "create", str(without_capacity))
    _, listing = run("sessions", "list")

    session = ref.get().to_dict()
    assert (code, said) == (0, f"updated session {example}\n")
    assert "capacity" not in session
    assert session["retention_days"] == 90  # left out of the file: kept
    assert listing.splitlines()[1].split()[-5] == "unlimited"  # seats left


def test_removing_a_required_field_is_refused_and_nothing_changes(
    tmp_path: Path, db: Any, example: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = stored(db, example)

    code, _ = run("sessions", "create", str(session_file(tmp_path, f'id = "{example}"\nremove = ["title"]\n')))

    assert code == 2
    assert "title" in capsys.readouterr().err
    assert stored(db, example) == before


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({'id = "strategiesessie-juni"': 'id = "no/slashes"'}, "id"),
        ({'id = "strategiesessie-juni"\n': ""}, "id"),
        ({'title = "Gratis strategiesessie"\n': ""}, "title"),
        ({"starts_at = 2027-06-08T16:00:00+02:00": "starts_at = 2027-06-08T16:00:00"}, "starts_at"),
        ({"starts_at = 2027-06-08T16:00:00+02:00": "starts_at = 2027-06-08"}, "starts_at"),
        ({"ends_at = 2027-06-08T18:00:00+02:00": "ends_at = 2027-06-08T15:00:00+02:00"}, "ends_at"),
        ({"capacity = 20": "capacity = -5"}, "capacity"),
        ({"capacity = 20": 'capacity = "twintig"'}, "capacity"),
        ({'timezone = "Europe/Amsterdam"': 'timezone = "Europe/Utrecht"'}, "timezone"),
        ({'language = "nl"': 'language = "de"'}, "language"),
        ({"retention_days = 90": "retention_days = 5000"}, "retention_days"),
        ({"capacity = 20": "capacity = 20\ncapacaty = 30"}, "capacaty"),
        ({"capacity = 20": "capacity = = 20"}, "TOML"),
        ({"capacity = 20": 'remove = ["capacaty"]'}, "capacaty"),
        ({"capacity = 20": 'capacity = 20\nremove = ["capacity"]'}, "capacity"),
        ({"capacity = 20": 'remove = "capacity"'}, "remove"),
        ({"capacity = 20": 'remove = ["reminders_queued"]'}, "reminders_queued"),
        ({"capacity = 20": 'reminders_queued = ["24.0"]'}, "reminders_queued"),
        ({"capacity = 20": 'require_form_token = "yes"'}, "require_form_token"),
        ({"capacity = 20": "turnstile_site_key = 12345"}, "turnstile_site_key"),
    ],
)
def test_an_invalid_file_is_refused_naming_the_field_and_nothing_is_written(
    tmp_path: Path,
    db: Any,
    make_session: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
    change: dict[str, str],
    named: str,
) -> None:
    code, _ = run("sessions", "create", str(session_file(tmp_path, **change)))

    assert code == 2
    assert named in capsys.readouterr().err
    assert list(db.collection("sessions").stream()) == []


def test_list_shows_each_session_with_its_date_and_counts(client: Any, example: str, make_session: Any) -> None:
    for n in range(3):
        sign_up(client, example, "Persoon", "", f"Nummer {n}", f"p{n}@example.nl")

    code, said = run("sessions", "list")

    [header, line] = said.splitlines()
    assert code == 0
    assert header.split() == [
        "id", "date", "confirmed", "waitlisted", "cancelled", "seats", "left", "mail", "queued", "mail", "failed",
        "unconfirmed", "expired",
    ]  # fmt: skip
    assert line.split()[0] == example
    assert "dinsdag 8 juni 2027, 16:00–18:00" in line
    assert line.split()[-8:] == ["3", "0", "0", "17", "3", "0", "0", "0"]  # three confirmations not sent yet


def test_list_shows_a_session_that_was_called_off_as_such(client: Any, example: str) -> None:
    sign_up(client, example, "Persoon", "", "Een", "p1@example.nl")
    run("sessions", "cancel", example, "--message", "Helaas.", "--yes")

    code, said = run("sessions", "list")

    [_, line] = said.splitlines()
    assert code == 0
    assert line.split()[0] == example
    assert "called off" in line
    assert "19" not in line.split()  # no seats left to give


def test_an_export_to_a_file_says_how_many_is_its_owners_alone_and_git_keeps_such_files_out_of_the_repository(
    client: Any, example: str, tmp_path: Path
) -> None:
    sign_up(client, example, "Persoon", "", "Een", "p1@example.nl")
    output = tmp_path / "aanmeldingen.csv"

    said = run("export", example, "-o", str(output))
    # The documented `-o aanmeldingen.csv`, run in the checkout: ignored, wherever in it.
    ignored = [
        subprocess.run([GIT, "check-ignore", "--quiet", "--no-index", path], cwd=ROOT, check=False).returncode
        for path in ("aanmeldingen.csv", "exports/2027/juni.csv")
    ]

    assert said == (0, f"wrote 1 registration to {output}\n")
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert ignored == [0, 0]


def test_export_is_csv_that_dutch_excel_opens_sorted_the_dutch_way_with_formulas_defused(
    client: Any, example: str, tmp_path: Path
) -> None:
    sign_up(client, example, "Jan", "van der", "Berg", "jan@example.nl", organisation='=HYPERLINK("x")')
    sign_up(client, example, "Anna", "", "de Vries", "anna.devries@example.nl")
    sign_up(client, example, "Émile", "", "Ösch", "emile@example.nl", organisation="+31 20 123")
    sign_up(client, example, "Kees", "van 't", "Hoff", "kees@example.nl", organisation="@home")
    sign_up(client, example, "Bram", "", "Aalders", "bram@example.nl", organisation="-minus")
    output = tmp_path / "aanmeldingen.csv"

    code, said = run("export", example, "--output", str(output))

    raw = output.read_bytes()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert code == 0
    assert said == f"wrote 5 registrations to {output}\n"
    assert raw.startswith(b"\xef\xbb\xbf")
    assert rows[0][:7] == [
        "Achternaam",
        "Tussenvoegsels",
        "Voornaam",
        "Organisatie",
        "E-mailadres",
        "Status",
        "Aangemeld op",
    ]
    assert "Mail: Bevestiging" in rows[0]  # in the session's language, as the organisers' page says it
    assert [row[0] for row in rows[1:]] == ["Aalders", "Berg", "Hoff", "Ösch", "de Vries"]
    by_name = {row[2]: row for row in rows[1:]}
    assert by_name["Jan"][3] == '\'=HYPERLINK("x")'
    assert by_name["Émile"][3] == "'+31 20 123"
    assert by_name["Kees"][3] == "'@home"
    assert by_name["Bram"][3] == "'-minus"
    assert by_name["Jan"][5] == "aangemeld"
    assert datetime.strptime(by_name["Jan"][6], "%d-%m-%Y %H:%M")
    assert by_name["Jan"][rows[0].index("Mail: Bevestiging")] == "in de wachtrij"


@pytest.mark.parametrize(
    ("language", "header", "cells"),
    [
        (
            "nl",
            ["Status", "Aanwezig", "Mail: Bevestiging", "Mail: Herinnering (24 uur vooraf)", "Mail: E-mail x_9"],
            ["aangemeld", "ja", "verstuurd", "niet verstuurd", "odd"],
        ),
        (
            "en",
            ["Status", "Present", "Mail: Confirmation", "Mail: Reminder (24 hours before)", "Mail: Email x_9"],
            ["confirmed", "yes", "sent", "not sent", "odd"],
        ),
    ],
)
def test_an_export_says_status_and_mails_in_the_sessions_language_and_what_it_has_no_word_for_as_stored(
    language: str, header: list[str], cells: list[str]
) -> None:
    session = parse_session("s1", session_fields(language=language))
    stored = {
        "first_name": "Jan",
        "last_name": "Berg",
        "status": "confirmed",
        "checked_in_at": datetime(2036, 6, 10, 14, 5, tzinfo=UTC),
        "emails": {"confirmation": {"state": "sent"}, "reminder_24h": {"state": "failed"}, "x_9": {"state": "odd"}},
    }
    out = io.StringIO()

    export.write(out, session, [stored])

    [head, row] = list(csv.reader(io.StringIO(out.getvalue()), delimiter=";"))
    shown = [head.index(name) for name in header]
    assert [head[i] for i in shown] == header
    assert [row[i] for i in shown] == cells


# Formulas hidden behind a separator other than the file's own: each is inert only if no reader can start a cell
# at its formula sign.
HIDDEN_FORMULAS = [
    {"last_name": "Berg,=cmd|' /C calc'!A0,", "first_name": "Komma"},
    {"last_name": "Berg;=cmd|' /C calc'!A0;", "first_name": "Puntkomma"},
    {"last_name": "Tab", "organisation": "Org\t@SUM(1+1)*cmd|' /C calc'!A0"},
    {"last_name": "Pijp", "infix": "x| -2+3+cmd|' /C calc'!A0"},
    {"last_name": "Spatie", "first_name": "Jan +cmd|' /C calc'!A0"},
    {"last_name": 'Quote,"=HYPERLINK(""https://evil.example"")"', "first_name": "Aanhalingsteken"},
    {"last_name": "Regel", "organisation": "Eerste regel\r\n=cmd|' /C calc'!A0"},
]
READER_SEPARATORS = [",", ";", "\t", "|", " "]


def cells_as_read(text: str, separator: str) -> list[str]:
    """Every cell a spreadsheet could see: split on `separator` honouring quotes, and naively, line by line."""
    quoted = [cell for row in csv.reader(io.StringIO(text), delimiter=separator) for cell in row]
    naive = [cell for line in text.splitlines() for cell in line.split(separator)]
    return quoted + naive


@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
def test_no_cell_of_the_export_starts_a_formula_whatever_separator_the_reader_splits_on(
    db: Any, example: str, tmp_path: Path, delimiter: str
) -> None:
    registrations = db.collection("sessions").document(example).collection("registrations")
    for n, fields in enumerate(HIDDEN_FORMULAS):  # as stored, whatever the form lets through
        registrations.document(f"r{n}").set(
            {"first_name": "Iemand", "email": f"r{n}@example.nl", "status": "confirmed", **fields}
        )
    output = tmp_path / "aanmeldingen.csv"

    code, said = run("export", example, "--output", str(output), "--delimiter", delimiter)

    text = output.read_text(encoding="utf-8-sig")
    assert (code, said) == (0, f"wrote {len(HIDDEN_FORMULAS)} registrations to {output}\n")
    for separator in READER_SEPARATORS:
        live = [cell for cell in cells_as_read(text, separator) if cell.lstrip(' \t\r\n"')[:1] in ("=", "+", "-", "@")]
        assert live == [], f"split on {separator!r}"
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    assert "Berg,'=cmd|' /C calc'!A0," in [row[0] for row in rows]


def test_cancel_resend_and_promote_go_the_functions_way(
    client: Any, tmp_path: Path, db: Any, registrations: Registrations, make_session: Any
) -> None:
    run("sessions", "create", str(session_file(tmp_path, **{"capacity = 20": "capacity = 1"})))
    session_id = "strategiesessie-juni"
    first = sign_up(client, session_id, "Eerste", "", "Persoon", "een@example.nl")
    second = sign_up(client, session_id, "Tweede", "", "Persoon", "twee@example.nl")

    cancelled = run("cancel", session_id, first)
    again = run("cancel", session_id, first)
    not_waiting = run("promote", session_id, second)
    on_its_way = run("resend", session_id, second)  # the promotion's mail is queued, the confirmation not sent
    db.collection("sessions", session_id, "registrations").document(second).update(
        {"emails.confirmation.state": "sent"}
    )
    resent = run("resend", session_id, second)
    missing = run("resend", session_id, "no-such-registration")

    status = {doc["id"]: doc for doc in registrations(session_id)}
    assert cancelled == (0, "cancelled (was confirmed); the mail goes out within seconds\n")
    assert again == (0, "already cancelled\n")
    assert status[first]["status"] == "cancelled"
    assert status[second]["status"] == "confirmed"  # promoted by the cancellation, as the function does
    assert not_waiting[0] == 2
    assert on_its_way == (0, "the confirmation mail is on its way already: nothing queued\n")
    assert resent == (0, "confirmation mail queued; it goes out within seconds\n")
    assert status[second]["emails"]["confirmation"]["state"] == "pending"
    assert missing[0] == 1


def test_promote_moves_one_chosen_person_up_when_a_seat_is_free(
    client: Any, tmp_path: Path, db: Any, registrations: Registrations, make_session: Any
) -> None:
    run("sessions", "create", str(session_file(tmp_path, **{"capacity = 20": "capacity = 0"})))
    session_id = "strategiesessie-juni"
    early = sign_up(client, session_id, "Vroeg", "", "Persoon", "vroeg@example.nl")
    chosen = sign_up(client, session_id, "Gekozen", "", "Persoon", "gekozen@example.nl")
    run("sessions", "create", str(session_file(tmp_path, **{"capacity = 20": "capacity = 1"})))

    code, said = run("promote", session_id, chosen)

    status = {doc["id"]: doc["status"] for doc in registrations(session_id)}
    assert (code, said) == (0, f"promoted {chosen}; the mail goes out within seconds\n")
    assert status == {early: "waitlisted", chosen: "confirmed"}


def test_erase_removes_a_persons_data_from_every_session_and_keeps_the_counts(
    client: Any, tmp_path: Path, db: Any, registrations: Registrations, make_session: Any, monkeypatch: Any
) -> None:
    run("sessions", "create", str(session_file(tmp_path, **{"capacity = 20": "capacity = 2"})))
    other = "tweede-sessie"
    run("sessions", "create", str(session_file(tmp_path, **{'id = "strategiesessie-juni"': f'id = "{other}"'})))
    sign_up(client, "strategiesessie-juni", "Quirijn", "", "Vlasblom", "Quirijn.Vlasblom@example.nl")
    sign_up(client, other, "Quirijn", "", "Vlasblom", "quirijn.vlasblom@example.nl")
    sign_up(client, other, "Ander", "", "Persoon", "ander@example.nl")

    code, said = run("erase", "QUIRIJN.vlasblom@example.nl")

    assert (code, said) == (0, "erased the personal data of 2 registration(s)\n")
    everything = registrations("strategiesessie-juni") + registrations(other)
    assert "Vlasblom" not in repr(everything).lower().title()
    assert "quirijn" not in repr(everything).lower()
    erased = [doc for doc in everything if doc.get("erased_at")]
    assert len(erased) == 2
    assert all(doc["status"] == "confirmed" and doc["email"] == "" for doc in erased)
    assert all(doc["id"].startswith("erased-") for doc in erased)
    [seat] = db.collection("sessions").document("strategiesessie-juni").collection("seats").get()
    assert seat.get("registration_id") == next(d["id"] for d in registrations("strategiesessie-juni"))
    _, listing = run("sessions", "list")
    assert [line.split()[-8:-4] for line in listing.splitlines()[1:]] == [["1", "0", "0", "1"], ["2", "0", "0", "18"]]
    again = sign_up(client, other, "Quirijn", "", "Vlasblom", "quirijn.vlasblom@example.nl")
    assert not again.startswith("erased-")


def every_document(parent: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, fields) of every document in the database, at any depth."""
    for collection in parent.collections():
        for ref in collection.list_documents():
            snapshot = ref.get()
            yield ref.path, (snapshot.to_dict() or {}) if snapshot.exists else {}
            yield from every_document(ref)


def test_after_erasure_no_document_anywhere_holds_the_old_registration_id(
    db: Any, tmp_path: Path, make_session: Any
) -> None:
    run("sessions", "create", str(session_file(tmp_path)))
    clock = Clock()
    register_ = register(db, clock)
    token = token_on(register_.get("/sessions/strategiesessie-juni").get_data(as_text=True))
    clock.wait(formtokens.MIN_SECONDS + 1)
    signed_up = register_.post(
        "/sessions/strategiesessie-juni/registrations",
        json={
            "first_name": "Quirijn",
            "last_name": "Vlasblom",
            "email": "quirijn@example.nl",
            "consent": "on",
            "form_token": token,
        },
    )
    old_id = signed_up.get_json()["id"]
    before = [path for path, fields in every_document(db) if old_id in path or old_id in repr(fields)]

    code, _ = run("erase", "quirijn@example.nl")

    after = [path for path, fields in every_document(db) if old_id in path or old_id in repr(fields)]
    [used_token] = [fields for path, fields in every_document(db) if path.startswith("formtokens/")]
    assert signed_up.status_code == 201
    assert any(path.startswith("formtokens/") for path in before)  # the trace this test looks for was there
    assert code == 0
    assert after == []
    assert used_token["registration_id"].startswith("erased-")


def test_erase_needs_the_signing_key(monkeypatch: Any, capsys: pytest.CaptureFixture[str], make_session: Any) -> None:
    monkeypatch.delenv("SIGNING_KEY")

    code, _ = run("erase", "jan@example.nl")

    assert code == 2
    assert "SIGNING_KEY" in capsys.readouterr().err


def test_the_sweep_purges_personal_data_past_the_retention_period(
    client: Any, notifier: Any, db: Any, make_session: Callable[..., str], registrations: Registrations
) -> None:
    ended = make_session(capacity=5, retention_days=30)
    kept = make_session(capacity=5, retention_days=30)
    for session_id in (ended, kept):
        client.post(
            f"/sessions/{session_id}/registrations",
            json={"first_name": "Oud", "last_name": "Persoon", "email": f"{session_id}@example.nl"},
        )
    long_ago = datetime.now(UTC) - timedelta(days=400)
    db.collection("sessions").document(ended).update({"starts_at": long_ago, "ends_at": long_ago + timedelta(hours=2)})
    for group in ("registrations", "seats"):  # what the function writes for a session that ended then
        for doc in db.collection("sessions").document(ended).collection(group).stream():
            doc.reference.update({"expires_at": long_ago + timedelta(days=30)})

    report = notifier.sweep(datetime.now(UTC))

    assert report.purged == 2
    assert registrations(ended) == []
    assert list(db.collection("sessions").document(ended).collection("seats").stream()) == []
    assert len(registrations(kept)) == 1


def test_an_erased_person_on_the_waiting_list_does_not_take_the_next_free_seat(
    client: Any, tmp_path: Path, registrations: Registrations, make_session: Any
) -> None:
    # A session id of its own: the in-process function remembers for a few seconds which sessions are full.
    changes = {"capacity = 20": "capacity = 1", 'id = "strategiesessie-juni"': 'id = "wachtlijst-gewist"'}
    run("sessions", "create", str(session_file(tmp_path, **changes)))
    session_id = "wachtlijst-gewist"
    seated = sign_up(client, session_id, "Eerste", "", "Persoon", "een@example.nl")
    sign_up(client, session_id, "Tweede", "", "Persoon", "twee@example.nl")
    third = sign_up(client, session_id, "Derde", "", "Persoon", "drie@example.nl")

    run("erase", "twee@example.nl")
    run("cancel", session_id, seated)

    status = {doc["id"]: doc["status"] for doc in registrations(session_id)}
    assert status[third] == "confirmed"
    assert sorted(status.values()) == ["cancelled", "cancelled", "confirmed"]
