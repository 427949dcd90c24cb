"""Every mail reads right: each paragraph of its template is a paragraph of its own, a `<p>` in the HTML part and a
block between empty lines in the text part, in both languages, with and without each optional part."""

from __future__ import annotations

import re
from functools import cache
from html.parser import HTMLParser

import pytest
from signup.http.pages import TEMPLATES
from signup.ledger.mailkeys import Template
from signup.texts import section

from tests.mail_samples import MAILS, TO_ORGANISER, VARIANTS, Variant, body_of, compose, composer, sign_in_mail
from tests.support import calendar_of

_TAG = re.compile(r"{%.*?%}|{{.*?}}|{#.*?#}", re.DOTALL)
_LABEL = re.compile(r"{{\s*labels\.(\w+)\s*}}")
_INCLUDE = re.compile(r"""{%\s*include\s+"([^"]+)"\s*%}""")
_TEMPLATE_TAG = re.compile(r"{{\s*(\w+)\s*}}")


@cache
def source_paragraphs(name: str, language: str) -> tuple[tuple[str, ...], ...]:
    """The paragraphs of a template as written (blocks between empty lines, an included template's in its place),
    each as the words it writes itself: what a reader must find together, and apart from the others'."""
    source = (TEMPLATES / name).read_text(encoding="utf-8")
    labels = section(language, "mail")
    found: list[tuple[str, ...]] = []
    for block in re.split(r"\n\s*\n", source):
        for included in _INCLUDE.findall(block):
            found.extend(source_paragraphs(included, language))
        block = _LABEL.sub(lambda match: labels[match.group(1)], block)
        fragments = tuple(
            part.strip()
            for part in _TAG.split(block)
            if len(part.strip()) >= 4 and any(ch.isalpha() for ch in part) and not part.strip().startswith("-")
        )
        if fragments:
            found.append(fragments)
    return tuple(found)


def paragraphs_of_template(kind: Template, language: str) -> tuple[tuple[str, ...], ...]:
    own = source_paragraphs(f"mail/{language}/{kind.value}.txt", language)
    return (*own, *source_paragraphs("mail/layout.txt", language))


class _Paragraphs(HTMLParser):
    """The text of each `<p>` of the HTML part, a `<br>` read as a line break."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "p":
            self.found.append("")
            self._open = True
        elif tag == "br" and self._open:
            self.found[-1] += "\n"

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._open = False

    def handle_data(self, data: str) -> None:
        if self._open:
            self.found[-1] += data


def html_paragraphs(html: str) -> list[str]:
    parser = _Paragraphs()
    parser.feed(html)
    return ["\n".join(" ".join(line.split()) for line in p.strip().split("\n")) for p in parser.found]


def text_paragraphs(text: str) -> list[str]:
    return [block.strip("\n") for block in re.split(r"\n[ \t]*\n", text.strip("\n"))]


def template_paragraphs_in(block: str, template: tuple[tuple[str, ...], ...]) -> list[int]:
    """Which of the template's paragraphs a rendered block shows (by the words each writes itself)."""
    return [number for number, fragments in enumerate(template) if any(fragment in block for fragment in fragments)]


@pytest.fixture(scope="module")
def made() -> object:
    return composer()


@pytest.mark.parametrize(("kind", "language"), MAILS)
def test_each_paragraph_of_the_template_is_a_paragraph_of_the_text_and_of_the_html(
    kind: Template, language: str, made: object
) -> None:
    template = paragraphs_of_template(kind, language)
    for variant in VARIANTS:
        mail = compose(kind, language, variant, made)  # type: ignore[arg-type]
        text, html = body_of(mail, "plain"), body_of(mail, "html")
        blocks, ps = text_paragraphs(text), html_paragraphs(html)

        merged = [(block, shown) for block in blocks if len(shown := template_paragraphs_in(block, template)) > 1]
        assert merged == [], f"{variant}: template paragraphs {merged} run together in the text part"
        merged = [(p, shown) for p in ps if len(shown := template_paragraphs_in(p, template)) > 1]
        assert merged == [], f"{variant}: template paragraphs {merged} run together in one <p>"
        in_text = {number for block in blocks for number in template_paragraphs_in(block, template)}
        in_html = {number for p in ps for number in template_paragraphs_in(p, template)}
        intro = set(range(len(source_paragraphs(f"mail/{language}/{kind.value}.txt", language))))
        assert in_text & intro == in_html & intro, f"{variant}: the text and the HTML part differ in paragraphs"
        assert "\n\n\n" not in text, f"{variant}: more than one empty line in a row"


def text_of(kind: Template, language: str, variant: Variant = VARIANTS[0]) -> str:
    return body_of(compose(kind, language, variant), "plain")


