"""The shape of the code: the ledger at the bottom, no import running back up, and the registration's field names
and mail keys written out in the ledger alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from signup.ledger import fields, mailkeys, session

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


# What attendees are told of a session, by the names its document holds them under (ledger/session.py).
TOLD = {"title", "starts_at", "ends_at", "location", "name", "address"}


def reads_of_told_fields(path: Path) -> list[str]:
    """Where a module reads what attendees are told of a session by a name of its own: `data.get("title")`, or a
    module constant of its own (`TITLE = "title"`) to read it with."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in TOLD
        ):
            found.append(f"{node.lineno} {ast.unparse(node)}")
    for statement in tree.body:
        if not isinstance(statement, ast.Assign):
            continue
        for target in statement.targets:
            pairs = [(target, statement.value)]
            if isinstance(target, ast.Tuple) and isinstance(statement.value, ast.Tuple):
                pairs = list(zip(target.elts, statement.value.elts, strict=False))
            if any(
                isinstance(name, ast.Name) and isinstance(value, ast.Constant) and value.value in TOLD
                for name, value in pairs
            ):
                found.append(f"{statement.lineno} {ast.unparse(statement)}")
    return found


def test_what_attendees_are_told_of_a_session_is_read_from_its_document_in_the_ledger_alone() -> None:
    """The facts a change mail compares and the fingerprint that tells a change are read in one place: a second
    reading beside the ledger drifts from the first (and the fingerprint is stored on every session)."""
    found = [
        f"{path.relative_to(SIGNUP)}:{where}"
        for path in sorted(SIGNUP.rglob("*.py"))
        if "ledger" not in path.relative_to(SIGNUP).parts
        for where in reads_of_told_fields(path)
    ]

    assert found == []


def test_the_told_fields_looked_for_are_the_sessions_own() -> None:
    assert {
        session.TITLE,
        session.STARTS_AT,
        session.ENDS_AT,
        session.LOCATION,
        session.PLACE_NAME,
        session.PLACE_ADDRESS,
    } == TOLD


# A namedtuple's methods start with an underscore so as not to clash with its fields; they are its public API.
_NAMEDTUPLE_API = {"_replace", "_asdict", "_make", "_fields"}


def private_parts_used(source: str) -> list[str]:
    """What a module reads of another object's private parts: `thing._name`, `getattr(thing, "_name")`, or a name
    imported whose module path or own name is private (`self` and `cls` are the module's own)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in _NAMEDTUPLE_API:
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(ast.unparse(node))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            name = node.args[1] if len(node.args) > 1 else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and _private(name.value):
                found.append(ast.unparse(node))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith("signup"):
            parts = [*node.module.split("."), *(alias.name for alias in node.names)]
            if any(_private(part) for part in parts):
                found.append(f"from {node.module} import {', '.join(alias.name for alias in node.names)}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("client._firestore_api.transport", ["client._firestore_api"]),
        ("getattr(batch, '_write_pbs', None)", ["getattr(batch, '_write_pbs', None)"]),
        (
            "from google.cloud.firestore_v1._helpers import encode_value",
            ["from google.cloud.firestore_v1._helpers import encode_value"],
        ),
        ("self._client.batch()", []),
        ("parts._replace(query='')", []),
        ("from signup.http import _private_helper", []),
    ],
)
def test_the_private_parts_check_sees_what_it_is_meant_to(source: str, found: list[str]) -> None:
    assert private_parts_used(source) == found


def test_no_private_part_of_a_library_is_used_under_functions() -> None:
    used = [
        f"{path.relative_to(ROOT)}: {part}"
        for path in sorted((ROOT / "functions").rglob("*.py"))
        for part in private_parts_used(path.read_text(encoding="utf-8"))
    ]

    assert used == []


def test_the_organisers_page_reads_and_writes_only_through_the_ledger_and_the_store() -> None:
    """Its reads of registrations are the store's, shared with the organisers' command: it names no collection."""
    calls = [
        f"{module_of(path)}:{node.lineno}"
        for path in sorted((SIGNUP / "organise").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("collection", "collection_group", "document", "transaction", "batch")
    ]

    assert calls == []
