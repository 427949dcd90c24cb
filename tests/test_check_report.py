"""The report of `signup check`: one marked line per check (and the fix below it), JSON for scripts, the exit code."""

from __future__ import annotations

import json

import pytest
from signup.organisers.check.report import Report, Result, Status

MIXED = [
    Result(
        "mail_domain.spf",
        Status.PASS,
        "SPF: v=spf1 include:_spf.example.net -all allows include:_spf.example.net",
        seconds=0.1234,
        details={"domain": "example.nl"},
    ),
    Result(
        "mail_domain.dmarc",
        Status.WARN,
        "DMARC: _dmarc.example.nl has p=none: monitoring only",
        "Once the reports show only your own mail, set p=quarantine.",
    ),
    Result("smtp.login", Status.FAIL, "SMTP: login as signup refused: 535 5.7.8", "Check SMTP_PASSWORD.", 0.5),
]


def test_each_check_is_a_marked_line_with_its_timing_and_the_fix_indented_below() -> None:
    assert Report(MIXED).lines() == [
        "✔ SPF: v=spf1 include:_spf.example.net -all allows include:_spf.example.net (0.12 s)",
        "⚠ DMARC: _dmarc.example.nl has p=none: monitoring only",
        "  → Once the reports show only your own mail, set p=quarantine.",
        "✘ SMTP: login as signup refused: 535 5.7.8 (0.50 s)",
        "  → Check SMTP_PASSWORD.",
    ]


def test_json_lists_every_check_in_order_with_the_counts_and_whether_all_is_well() -> None:
    report = Report()
    for result in MIXED:
        report.add(result)

    assert json.loads(report.to_json()) == {
        "ok": False,
        "counts": {"pass": 1, "warn": 1, "fail": 1},
        "checks": [
            {
                "name": "mail_domain.spf",
                "result": "pass",
                "summary": "SPF: v=spf1 include:_spf.example.net -all allows include:_spf.example.net",
                "fix": None,
                "seconds": 0.123,
                "details": {"domain": "example.nl"},
            },
            {
                "name": "mail_domain.dmarc",
                "result": "warn",
                "summary": "DMARC: _dmarc.example.nl has p=none: monitoring only",
                "fix": "Once the reports show only your own mail, set p=quarantine.",
                "seconds": None,
                "details": {},
            },
            {
                "name": "smtp.login",
                "result": "fail",
                "summary": "SMTP: login as signup refused: 535 5.7.8",
                "fix": "Check SMTP_PASSWORD.",
                "seconds": 0.5,
                "details": {},
            },
        ],
    }


def test_json_keeps_non_ascii_text_readable() -> None:
    report = Report([Result("config.mail_from", Status.PASS, "MAIL_FROM: Café <café@example.nl>")])

    assert "Café <café@example.nl>" in report.to_json()


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        pytest.param([], 0, id="nothing-checked"),
        pytest.param([Status.PASS, Status.PASS], 0, id="all-pass"),
        pytest.param([Status.PASS, Status.WARN], 0, id="warnings-pass"),
        pytest.param([Status.WARN, Status.FAIL, Status.PASS], 1, id="one-failure-fails"),
    ],
)
def test_the_exit_code_is_1_exactly_when_a_check_failed(statuses: list[Status], code: int) -> None:
    report = Report(Result(f"check.{index}", status, "summary") for index, status in enumerate(statuses))

    assert report.exit_code() == code
    assert report.ok is (code == 0)


@pytest.mark.parametrize(
    ("expected", "lines", "exit_code"),
    [
        ([], ["✘ SMTP: login as signup refused: 535 5.7.8 (0.50 s)", "  → Check SMTP_PASSWORD."], 1),
        (
            ["smtp.login"],
            ["⚠ expected here: SMTP: login as signup refused: 535 5.7.8 (0.50 s)", "  → Check SMTP_PASSWORD."],
            0,
        ),
        (["mail_domain.spf"], ["✘ SMTP: login as signup refused: 535 5.7.8 (0.50 s)", "  → Check SMTP_PASSWORD."], 1),
    ],
)
def test_a_failure_expected_here_is_a_warning_that_says_so_and_passes(
    expected: list[str], lines: list[str], exit_code: int
) -> None:
    report = Report(MIXED)

    report.expect_failures(expected)

    assert report.lines()[-2:] == lines
    assert report.exit_code() == exit_code
    # A check that passed stays passed, whatever is expected of it.
    assert report.lines()[0].startswith("✔ SPF")
    assert json.loads(report.to_json())["checks"][2]["details"] == (
        {"expected_failure": True} if exit_code == 0 else {}
    )


def test_what_a_server_sent_is_shown_escaped_and_the_json_holds_it_escaped_too() -> None:
    sent = "v=spf1 \x1b]0;pwned\x07 \x9b2J \u202eevil\nfake line \U000e0041 Jöran -all"
    report = Report([Result("mail_domain.spf", Status.WARN, f"SPF: {sent}", f"Check {sent}")])

    lines = report.lines()
    text = report.to_json()

    assert lines == [
        "⚠ SPF: v=spf1 \\x1b]0;pwned\\x07 \\x9b2J \\u202eevil\\nfake line \\U000e0041 Jöran -all",
        "  → Check v=spf1 \\x1b]0;pwned\\x07 \\x9b2J \\u202eevil\\nfake line \\U000e0041 Jöran -all",
    ]
    assert all(ch.isprintable() or ch == "\n" for ch in text)
    assert json.loads(text)["checks"][0]["summary"] == f"SPF: {sent}"  # scripts read what was found
