"""The words people read, in Dutch (the default) and English."""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"

_TEXTS: Mapping[str, Mapping[str, str]] = {
    "nl": {
        "label.organisation": "Organisatie",
        "label.first_name": "Voornaam",
        "label.infix": "Tussenvoegsels",
        "label.last_name": "Achternaam",
        "label.email": "E-mailadres",
        "label.consent": "Ik ga akkoord met de privacyverklaring",
        "label.consent_link": "privacyverklaring",
        "label.website": "Laat dit veld leeg",
        "form.heading": "Aanmelden",
        "form.submit": "Aanmelden",
        "form.submit_waitlist": "Aanmelden voor de wachtlijst",
        "form.required": "verplicht",
        "form.has_errors": "Controleer de velden die gemarkeerd zijn.",
        "session.when": "Wanneer",
        "session.where": "Waar",
        "session.full": "Deze sessie is vol. Je kunt je aanmelden voor de wachtlijst; komt er een plek vrij, dan krijg je bericht.",
        "session.closed": "De aanmelding voor deze sessie is gesloten.",
        "session.seats_left": "Nog {n} plaatsen vrij.",
        "thanks.title": "Bedankt voor je aanmelding",
        "thanks.confirmed": "Bedankt voor je aanmelding! Je bent aangemeld. Je krijgt een bevestiging per e-mail.",
        "thanks.waitlisted": "Bedankt voor je aanmelding! De sessie is vol, je staat op de wachtlijst. Komt er een plek vrij, dan krijg je bericht.",
        "thanks.cancelled": "Je aanmelding voor deze sessie is geannuleerd.",
        "error.required": "Vul dit veld in.",
        "error.too_long": "Dit is te lang (maximaal {max} tekens).",
        "error.control": "Dit veld bevat tekens die niet zijn toegestaan, zoals een regeleinde.",
        "error.multiple": "Vul hier één waarde in.",
        "error.not_text": "Vul hier tekst in.",
        "error.email": "Dit is geen geldig e-mailadres.",
        "error.consent": "Geef toestemming om je aan te melden.",
        "error.turnstile": "De controle of je een mens bent, is niet gelukt. Probeer het opnieuw.",
        "page.turnstile_unavailable": "De controle tegen spam is even niet bereikbaar. Probeer het over een minuut opnieuw.",
        "error.form_too_fast": "Dat ging wel erg snel. Controleer je gegevens en verstuur het formulier opnieuw.",
        "error.form_expired": "Dit formulier is verlopen. Verstuur het opnieuw.",
        "error.form_invalid": "Dit formulier is niet (meer) geldig. Laad de pagina opnieuw.",
        "error.form_replayed": "Dit formulier is al gebruikt voor een andere aanmelding. Laad de pagina opnieuw.",
        "page.not_found": "Deze sessie bestaat niet (meer). Controleer de link.",
        "page.not_found_title": "Niet gevonden",
        "page.closed_title": "Aanmelding gesloten",
        "page.error_title": "Er ging iets mis",
        "page.closed": "De aanmelding voor deze sessie is gesloten.",
        "page.origin": "Aanmelden via deze website is niet toegestaan.",
        "page.too_large": "Het formulier is te groot om te versturen.",
        "page.media_type": "Dit soort gegevens kan het formulier niet lezen.",
        "page.malformed": "Het formulier kon niet gelezen worden.",
        "page.method": "Deze actie is hier niet mogelijk.",
        "page.unavailable": "De aanmelding is tijdelijk niet bereikbaar. Probeer het over een minuut opnieuw.",
        "page.misconfigured": "Deze aanmelding is niet goed ingesteld. De organisator is op de hoogte.",
        "page.rate_limited": "Er zijn te veel aanmeldingen vanaf jouw internetadres verstuurd. Probeer het over {minutes} minuten opnieuw.",
        "page.back": "Terug naar het formulier",
        "embed.network": "Het formulier kon niet worden verstuurd. Controleer je verbinding en probeer het opnieuw.",
        "cancel.title": "Aanmelding annuleren",
        "cancel.question": "Wil je je aanmelding voor deze sessie annuleren? Je plek gaat dan naar de eerste op de wachtlijst.",
        "cancel.button": "Ja, annuleer mijn aanmelding",
        "cancel.done": "Je aanmelding is geannuleerd. Je krijgt een bevestiging per e-mail.",
        "cancel.already": "Deze aanmelding was al geannuleerd.",
        "cancel.over": "Deze sessie heeft al plaatsgevonden.",
        "mail.name": "Aangemeld op naam van",
        "mail.when": "Wanneer",
        "mail.where": "Waar",
        "mail.map": "Kaart",
        "mail.calendar": "Zet in je Google Agenda",
        "mail.cancel": "Afmelden",
        "mail.cannot_come": "Kun je toch niet komen?",
        "mail.questions": "Vragen? Beantwoord deze e-mail, dan komt je bericht bij:",
        "mail.calendar_details": "Je bent aangemeld voor deze sessie. Kun je toch niet komen? Meld je dan af via de "
        "link in je bevestigingsmail.",
        "mail.session_page": "Over de sessie",
    },
    "en": {
        "label.organisation": "Organisation",
        "label.first_name": "First name",
        "label.infix": "Name prefix",
        "label.last_name": "Last name",
        "label.email": "Email address",
        "label.consent": "I agree to the privacy statement",
        "label.consent_link": "privacy statement",
        "label.website": "Leave this field empty",
        "form.heading": "Sign up",
        "form.submit": "Sign up",
        "form.submit_waitlist": "Join the waiting list",
        "form.required": "required",
        "form.has_errors": "Please check the marked fields.",
        "session.when": "When",
        "session.where": "Where",
        "session.full": "This session is full. You can join the waiting list; we will let you know if a seat becomes free.",
        "session.closed": "Registration for this session has closed.",
        "session.seats_left": "{n} seats left.",
        "thanks.title": "Thank you for signing up",
        "thanks.confirmed": "Thank you for signing up! Your seat is booked. You will receive a confirmation by email.",
        "thanks.waitlisted": "Thank you for signing up! The session is full, so you are on the waiting list. We will let you know if a seat becomes free.",
        "thanks.cancelled": "Your registration for this session has been cancelled.",
        "error.required": "Please fill in this field.",
        "error.too_long": "This is too long (at most {max} characters).",
        "error.control": "This field contains characters that are not allowed, such as a line break.",
        "error.multiple": "Please give one value here.",
        "error.not_text": "Please fill in text here.",
        "error.email": "This is not a valid email address.",
        "error.consent": "Please give your consent to sign up.",
        "error.turnstile": "The check that you are a person did not succeed. Please try again.",
        "page.turnstile_unavailable": "The spam check cannot be reached right now. Please try again in a minute.",
        "error.form_too_fast": "That was very fast. Please check your details and send the form again.",
        "error.form_expired": "This form has expired. Please send it again.",
        "error.form_invalid": "This form is not valid (any more). Please reload the page.",
        "error.form_replayed": "This form was already used for another registration. Please reload the page.",
        "page.not_found": "This session does not exist (any more). Please check the link.",
        "page.not_found_title": "Not found",
        "page.closed_title": "Registration closed",
        "page.error_title": "Something went wrong",
        "page.closed": "Registration for this session has closed.",
        "page.origin": "Signing up through this website is not allowed.",
        "page.too_large": "The form is too large to send.",
        "page.media_type": "The form cannot read this kind of data.",
        "page.malformed": "The form could not be read.",
        "page.method": "This action is not possible here.",
        "page.unavailable": "Sign-up is briefly unavailable. Please try again in a minute.",
        "page.misconfigured": "This sign-up is not set up correctly. The organiser has been told.",
        "page.rate_limited": "Too many sign-ups were sent from your internet address. Please try again in {minutes} minutes.",
        "page.back": "Back to the form",
        "embed.network": "The form could not be sent. Please check your connection and try again.",
        "cancel.title": "Cancel your registration",
        "cancel.question": "Do you want to cancel your registration for this session? Your seat will go to the first person on the waiting list.",
        "cancel.button": "Yes, cancel my registration",
        "cancel.done": "Your registration has been cancelled. You will receive a confirmation by email.",
        "cancel.already": "This registration had already been cancelled.",
        "cancel.over": "This session has already taken place.",
        "mail.name": "Registered in the name of",
        "mail.when": "When",
        "mail.where": "Where",
        "mail.map": "Map",
        "mail.calendar": "Add to Google Calendar",
        "mail.cancel": "Cancel your registration",
        "mail.cannot_come": "Can't make it after all?",
        "mail.questions": "Questions? Reply to this email to reach:",
        "mail.calendar_details": "You are registered for this session. Can't make it after all? Please cancel through "
        "the link in your confirmation email.",
        "mail.session_page": "About the session",
    },
}


def text(language: str, key: str, **values: object) -> str:
    """The text for `key` in `language` (Dutch when the language is unknown)."""
    table = _TEXTS.get(language, _TEXTS[DEFAULT_LANGUAGE])
    template = table[key]
    return template.format(**values) if values else template


def catalogue(language: str) -> Mapping[str, str]:
    """All texts of one language, for templates."""
    return _TEXTS.get(language, _TEXTS[DEFAULT_LANGUAGE])


def section(language: str, prefix: str) -> dict[str, str]:
    """The texts under `prefix.`, keyed without it: section("nl", "mail")["when"] == "Wanneer"."""
    return {
        key.removeprefix(f"{prefix}."): value
        for key, value in catalogue(language).items()
        if key.startswith(f"{prefix}.")
    }