# What a reader meets, word for word: (kind, language, variant, what the text part says, what it must not say).
WORDS = [
    # A title in a sentence is a name, quoted; after a colon in a subject it stands alone.
    (Template.CONFIRMED, "nl", VARIANTS[0], "Je bent aangemeld voor “Gratis strategiesessie”.", "voor Gratis"),
    (Template.PROMOTED, "en", VARIANTS[0], "booked for “Gratis strategiesessie”.", "for Gratis"),
    (Template.CHANGED, "nl", VARIANTS[0], "Titel: “Strategiesessie” → “Gratis strategiesessie”\n", "Titel: Strat"),
    # The text part has a link where the HTML part has a button.
    (Template.CONFIRM_ADDRESS, "nl", VARIANTS[0], "op de link hieronder.", "knop"),
    (Template.CONFIRM_ADDRESS, "en", VARIANTS[0], "open the link below before", "button"),
    (Template.DECLINED, "nl", VARIANTS[0], "Open dan de link hieronder.\n", "knop"),
    (Template.DECLINED, "en", VARIANTS[0], "Then open the link below.\n", "button"),
    # English readers are told whose clock the times are on; Dutch readers in Amsterdam need not be.
    (Template.REMINDER, "en", VARIANTS[0], "When: Tuesday 10 June 2036, 16:00–18:00 (Amsterdam time)", "CEST"),
    (Template.REMINDER, "nl", VARIANTS[0], "Wanneer: dinsdag 10 juni 2036, 16:00–18:00\n", "tijd in"),
    # A full session says it is full.
    (Template.ORGANISER_CREATED, "nl", Variant(False, False, False, 0), "De sessie is vol", "0 plaatsen"),
    (Template.ORGANISER_DIGEST, "en", Variant(False, False, False, 0), "The session is full", "0 seats"),
    # The digest's window in words, not "van … – …".
    (Template.ORGANISER_DIGEST, "nl", VARIANTS[0], "tussen maandag 9 juni 2036, 08:00 en dinsdag", "van maandag"),
]


@pytest.mark.parametrize(("kind", "language", "variant", "says", "not_says"), WORDS)
def test_the_words_read_right(kind: Template, language: str, variant: Variant, says: str, not_says: str) -> None:
    text = text_of(kind, language, variant)

    assert says in text
    assert not_says not in text


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_organisers_message_names_the_session_in_its_subject(language: str) -> None:
    assert compose(Template.MESSAGE, language)["Subject"] == "Het programma (Gratis strategiesessie)"


@pytest.mark.parametrize("kind", sorted(TO_ORGANISER))
def test_the_organiser_is_not_greeted_by_their_full_name_nor_asked_to_reply_to_themselves(kind: Template) -> None:
    mail = compose(kind, "nl")

    assert "Anna de Vries" not in text_of(kind, "nl")
    assert not text_of(kind, "nl").startswith("Beste")
    assert str(mail["To"]) == "Anna de Vries <anna@example.nl>"
    assert mail["Reply-To"] is None


@pytest.mark.parametrize("kind", [Template.CONFIRMED, Template.PROMOTED, Template.CHANGED])
@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_calendar_entry_points_to_the_mail_it_came_with_not_a_confirmation_the_person_may_not_have(
    kind: Template, language: str
) -> None:
    description = str(calendar_of(compose(kind, language)).walk("VEVENT")[0]["DESCRIPTION"])

    assert "bevestigingsmail" not in description
    assert "confirmation email" not in description
    said = "de e-mail waarmee deze afspraak kwam" if language == "nl" else "the email that brought this invitation"
    assert said in description


@pytest.mark.parametrize(
    ("language", "asks", "button"),
    [
        ("nl", "Wil je je aanmelding annuleren?", "Annuleer mijn aanmelding"),
        ("en", "Do you want to cancel your registration?", "Cancel my registration"),
    ],
)
def test_the_mail_after_a_decline_asks_with_the_cancel_link_as_its_button_and_nowhere_else(
    language: str, asks: str, button: str
) -> None:
    mail = compose(Template.DECLINED, language)
    text, html = body_of(mail, "plain"), body_of(mail, "html")
    link = "https://signup.example.nl/cancel/s-1.r-1"

    assert asks in text
    assert f"{button}:\n{link}\n" in text
    assert text.count(link) == 1
    assert re.search(rf'<a href="{re.escape(link)}"[^>]*class="mail-button-link"[^>]*>{button}</a>', html)
    assert html.count(link) == 1
    assert mail.get_content_type() == "multipart/alternative"  # no invitation: the calendar has its own answer


@pytest.mark.parametrize(
    ("language", "text_says", "html_says", "button"),
    [
        ("nl", "Open de link hieronder om in te loggen.", "Klik op de knop hieronder om in te loggen.", "knop"),
        (
            "en",
            "Open the link below to sign in. The link works once, until Thursday 1 May 2036, 12:15 (Amsterdam time).",
            "Click the button below to sign in.",
            "button",
        ),
    ],
)
def test_the_sign_in_mail_speaks_of_a_button_only_where_it_has_one(
    language: str, text_says: str, html_says: str, button: str
) -> None:
    mail = sign_in_mail(language)
    text, html = body_of(mail, "plain"), body_of(mail, "html")

    assert text_says in text
    assert button not in text
    assert html_says in html
    assert 'class="mail-button-link"' in html
