"""The shape of the code: the ledger at the bottom, no import running back up, and the registration's field names
and mail keys written out in the ledger alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from signup.ledger import fields, mailkeys

from tests.conftest import ROOT

SIGNUP = ROOT / "functions" / "signup"
# Who may not import whom: a package below never imports one above it.
BELOW = {
    "ledger": ("signup.store", "signup.http", "signup.mail", "signup.organisers", "signup.service", "signup.settings"),
    "store": ("signup.http", "signup.mail", "signup.organisers", "signup.service", "signup.settings"),
}


def module_of(path: Path) -> str:
    return ".".join(("signup", *path.relative_to(SIGNUP).with_suffix("").parts)).removesuffix(".__init__")


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.update({node.module, *(f"{node.module}.{alias.name}" for alias in node.names)})
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("package", sorted(BELOW))
def test_no_import_runs_up_from_the_lower_packages(package: str) -> None:
    upward = [
        f"{module_of(path)} -> {name}"
        for path in sorted((SIGNUP / package).rglob("*.py"))
        for name in sorted(imports_of(path))
        if name.startswith(BELOW[package])
    ]

    assert upward == []


def ledger_words() -> set[str]:
    """Every registration field name and mail key the ledger defines (collection names aside: the same words name
    pages, commands and paths)."""
    collections = {fields.SESSIONS, fields.REGISTRATIONS, fields.SEATS, fields.FORM_TOKENS}
    words = {value for name, value in vars(fields).items() if name.isupper() and isinstance(value, str)} - collections
    keys = {value for name, value in vars(mailkeys).items() if name.isupper() and isinstance(value, str)}
    return words | keys


def literals(path: Path) -> list[tuple[int, str]]:
    """The string literals of a module, docstrings aside."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_field_name_or_mail_key_is_written_out_beside_the_ledger() -> None:
    words = ledger_words()
    outside = [path for path in sorted(SIGNUP.rglob("*.py")) if "ledger" not in path.relative_to(SIGNUP).parts]

    found = [
        f"{path.relative_to(SIGNUP)}:{line} {text!r}"
        for path in outside
        for line, text in literals(path)
        if text in words
    ]

    assert found == []


def test_the_words_looked_for_are_the_ledgers_own() -> None:
    words = ledger_words()

    assert {"status", "emails", "mail_due_at", "told_revision", "first_name", "state", "lease_until"} <= words
    assert {"confirmation", "promotion", "cancellation", "reminder_", "message_", "organiser_digest"} <= words
