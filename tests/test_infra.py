"""The deployment (infra/*.tf, read with the real HCL parser) held against the code it deploys.

Terraform cannot plan here (no providers offline), so these tests read the configuration as data and compare it
with what the code reads, writes and queries: the entry points, the settings, the Firestore paths, the
queries' indexes and the TTL field. A value in the configuration is followed through `local.x`, `var.x` (to
its default) and `merge(...)` of those; anything else stays the expression it is.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeGuard

import hcl2
import pytest
from signup.http.ratelimit import RATELIMITS
from signup.ledger.fields import AUDIT, FORM_TOKENS, REGISTRATIONS, SEATS, SESSIONS, SIGNINS
from signup.mail import events
from signup.mail.digest import DIGESTS
from signup.mail.messages import MESSAGES
from signup.mail.transport.mailcap import MAILCAPS

from tests import tf_schema

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
MAIN = ROOT / "functions/main.py"
SIGNUP = ROOT / "functions/signup"
SETTINGS = SIGNUP / "settings.py"

FUNCTION = "google_cloudfunctions2_function"

# Settings a function may go without. `register` never sends mail; every other function needs everything.
NOT_NEEDED = {
    "register": {
        "MAIL_FROM",
        "SMTP_URL",
        "SMTP_PASSWORD",
        "SMTP_TIMEOUT_SECONDS",
        "SMTP_MAX_CONNECTIONS",
        "SMTP_MAX_PER_SECOND",
        "SWEEP_LIMIT",
        "CALENDAR_REPLY_ADDRESS",
        "ORGANISE_URL",
        "ORGANISERS",
    },
    "notify-signin": {"TURNSTILE_SECRET_KEY", "ORGANISERS"},
    # The organisers' page sends no mail (a sign-in link is queued for notify): it gets no mail server.
    "organise": {
        "SMTP_URL",
        "SMTP_PASSWORD",
        "SMTP_TIMEOUT_SECONDS",
        "SMTP_MAX_CONNECTIONS",
        "SMTP_MAX_PER_SECOND",
        "SWEEP_LIMIT",
        "TURNSTILE_SECRET_KEY",
        "CALENDAR_REPLY_ADDRESS",
    },
    # Only sign-ups are checked against Cloudflare Turnstile; only the organisers' page reads who may organise.
    "notify": {"TURNSTILE_SECRET_KEY", "ORGANISERS"},
    # A session's change is queued for everyone, and sent by `notify`: it never logs in to the mail server.
    "notify-session": {"TURNSTILE_SECRET_KEY", "SMTP_PASSWORD", "ORGANISERS"},
    "notify-tick": {"TURNSTILE_SECRET_KEY", "ORGANISERS"},
}
# Settings that are secrets: from Secret Manager, never as plain values in the configuration.
SECRETS = {"SIGNING_KEY", "SMTP_PASSWORD", "TURNSTILE_SECRET_KEY"}
# Read by google-cloud-firestore itself, not by settings.py; for local use only, never deployed.
LOCAL_ONLY = "FIRESTORE_EMULATOR_HOST"
# Read by functions-framework, not by settings.py: how many requests one instance serves at once.
THREADS = "THREADS"
FORBIDDEN_ROLES = {"roles/owner", "roles/editor"}
PUBLIC = {"allUsers", "allAuthenticatedUsers"}
TTL_FIELD = "expires_at"


# --- Reading the configuration ---------------------------------------------------------------------------

_OPTIONS = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True, preserve_heredocs=False
)
_REFERENCE = re.compile(r"\$\{(local|var)\.([A-Za-z0-9_-]+)\}")
_MERGE = re.compile(r"\$\{merge\(([^()]*)\)\}")


@dataclass
class Terraform:
    """Every infra/*.tf file, merged: blocks by type and name."""

    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.resources.get(kind, {})

    def resolve(self, value: Any) -> Any:
        """Follow `${local.x}`, `${var.x}` (to its default) and `${merge(a, b)}` of those; else the value."""
        if not isinstance(value, str):
            return value
        reference = _REFERENCE.fullmatch(value)
        if reference:
            kind, name = reference.groups()
            if kind == "local":
                return self.resolve(self.locals[name])
            return self.resolve(self.variables[name].get("default"))
        merged = _MERGE.fullmatch(value)
        if merged:
            result: dict[str, Any] = {}
            for part in merged[1].split(","):
                result.update(self.resolve("${" + part.strip() + "}"))
            return result
        return value

    def expand_locals(self, text: str) -> str:
        """Replace each `${local.x}` inside a string by its (string) value, until none is left."""

        def value(match: re.Match[str]) -> str:
            kind, name = match.groups()
            return str(self.resolve(self.locals[name])) if kind == "local" else match[0]

        expanded = _REFERENCE.sub(value, text)
        return expanded if expanded == text else self.expand_locals(expanded)


@cache
def terraform() -> Terraform:
    config = Terraform()
    files = sorted(INFRA.glob("*.tf"))
    assert files, f"no Terraform files in {INFRA}"
    for path in files:
        with path.open(encoding="utf-8") as handle:
            parsed = hcl2.load(handle, serialization_options=_OPTIONS)
        for block in parsed.get("resource", []):
            for kind, named in block.items():
                config.resources.setdefault(kind, {}).update(named)
        for block in parsed.get("data", []):
            for kind, named in block.items():
                config.data.setdefault(kind, {}).update(named)
        for block in parsed.get("variable", []):
            config.variables.update(block)
        for block in parsed.get("locals", []):
            config.locals.update(block)
        for block in parsed.get("output", []):
            config.outputs.update(block)
        for block in parsed.get("provider", []):
            config.providers.update(block)
    return config


def only(blocks: Any) -> dict[str, Any]:
    """The one nested block (the parser gives every block as a list)."""
    assert isinstance(blocks, list), blocks
    assert len(blocks) == 1, blocks
    assert isinstance(blocks[0], dict)
    return blocks[0]


def refers_to(expression: Any, kind: str) -> str | None:
    """The name of the `kind` resource an expression refers to (`${kind.NAME.attr}`), if any."""
    match = re.search(rf"\b{re.escape(kind)}\.([A-Za-z0-9_-]+)", str(expression))
    return match[1] if match else None


def functions() -> dict[str, dict[str, Any]]:
    return terraform().of_type(FUNCTION)


def function_names() -> list[str]:
    return sorted(functions())


def deployed_name(name: str) -> str:
    return str(terraform().resolve(functions()[name]["name"]))


def plain_env(name: str) -> dict[str, Any]:
    env = terraform().resolve(only(functions()[name]["service_config"]).get("environment_variables", {}))
    assert isinstance(env, dict), f"{name}: environment_variables is not a map this test can read: {env!r}"
    return env


def secret_env(name: str) -> dict[str, dict[str, Any]]:
    blocks = only(functions()[name]["service_config"]).get("secret_environment_variables", [])
    return {block["key"]: block for block in blocks}


def trigger(name: str) -> dict[str, Any] | None:
    blocks = functions()[name].get("event_trigger")
    return only(blocks) if blocks else None


def triggered_by(event_type: str) -> str:
    names = [name for name in function_names() if (trigger(name) or {}).get("event_type") == event_type]
    assert len(names) == 1, f"expected one function for {event_type}, found {names}"
    return names[0]


def iam_members() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every IAM binding of the configuration: (address, role, body)."""
    for kind, named in terraform().resources.items():
        if "_iam_" in kind:
            for name, body in named.items():
                yield f"{kind}.{name}", str(body.get("role")), body


def members_of(body: dict[str, Any]) -> list[str]:
    return [str(member) for member in [body.get("member"), *body.get("members", [])] if member]


# What Terraform itself makes of the locals over variables only (access.tf): `terraform console` evaluates them
# offline, for they need no provider.
EVALUATED = ("variables.tf", "access.tf")
TERRAFORM = shutil.which("terraform") or "/usr/bin/terraform"


@dataclass(frozen=True)
class Evaluated:
    value: Any  # None when Terraform refused the variables
    error: str


def evaluate(expression: str, tmp_path: Path, **variables: str) -> Evaluated:
    """`expression` as Terraform evaluates it over variables.tf and access.tf, with these -var values."""
    for name in EVALUATED:
        shutil.copy(INFRA / name, tmp_path / name)
    names = {"register_name": terraform().locals["register_name"]}
    (tmp_path / "names.tf").write_text(
        "locals {\n" + "".join(f'  {name} = "{value}"\n' for name, value in names.items()) + "}\n"
    )
    answer = subprocess.run(
        [
            TERRAFORM,
            "console",
            "-no-color",
            "-var=project=my-project",
            *(f"-var={k}={v}" for k, v in variables.items()),
        ],
        input=f"jsonencode({expression})",
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1"},
        check=False,
    )
    # A variable refused that the expression does not use is an error all the same, though the console goes on.
    if answer.returncode != 0 or "Error:" in answer.stderr:
        return Evaluated(None, " ".join(answer.stderr.split()))
    return Evaluated(json.loads(json.loads(answer.stdout)), "")


# --- Reading the code -------------------------------------------------------------------------------------


def settings_the_code_reads() -> set[str]:
    """Every environment variable settings.py reads, found in its syntax tree.

    Its readers are `env.get("X")`, `env["X"]`, `os.environ...`, `os.getenv("X")`, and helpers that take
    `(env, name, ...)` such as `_required(env, "X")`; the helpers are found by their parameters, not by name.
    """
    tree = ast.parse(SETTINGS.read_text(encoding="utf-8"))
    helpers = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and [arg.arg for arg in node.args.args[:2]] == ["env", "name"]
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        argument: ast.expr | None = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers:
            argument = node.args[1] if len(node.args) > 1 else None
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if (node.func.attr == "get" and _is_environment(node.func.value)) or node.func.attr == "getenv":
                argument = node.args[0]
        elif isinstance(node, ast.Subscript) and _is_environment(node.value):
            argument = node.slice
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            names.add(argument.value)
    return names


def _is_environment(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "env") or (
        isinstance(node, ast.Attribute) and node.attr == "environ"
    )


def _reads_environment(tree: ast.AST) -> bool:
    return any(
        (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"))
        or (isinstance(node, ast.Name) and node.id in ("environ", "getenv"))
        for node in ast.walk(tree)
    )


def modules_the_functions_load() -> dict[str, Path]:
    """functions/main.py and every `signup` module it imports, directly or not."""
    found: dict[str, Path] = {"main": MAIN}
    pending = [MAIN]
    while pending:
        tree = ast.parse(pending.pop().read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "signup":
                # `from signup.mail import notifier` names a module; `from signup.mail.notifier import X`, its module
                package = str(node.module).removeprefix("signup").lstrip(".")
                names = [package, *(f"{package}.{alias.name}".lstrip(".") for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name.removeprefix("signup.") for a in node.names if a.name.startswith("signup.")]
            for name in names:
                path = SIGNUP / f"{name.replace('.', '/')}.py"
                if path.exists() and name not in found:
                    found[name] = path
                    pending.append(path)
    return found


def entry_points() -> dict[str, str]:
    """The functions of functions/main.py with a functions-framework decorator: name -> decorator."""
    tree = ast.parse(MAIN.read_text(encoding="utf-8"))
    points = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                text = ast.unparse(target)
                if text.startswith("functions_framework."):
                    points[node.name] = text
    return points


def constants() -> dict[str, str]:
    """Module-level string constants of functions/signup (SESSIONS, REGISTRATIONS, ...)."""
    found: dict[str, str] = {}
    ambiguous: set[str] = set()
    for path in SIGNUP.rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                name, value = node.targets[0].id, node.value.value
                if found.setdefault(name, value) != value:
                    ambiguous.add(name)
    # A name that means two things in two modules tells nothing: a query using it is reported as unresolved.
    return {name: value for name, value in found.items() if name not in ambiguous}


# --- The queries the code makes, and the indexes they need -------------------------------------------------

EQUALITY = {"==", "in"}
COLLECTIONS = ("collection", "collection_group")
ASCENDING, DESCENDING = "ASCENDING", "DESCENDING"


@dataclass(frozen=True)
class Query:
    """One Firestore query in the code: where it is, what it reads, how it filters and orders."""

    place: str
    collection: str
    group: bool
    filters: tuple[tuple[str, str], ...]
    orders: tuple[tuple[str, str], ...]

    @property
    def scope(self) -> str:
        return "COLLECTION_GROUP" if self.group else "COLLECTION"

    def composite(self) -> tuple[frozenset[str], tuple[tuple[str, str], ...]] | None:
        """(equality fields, then the ordered fields) when Firestore needs a composite index, else None."""
        equal = frozenset(name for name, op in self.filters if op in EQUALITY)
        ordered = list(self.orders)
        for name, op in self.filters:
            if op not in EQUALITY and name not in [known for known, _ in ordered]:
                ordered.append((name, ASCENDING))
        ordered = [(name, direction) for name, direction in ordered if name not in equal]
        if (equal and ordered) or len(ordered) > 1:
            return equal, tuple(ordered)
        return None

    def single_fields(self) -> list[tuple[str, str]]:
        """(field, direction) of the single-field indexes the query uses when it needs no composite one."""
        fields = {name: ASCENDING for name, _ in self.filters}
        fields.update(dict(self.orders))
        return sorted(fields.items())

    def __str__(self) -> str:
        where = " and ".join(f"{name} {op}" for name, op in self.filters)
        order = ", ".join(f"{name} {direction}" for name, direction in self.orders)
        scope = "group " if self.group else ""
        return f"{self.place}: {scope}{self.collection} where {where or '-'} order by {order or '-'}"


class _Function:
    """Names bound inside one function: `x = <expression>` and loop variables over literal tuples."""

    def __init__(self, node: ast.AST) -> None:
        self.assigned: dict[str, ast.expr] = {}
        self.loops: dict[str, list[ast.expr]] = {}
        for child in ast.walk(node):
            if isinstance(child, ast.Assign) and len(child.targets) == 1 and isinstance(child.targets[0], ast.Name):
                self.assigned[child.targets[0].id] = child.value
            elif (
                isinstance(child, (ast.For, ast.comprehension))
                and isinstance(child.target, ast.Name)
                and isinstance(child.iter, (ast.Tuple, ast.List))
            ):
                self.loops[child.target.id] = list(child.iter.elts)


def queries() -> list[Query]:
    """Every query in functions/signup: call chains with `.where(...)` or `.order_by(...)` on a collection."""
    names = constants()
    found: list[Query] = []
    for path in sorted(SIGNUP.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for scope in ast.walk(tree):
            if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.extend(_queries_in(scope, path, names))
    return found


def unresolved_query_calls() -> list[str]:
    """`.where`/`.order_by` calls that no found query accounts for (the finder cannot tell what they read)."""
    covered = {query.place for query in queries()}
    missing = []
    for path in sorted(SIGNUP.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if _is_call_of(node, "where", "order_by") and not _covered(path, node, covered):
                missing.append(f"{path.name}:{node.lineno}")
    return missing


def _covered(path: Path, node: ast.Call, covered: set[str]) -> bool:
    end = node.end_lineno or node.lineno
    return any(
        place.startswith(f"{path.name}:") and _span(place)[0] <= node.lineno and end <= _span(place)[1]
        for place in covered
    )


def _span(place: str) -> tuple[int, int]:
    first, _, last = place.split(":")[1].partition("-")
    return int(first), int(last or first)


def _method(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else ""


def _is_call_of(node: ast.AST, *methods: str) -> TypeGuard[ast.Call]:
    return isinstance(node, ast.Call) and _method(node) in methods


def _queries_in(scope: ast.AST, path: Path, names: dict[str, str]) -> Iterator[Query]:
    bound = _Function(scope)
    outermost: dict[int, ast.Call] = {}
    for node in ast.walk(scope):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            calls = _chain(node)
            if any(_method(call) in ("where", "order_by") for call in calls):
                base = id(calls[-1])
                if base not in outermost or len(calls) > len(_chain(outermost[base])):
                    outermost[base] = node
    for node in outermost.values():
        calls = _chain(node)
        innermost = calls[-1].func
        if _method(calls[-1]) not in COLLECTIONS and isinstance(innermost, ast.Attribute):
            # `registrations.where(...)` after `registrations = ref.collection(REGISTRATIONS)`
            assigned = bound.assigned.get(innermost.value.id) if isinstance(innermost.value, ast.Name) else None
            calls = calls + (_chain(assigned) if isinstance(assigned, ast.Call) else [])
        source = next((call for call in calls if _method(call) in COLLECTIONS), None)
        if source is None or not source.args:
            continue
        place = f"{path.name}:{node.lineno}" + (f"-{node.end_lineno}" if node.end_lineno != node.lineno else "")
        # `collection(SESSIONS, session_id, REGISTRATIONS)` names a path: the collection is its last part.
        for collection in _strings(source.args[-1], bound, names):
            yield Query(
                place=place,
                collection=collection,
                group=_method(source) == "collection_group",
                filters=tuple(_filter(call, names) for call in reversed(calls) if _method(call) == "where"),
                orders=tuple(_order(call, names) for call in reversed(calls) if _method(call) == "order_by"),
            )


def _chain(node: ast.Call) -> list[ast.Call]:
    """`a.collection(X).where(...).order_by(...)` as its calls, outermost first, down to a collection call."""
    calls: list[ast.Call] = []
    current: ast.expr = node
    while isinstance(current, ast.Call) and isinstance(current.func, ast.Attribute):
        calls.append(current)
        if current.func.attr in COLLECTIONS:
            break
        current = current.func.value
    return calls


def _strings(node: ast.expr, bound: _Function, names: dict[str, str]) -> list[str]:
    """The collection names an argument can be; none when it cannot be told (reported by the coverage test)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if (named := _constant(node, names)) is not None:
        return [named]
    if isinstance(node, ast.Name) and node.id in bound.loops:
        return [value for element in bound.loops[node.id] for value in _strings(element, bound, names)]
    return []


def _constant(node: ast.expr, names: dict[str, str]) -> str | None:
    """A string the code writes as itself, or as a module's constant (`STARTS_AT`, `fields.STATUS`)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.Attribute) and node.attr in names:
        return names[node.attr]
    return None


def _filter(call: ast.Call, names: dict[str, str]) -> tuple[str, str]:
    arguments = call.args or [keyword.value for keyword in call.keywords if keyword.arg == "filter"]
    first = arguments[0]
    if isinstance(first, ast.Call):  # FieldFilter("field", "op", value)
        arguments = first.args
    name, op = _constant(arguments[0], names), _constant(arguments[1], names)
    assert name is not None, ast.unparse(call)
    assert op is not None, ast.unparse(call)
    return name, op


def _order(call: ast.Call, names: dict[str, str]) -> tuple[str, str]:
    name = _constant(call.args[0], names)
    assert name is not None, ast.unparse(call)
    direction = next((ast.unparse(k.value) for k in call.keywords if k.arg == "direction"), ASCENDING)
    return name, DESCENDING if "DESC" in direction.upper() else ASCENDING


def field_overrides() -> dict[tuple[str, str], dict[str, Any]]:
    """google_firestore_field resources by (collection group, field)."""
    return {
        (str(body["collection"]), str(body["field"])): body
        for body in terraform().of_type("google_firestore_field").values()
    }


def single_field_indexes(collection: str, name: str) -> set[tuple[str, str]]:
    """(direction, scope) of the single-field indexes a field has: Firestore's automatic ones unless overridden."""
    override = field_overrides().get((collection, name))
    if override is None or "index_config" not in override:
        return {(ASCENDING, "COLLECTION"), (DESCENDING, "COLLECTION")}
    indexes = only(override["index_config"]).get("indexes", [])
    return {(str(index.get("order")), str(index.get("query_scope", "COLLECTION"))) for index in indexes}


def composite_indexes() -> list[tuple[str, str, list[tuple[str, str]]]]:
    return [
        (str(body["collection"]), str(body["query_scope"]), [(f["field_path"], f["order"]) for f in body["fields"]])
        for body in terraform().of_type("google_firestore_index").values()
    ]


# --- Path patterns, as Eventarc matches them ----------------------------------------------------------------


def matches_path_pattern(pattern: str, path: str) -> bool:
    """Eventarc's `match-path-pattern`: `{x}` and `*` match one segment, `{x=**}` and `**` the rest."""
    parts, segments = pattern.split("/"), path.split("/")
    for index, part in enumerate(parts):
        if part == "**" or re.fullmatch(r"\{[^/]+=\*\*\}", part):
            return index == len(parts) - 1 and len(segments) > index
        if index >= len(segments) or not segments[index]:
            return False
        if part != "*" and not re.fullmatch(r"\{[^/=]+\}", part) and part != segments[index]:
            return False
    return len(segments) == len(parts)


# --- The tests ----------------------------------------------------------------------------------------------


def test_the_configuration_has_the_functions_the_code_has() -> None:
    deployed = {str(only(body["build_config"])["entry_point"]) for body in functions().values()}
    assert deployed == set(entry_points()), "every entry point of functions/main.py is deployed, and only those"


@pytest.mark.parametrize("name", function_names())
def test_each_function_runs_an_entry_point_of_main_py_of_its_kind(name: str) -> None:
    entry = only(functions()[name]["build_config"])["entry_point"]
    expected = "functions_framework.cloud_event" if trigger(name) else "functions_framework.http"
    assert entry_points().get(entry) == expected, f"{name}: `{entry}` must be a @{expected} function in main.py"


@pytest.mark.parametrize("name", function_names())
def test_each_function_is_built_from_the_one_archive_with_main_py_as_its_source(name: str) -> None:
    build = only(functions()[name]["build_config"])
    storage = only(only(build["source"])["storage_source"])
    assert refers_to(storage["object"], "google_storage_bucket_object") == "source"
    source = terraform().resolve(build["environment_variables"])["GOOGLE_FUNCTION_SOURCE"]
    assert source == MAIN.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("name", function_names())
def test_each_function_is_built_with_bytecode_checked_by_hash(name: str) -> None:
    build = terraform().resolve(only(functions()[name]["build_config"])["environment_variables"])
    assert str(build.get("SOURCE_DATE_EPOCH", "")).isdigit(), f"{name}: the build sets no SOURCE_DATE_EPOCH"


def test_bytecode_compiled_as_the_build_does_is_used_after_the_image_changes_the_file_times(tmp_path: Path) -> None:
    # What the buildpack runs on the archive, with the build's environment; then every file gets another time.
    shutil.copytree(ROOT / "functions", tmp_path / "functions")
    build = {**os.environ, "SOURCE_DATE_EPOCH": str(terraform().resolve("${local.build_env}")["SOURCE_DATE_EPOCH"])}
    subprocess.run([sys.executable, "-m", "compileall", "-f", "-q", "."], cwd=tmp_path, env=build, check=True)
    for path in (tmp_path / "functions").rglob("*.py"):
        os.utime(path, (315532801, 315532801))

    run = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(tmp_path / "functions")}
    loaded = subprocess.run(
        [sys.executable, "-v", "-c", "import signup.settings"], env=run, capture_output=True, text=True, check=True
    )

    assert f"code object from '{tmp_path}/functions/signup/__pycache__/settings." in loaded.stderr
    assert "bytecode is stale" not in loaded.stderr


def test_the_archive_holds_what_the_functions_import_render_and_install() -> None:
    patterns = terraform().resolve("${local.source_patterns}")
    archived = {
        Path(match).as_posix()
        for pattern in patterns
        for match in glob.glob(pattern, root_dir=ROOT, recursive=True)
        if (ROOT / match).is_file()
    }
    needed = {
        MAIN.relative_to(ROOT).as_posix(),
        "requirements.txt",
        *(path.relative_to(ROOT).as_posix() for path in SIGNUP.rglob("*.py")),
        *(path.relative_to(ROOT).as_posix() for path in (ROOT / "templates").rglob("*") if path.is_file()),
    }
    assert needed - archived == set(), "missing from the archive"
    strays = {path for path in archived if not path.startswith(("functions/", "templates/", "requirements.txt"))}
    assert strays == set(), "only functions/, templates/ and requirements.txt go into the archive"
    archive = terraform().data["archive_file"]["source"]
    assert only(archive["dynamic"])["source"]["for_each"] == "${local.source_files}"
    assert "local.source_patterns" in terraform().locals["source_files"]


@pytest.mark.parametrize("name", function_names())
def test_each_function_runs_on_the_python_the_tests_run_on(name: str) -> None:
    runtime = terraform().resolve(only(functions()[name]["build_config"])["runtime"])
    assert runtime == f"python{sys.version_info.major}{sys.version_info.minor}"


def test_the_settings_of_the_functions_are_all_read_in_settings_py() -> None:
    loaded = modules_the_functions_load()
    assert loaded.get("settings") == SETTINGS, "the functions load signup.settings"
    readers = [name for name, path in loaded.items() if _reads_environment(ast.parse(path.read_text("utf-8")))]
    assert readers == ["settings"], "only settings.py reads the environment, so that this test finds every setting"


def test_this_test_knows_the_settings_it_names() -> None:
    read = settings_the_code_reads()
    assert {"PUBLIC_BASE_URL", "SIGNING_KEY"} <= read, "settings.py was read"
    named = SECRETS | {setting for settings in NOT_NEEDED.values() for setting in settings}
    assert named - read == set(), "the tables above name settings the code no longer reads"


@pytest.mark.parametrize("name", function_names())
def test_each_function_gets_every_setting_it_needs(name: str) -> None:
    given = set(plain_env(name)) | set(secret_env(name))
    needed = settings_the_code_reads() - NOT_NEEDED.get(deployed_name(name), set())
    assert needed - given == set(), f"{name} lacks settings the code reads"


@pytest.mark.parametrize("name", function_names())
def test_each_function_gets_no_setting_the_code_does_not_read(name: str) -> None:
    given = set(plain_env(name)) | set(secret_env(name))
    assert given - settings_the_code_reads() - {THREADS} == set(), f"{name} sets what nothing reads (a typo?)"
    assert LOCAL_ONLY not in given, "the emulator's address is for local use only"


@pytest.mark.parametrize("name", function_names())
def test_secrets_come_from_secret_manager_and_the_function_may_read_them(name: str) -> None:
    assert SECRETS & set(plain_env(name)) == set(), "a secret given as a plain value"
    account = refers_to(only(functions()[name]["service_config"])["service_account_email"], "google_service_account")
    for key, block in secret_env(name).items():
        assert key in SECRETS
        secret = refers_to(block["secret"], "google_secret_manager_secret")
        assert secret in terraform().of_type("google_secret_manager_secret"), f"{key}: not a secret made here"
        grants = [
            body
            for body in terraform().of_type("google_secret_manager_secret_iam_member").values()
            if refers_to(body["secret_id"], "google_secret_manager_secret") == secret
            and body["role"] == "roles/secretmanager.secretAccessor"
            and refers_to(body["member"], "google_service_account") == account
        ]
        assert grants, f"{name} runs as {account}, which may not read {secret}"


@pytest.mark.parametrize("name", function_names())
def test_each_function_runs_as_its_own_account_that_may_use_firestore(name: str) -> None:
    account = refers_to(only(functions()[name]["service_config"])["service_account_email"], "google_service_account")
    assert account in terraform().of_type("google_service_account")
    roles = {
        body["role"]
        for body in terraform().of_type("google_project_iam_member").values()
        if refers_to(body["member"], "google_service_account") == account
    }
    assert "roles/datastore.user" in roles


def test_public_base_url_is_registers_own_address_without_a_cycle_or_the_balancers(tmp_path: Path) -> None:
    register = functions()["register"]
    own = f"https://europe-west4-my-project.cloudfunctions.net/{deployed_name('register')}"
    assert register["location"] == "${var.region}"
    assert terraform().variables["region"]["default"] == "europe-west4"
    assert evaluate("local.public_base_url", tmp_path).value == own
    balancer = evaluate("local.public_base_url", tmp_path, trusted_proxy_hops="1", public_base_url="https://a.example/")
    assert balancer.value == "https://a.example"
    for name in function_names():
        assert plain_env(name)["PUBLIC_BASE_URL"] == "${local.public_base_url}", name
    for output in ("register_url", "form_url", "embed_snippet"):
        assert "${local.public_base_url}" in str(terraform().outputs[output]["value"]), output


def test_register_and_the_organisers_page_are_open_to_anyone_and_nothing_else_is() -> None:
    public = [(address, role, body) for address, role, body in iam_members() if PUBLIC & set(members_of(body))]
    assert {role for _, role, _ in public} == {"roles/run.invoker"}
    assert sorted(str(refers_to(body["service"], FUNCTION)) for _, _, body in public) == ["organise", "register"]
    assert only(functions()["register"]["service_config"])["ingress_settings"] == "${local.register_ingress}"
    # The organisers' page is reached at its own address, never behind the balancer: it trusts no proxy hop.
    assert only(functions()["organise"]["service_config"])["ingress_settings"] == "ALLOW_ALL"
    assert plain_env("organise")["TRUSTED_PROXY_HOPS"] == "0"
    for name in function_names():
        if name not in ("register", "organise"):
            assert only(functions()[name]["service_config"])["ingress_settings"] == "ALLOW_INTERNAL_ONLY", name


@pytest.mark.parametrize(
    ("variables", "ingress"),
    [
        ({}, "ALLOW_ALL"),  # visitors call the function's own address, whose front end appends their address
        ({"trusted_proxy_hops": "1", "public_base_url": "https://a.example"}, "ALLOW_INTERNAL_AND_GCLB"),
        ({"trusted_proxy_hops": "2", "public_base_url": "https://a.example"}, "ALLOW_INTERNAL_AND_GCLB"),
        (
            {
                "trusted_proxy_hops": "1",
                "public_base_url": "https://a.example",
                "register_ingress": "ALLOW_INTERNAL_ONLY",
            },
            "ALLOW_INTERNAL_ONLY",
        ),
    ],
)
def test_register_is_reached_only_the_way_its_proxy_hops_say(
    tmp_path: Path, variables: dict[str, str], ingress: str
) -> None:
    assert evaluate("local.register_ingress", tmp_path, **variables).value == ingress


@pytest.mark.parametrize(
    ("variables", "refusal"),
    [
        # A client calling the function's own address would choose its rate-limit key with a forged X-Forwarded-For.
        (
            {"trusted_proxy_hops": "1", "public_base_url": "https://a.example", "register_ingress": "ALLOW_ALL"},
            "ALLOW_ALL with trusted_proxy_hops above 0",
        ),
        # Every visitor would be the balancer's address, all in one budget.
        ({"register_ingress": "ALLOW_INTERNAL_AND_GCLB"}, "trusted_proxy_hops 0"),
        # The function's own address refuses visitors behind a balancer: links and the form must use the balancer's.
        ({"trusted_proxy_hops": "1"}, "set public_base_url"),
        ({"register_ingress": "OPEN"}, "register_ingress is null"),
        ({"public_base_url": "http://a.example"}, "https address"),
    ],
)
def test_a_way_in_that_would_undo_the_rate_limits_or_strand_visitors_is_refused_by_terraform(
    tmp_path: Path, variables: dict[str, str], refusal: str
) -> None:
    evaluated = evaluate("local.register_ingress", tmp_path, **variables)

    assert evaluated.value is None
    assert refusal in evaluated.error


@pytest.mark.parametrize("name", function_names())
def test_each_function_gets_no_secret_it_does_not_need_nor_may_read_one(name: str) -> None:
    not_needed = SECRETS & NOT_NEEDED.get(deployed_name(name), set())
    holding = {  # each secret setting, and the secret that holds it
        key: refers_to(block["secret"], "google_secret_manager_secret")
        for function in function_names()
        for key, block in secret_env(function).items()
    }
    account = refers_to(only(functions()[name]["service_config"])["service_account_email"], "google_service_account")
    readable = {
        refers_to(body["secret_id"], "google_secret_manager_secret")
        for body in terraform().of_type("google_secret_manager_secret_iam_member").values()
        if refers_to(body["member"], "google_service_account") == account
    }

    assert not_needed & set(secret_env(name)) == set(), f"{name} is given a secret it does not need"
    assert readable & {holding[key] for key in not_needed} == set(), f"{name}'s account may read a secret it needs not"


def test_the_functions_may_use_their_own_database_only() -> None:
    grants = [body for _, role, body in iam_members() if role == "roles/datastore.user"]
    database = "projects/${var.project}/databases/${google_firestore_database.main.name}"
    assert len(grants) == len({refers_to(body["member"], "google_service_account") for body in grants}) >= 3
    for body in grants:
        condition = only(body["condition"])
        expression = terraform().expand_locals(str(condition["expression"]))
        assert _unescape(expression) == f'resource.name == "{database}"'


def test_the_organisers_page_is_at_a_host_of_its_own_not_at_registers() -> None:
    """Every function of the project answers at https://{region}-{project}.cloudfunctions.net/{name}: there the
    page's cookie (`__Host-`, Path=/) went with every request to `register`, and register's pages were same-origin
    with the page, their posts let through by its cross-site check."""
    organise = str(terraform().locals["organise_url"])
    register = str(terraform().locals["function_url"])

    assert "cloudfunctions.net" in register
    assert "cloudfunctions.net" not in organise
    assert organise == "https://${local.organise_name}-${data.google_project.this.number}.${var.region}.run.app"
    assert plain_env("organise")["ORGANISE_URL"] == "${local.organise_url}"
    assert "${local.organise_url}" in str(terraform().outputs["organise_url"]["value"])


def test_the_request_log_keeps_no_sign_in_links_token() -> None:
    """Cloud Run logs every request's URL, and a sign-in link's token is in its URL: a mail scanner's GET of a link
    put a usable link in the log. Its requests are left out of the log; asking for a link is not."""
    from signup.organise import web

    [link] = [rule.rule for rule in web.ROUTES.iter_rules() if rule.endpoint == "link"]
    [exclusion] = terraform().of_type("google_logging_project_exclusion").values()
    kept = str(exclusion["filter"])

    assert link.startswith("/sign-in/")
    for clause in (
        r"resource.type=\"cloud_run_revision\"",
        r"resource.labels.service_name=\"${local.organise_name}\"",
        r"logName=\"projects/${var.project}/logs/run.googleapis.com%2Frequests\"",
        r"httpRequest.requestUrl:\"/sign-in/\"",
    ):
        assert clause in kept
    assert exclusion.get("disabled") in (None, False)


def test_the_organisers_page_holds_no_mail_credentials_and_runs_as_its_own_account() -> None:
    account = refers_to(
        only(functions()["organise"]["service_config"])["service_account_email"], "google_service_account"
    )
    others = {
        refers_to(only(functions()[name]["service_config"])["service_account_email"], "google_service_account")
        for name in function_names()
        if name != "organise"
    }
    assert account not in others
    assert set(secret_env("organise")) == {"SIGNING_KEY"}
    assert "SMTP_URL" not in plain_env("organise")
    grants = [
        body for _, _, body in iam_members() if refers_to(body.get("member"), "google_service_account") == account
    ]
    assert sorted(str(body["role"]) for body in grants) == [
        "roles/datastore.user",
        "roles/secretmanager.secretAccessor",
    ]


@pytest.mark.parametrize(("address", "role"), [(address, role) for address, role, _ in iam_members()])
def test_no_binding_grants_owner_or_editor(address: str, role: str) -> None:
    assert role not in FORBIDDEN_ROLES, address


def test_register_serves_many_requests_at_once_on_a_whole_cpu() -> None:
    service = only(functions()["register"]["service_config"])
    assert int(terraform().resolve(service["max_instance_request_concurrency"])) > 1
    assert float(terraform().resolve(service["available_cpu"])) >= 1


@pytest.mark.parametrize("name", function_names())
def test_a_function_that_serves_requests_at_once_runs_as_many_threads(name: str) -> None:
    service = only(functions()[name]["service_config"])
    concurrency = int(terraform().resolve(service.get("max_instance_request_concurrency", 1)))
    threads = plain_env(name).get(THREADS)
    if concurrency == 1:
        assert threads is None, "one request at a time needs no threads setting"
        return
    assert threads is not None, f"{name} would serve 4 requests at a time per CPU, not {concurrency}"
    converted = re.fullmatch(r"\$\{tostring\((.+)\)\}", str(threads))
    assert int(terraform().resolve("${" + converted[1] + "}" if converted else threads)) == concurrency


def firestore_triggers() -> dict[str, dict[str, Any]]:
    """The functions started by Firestore document events, with their triggers."""
    return {
        name: found
        for name in function_names()
        if (found := trigger(name)) is not None and str(found["event_type"]).startswith(events.FIRESTORE)
    }


def document_pattern(found: dict[str, Any]) -> str:
    document = next(block for block in found["event_filters"] if block["attribute"] == "document")
    assert document["operator"] == "match-path-pattern"
    return str(document["value"])


def test_notify_hears_of_every_write_of_a_registration_and_of_a_session_with_retries() -> None:
    declared = {
        (found["event_type"], document_pattern(found), only(functions()[name]["build_config"])["entry_point"])
        for name, found in firestore_triggers().items()
    }
    assert declared == {
        (events.WRITTEN, f"{SESSIONS}/{{session}}/{REGISTRATIONS}/{{registration}}", "notify"),
        (events.WRITTEN, f"{SESSIONS}/{{session}}", "notify"),
        (events.WRITTEN, f"{SIGNINS}/{{signin}}", "notify"),
    }
    assert {found["retry_policy"] for found in firestore_triggers().values()} == {"RETRY_POLICY_RETRY"}


def test_make_dev_and_the_tests_register_exactly_the_triggers_declared_here() -> None:
    from dev import triggers as local

    assert {(t.event_type, t.document) for t in local.declared(INFRA)} == {
        (found["event_type"], document_pattern(found)) for found in firestore_triggers().values()
    }
    assert len({t.trigger_id for t in local.declared(INFRA)}) == len(firestore_triggers())


@pytest.mark.parametrize("name", sorted(firestore_triggers()))
def test_the_firestore_triggers_listen_where_the_database_lives(name: str) -> None:
    found = firestore_triggers()[name]
    database = terraform().of_type("google_firestore_database")["main"]
    assert found["trigger_region"] == database["location_id"]
    assert terraform().resolve(database["location_id"]) == "eur3"
    assert terraform().resolve(functions()["register"]["location"]) == "europe-west4"


@pytest.mark.parametrize("name", sorted(firestore_triggers()))
def test_the_firestore_triggers_filter_on_the_database_the_functions_use(name: str) -> None:
    filters = {block["attribute"]: block for block in firestore_triggers()[name]["event_filters"]}
    database = refers_to(filters["database"]["value"], "google_firestore_database")
    assert database is not None
    assert terraform().of_type("google_firestore_database")[database]["name"] == "(default)"
    service = ast.parse((SIGNUP / "service.py").read_text(encoding="utf-8"))
    clients = [
        node for node in ast.walk(service) if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("Client")
    ]
    assert clients, "service.py makes the Firestore client"
    assert all("database" not in {k.arg for k in node.keywords} for node in clients), "the code uses (default)"


# Each document the code writes, and what `notify` makes of an event for it (None: none of the triggers fires).
PATHS = [
    (f"{SESSIONS}/s-1/{REGISTRATIONS}/r-1", events.RegistrationWritten),
    (f"{SESSIONS}/s-1", events.SessionWritten),
    (f"{SESSIONS}/s-1/{SEATS}/7", None),
    (f"{SESSIONS}/s-1/{REGISTRATIONS}/r-1/{SEATS}/7", None),
    (f"other/s-1/{REGISTRATIONS}/r-1", None),
    (f"{FORM_TOKENS}/n-1", None),
    (f"{MAILCAPS}/m-1", None),
    (f"{RATELIMITS}/l-1", None),
    (f"{SIGNINS}/0123", events.SignInWritten),
    (f"{SESSIONS}/s-1/{AUDIT}/a-1", None),
]


@pytest.mark.parametrize(("path", "expected"), PATHS)
def test_the_triggers_fire_for_registrations_and_sessions_and_nothing_else(path: str, expected: type | None) -> None:
    firing = [found for found in firestore_triggers().values() if matches_path_pattern(document_pattern(found), path)]
    assert len(firing) == (expected is not None)
    read = events.read({"type": events.WRITTEN, "subject": f"documents/{path}"})
    assert type(read) is expected if expected else read is None, "and notify reads it"


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("a/{x}/b/{y}", "a/1/b/2", True),
        ("a/{x}/b/{y}", "a/1/b", False),
        ("a/{x}/b/{y}", "a/1/c/2", False),
        ("a/{x=**}", "a/1/b/2", True),
        ("a/*", "a/1", True),
        ("a/*", "a/1/2", False),
    ],
)
def test_path_patterns_are_matched_as_eventarc_does(pattern: str, path: str, expected: bool) -> None:
    assert matches_path_pattern(pattern, path) is expected


def test_the_sweep_is_ticked_through_a_topic_by_the_scheduler() -> None:
    name = triggered_by(events.TICK)
    assert only(functions()[name]["build_config"])["entry_point"] == "notify"
    tick = trigger(name)
    assert tick is not None
    topic = refers_to(tick["pubsub_topic"], "google_pubsub_topic")
    assert topic in terraform().of_type("google_pubsub_topic")
    jobs = terraform().of_type("google_cloud_scheduler_job").values()
    assert [job for job in jobs if refers_to(only(job["pubsub_target"])["topic_name"], "google_pubsub_topic") == topic]


def cron_minutes(text: str) -> set[int]:
    minutes: set[int] = set()
    for part in text.split(","):
        span, _, step = part.partition("/")
        first, last = (0, 59) if span == "*" else (int(span.split("-")[0]), int(span.split("-")[-1]))
        minutes.update(range(first, last + 1, int(step or 1)))
    return minutes


def test_the_scheduler_ticks_every_five_minutes_by_default() -> None:
    (job,) = terraform().of_type("google_cloud_scheduler_job").values()
    minute, *rest = str(terraform().resolve(job["schedule"])).split()
    assert cron_minutes(minute) == set(range(0, 60, 5))
    assert rest == ["*", "*", "*", "*"]


def test_the_finder_of_queries_accounts_for_every_query_in_the_code() -> None:
    assert queries(), "no query found: the finder is broken"
    assert unresolved_query_calls() == [], "queries whose collection the finder cannot tell: index them by hand"


@pytest.mark.parametrize("query", queries(), ids=str)
def test_every_query_of_the_code_has_its_index(query: Query) -> None:
    composite = query.composite()
    if composite is not None:
        equal, ordered = composite
        assert any(
            collection == query.collection
            and scope == query.scope
            and {name for name, _ in fields[: len(equal)]} == equal
            and tuple(fields[len(equal) :]) == ordered
            for collection, scope, fields in composite_indexes()
        ), f"no composite index for {query}"
        return
    for name, direction in query.single_fields():
        indexes = single_field_indexes(query.collection, name)
        assert (direction, query.scope) in indexes, f"no {query.scope} index on {name} for {query}"


@pytest.mark.parametrize("collection", [REGISTRATIONS, SEATS, RATELIMITS, FORM_TOKENS, MAILCAPS, DIGESTS, MESSAGES])
def test_personal_data_leaves_by_itself_after_the_retention_period(collection: str) -> None:
    ttl = [key for key, body in field_overrides().items() if "ttl_config" in body and key[0] == collection]
    assert ttl == [(collection, TTL_FIELD)]


@pytest.mark.parametrize(
    "module",
    ["ledger/registration.py", "http/ratelimit.py", "mail/transport/mailcap.py", "mail/digest.py", "mail/messages.py"],
)
def test_the_ttl_field_is_one_the_code_writes(module: str) -> None:
    tree = ast.parse((SIGNUP / module).read_text(encoding="utf-8"))
    names = constants()
    keys = {_constant(key, names) for node in ast.walk(tree) if isinstance(node, ast.Dict) for key in node.keys if key}
    assert TTL_FIELD in keys


def test_no_client_may_touch_the_data_and_the_rules_are_released() -> None:
    rules = (INFRA / "firestore.rules").read_text(encoding="utf-8")
    allows = re.findall(r"allow\s+([^:]+):\s*if\s+([^;]+);", rules)
    assert allows, "the rules allow nothing at all"
    assert all(condition.strip() == "false" for _, condition in allows)
    ruleset = terraform().of_type("google_firebaserules_ruleset")["firestore"]
    assert "firestore.rules" in only(only(ruleset["source"])["files"])["content"]
    release = terraform().of_type("google_firebaserules_release")["firestore"]
    assert release["name"] == "cloud.firestore"
    assert refers_to(release["ruleset_name"], "google_firebaserules_ruleset") == "firestore"


def test_the_database_is_native_and_protected_from_deletion() -> None:
    database = terraform().of_type("google_firestore_database")["main"]
    assert database["type"] == "FIRESTORE_NATIVE"
    assert database["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"


def test_point_in_time_recovery_which_keeps_erased_data_for_7_days_is_off_unless_asked_for() -> None:
    database = terraform().of_type("google_firestore_database")["main"]
    assert terraform().variables["point_in_time_recovery"]["default"] is False
    assert database["point_in_time_recovery_enablement"] == (
        '${var.point_in_time_recovery ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"}'
    )


def _unescape(text: str) -> str:
    return text.replace('\\"', '"')


def test_the_outputs_give_the_form_and_the_embed_snippet() -> None:
    base = "${local.public_base_url}"
    snippet = _unescape(str(terraform().outputs["embed_snippet"]["value"]))
    assert f'<script src="{base}/embed.js" data-session="SESSION_ID" async></script>' in snippet
    assert re.search(rf'<noscript><a href="{re.escape(base)}/sessions/SESSION_ID">[^<]+</a></noscript>', snippet)
    assert terraform().outputs["form_url"]["value"] == f"{base}/sessions/SESSION_ID"
    assert (ROOT / "templates/embed.js").is_file(), "the script the snippet loads is one register serves"


def test_the_readme_shows_the_snippet_terraform_prints() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = "https://europe-west4-PROJECT.cloudfunctions.net/register"
    snippet = _unescape(str(terraform().outputs["embed_snippet"]["value"])).replace("${local.public_base_url}", example)

    lines = [line.strip() for line in snippet.strip().splitlines()]

    assert "\n".join(lines) in readme


# --- The build account: each grant on the one resource it concerns ----------------------------------------------


def build_grants(prefix: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The build account's bindings whose role starts with `prefix`."""
    return [
        (address, role, body)
        for address, role, body in iam_members()
        if refers_to(body.get("member"), "google_service_account") == "build" and role.startswith(prefix)
    ]


def test_the_build_account_reads_only_the_buckets_that_hold_the_source() -> None:
    source = {
        refers_to(only(only(only(f["build_config"])["source"])["storage_source"])["bucket"], "google_storage_bucket")
        for f in functions().values()
    }
    buckets: set[str | None] = set()
    for address, role, body in build_grants("roles/storage."):
        assert role == "roles/storage.objectViewer", f"{address}: {role}: the build only reads"
        if address.startswith("google_storage_bucket_iam_member."):
            buckets.add(refers_to(body["bucket"], "google_storage_bucket"))
        else:  # only with a condition that names one bucket and its objects
            expression = terraform().expand_locals(only(body["condition"])["expression"])
            named = set(re.findall(r"projects/_/buckets/([^/\"]+)", expression))
            assert len(named) == 1, f"{address}: {expression}"
            buckets |= named
    assert buckets == source | {"gcf-v2-sources-${data.google_project.this.number}-${var.region}"}


def test_the_build_account_pushes_images_only_to_the_repository_the_functions_are_built_into() -> None:
    grants = build_grants("roles/artifactregistry.")
    [(address, role, body)] = grants
    repository = refers_to(body["repository"], "google_artifact_registry_repository")
    assert address.startswith("google_artifact_registry_repository_iam_member.")
    assert role == "roles/artifactregistry.writer"
    assert repository in terraform().of_type("google_artifact_registry_repository")
    for name in function_names():
        built_into = only(functions()[name]["build_config"]).get("docker_repository")
        assert refers_to(built_into, "google_artifact_registry_repository") == repository, name


# --- The providers: the versions admitted, and the schema every block is held against ------------------------------

# The first major of each provider that nobody has held these files against (infra/versions.tf says why).
UNTESTED_MAJOR = {"google": 8, "archive": 3}


def required_providers() -> dict[str, dict[str, str]]:
    with (INFRA / "versions.tf").open(encoding="utf-8") as handle:
        parsed = hcl2.load(handle, serialization_options=_OPTIONS)
    providers: dict[str, dict[str, str]] = only(only(parsed["terraform"])["required_providers"])
    return providers


def admits(constraint: str, version: tuple[int, ...]) -> bool:
    """Whether a Terraform version constraint of `>=`, `<` and `=` parts admits a version."""
    checks = {">=": tuple.__ge__, "<": tuple.__lt__, "=": tuple.__eq__, ">": tuple.__gt__, "<=": tuple.__le__}
    for part in constraint.split(","):
        match = re.fullmatch(r"\s*(>=|<=|>|<|=)?\s*([\d.]+)\s*", part)
        assert match, f"{part!r}: not a constraint this test reads"
        bound = tuple(int(n) for n in match[2].split("."))
        if not checks[match[1] or "="](version[: len(bound)], bound):
            return False
    return True


@pytest.mark.parametrize("provider", sorted(UNTESTED_MAJOR))
def test_each_provider_is_capped_below_its_next_untested_major_and_admits_the_version_checked(provider: str) -> None:
    constraint = required_providers()[provider]["version"]
    _, types = tf_schema.check(INFRA)
    checked = {version for _, tf_type, version in types if tf_type.split("_", 1)[0] == provider}
    untested = UNTESTED_MAJOR[provider]

    assert len(checked) == 1, checked
    assert admits(constraint, tuple(int(n) for n in checked.pop().split(".")))
    assert admits(constraint, (untested - 1, 99, 99))
    assert not admits(constraint, (untested, 0, 0))


def test_every_block_holds_to_the_providers_schemas() -> None:
    findings, types = tf_schema.check(INFRA)

    used = {("resource", kind) for kind in terraform().resources} | {("data", kind) for kind in terraform().data}
    assert [str(finding) for finding in findings] == []
    assert {(kind, tf_type) for kind, tf_type, _ in types} == used | {
        ("provider", name) for name in terraform().providers
    }


# Mistakes the schema check must catch: (file, text, replacement, the argument or attribute named, the message).
MISTAKES = [
    (
        "functions.tf",
        '    entry_point           = "register"',
        '    entry_pont = "register"',
        "entry_pont",
        "unsupported",
    ),
    (
        "source.tf",
        'resource "google_storage_bucket" "source"',
        'resource "google_storage_bukket" "source"',
        "",
        "not exist",
    ),
    ("registry.tf", '  format        = "DOCKER"\n', "", "format", "required argument `format` is missing"),
    (
        "source.tf",
        "  versioning {\n    enabled = true\n  }",
        "  versioning = { enabled = true }",
        "versioning",
        "a block",
    ),
    ("source.tf", "  versioning {", "  versioning {\n    enabled = false\n  }\n  versioning {", "versioning", "once"),
    (
        "functions.tf",
        '    ingress_settings      = "ALLOW_INTERNAL_ONLY"',
        '    ingress_settings = ["ALLOW_INTERNAL_ONLY"]',
        "ingress_settings",
        "single",
    ),
    ("functions.tf", "google_storage_bucket.source.name", "google_storage_bucket.source.nam", "nam", "no attribute"),
    (
        "iam.tf",
        "google_service_account.build.member",
        "google_service_account.builder.member",
        "member",
        "not declared",
    ),
    (
        "source.tf",
        "  force_destroy = true\n",
        "  force_destroy = true\n  lifecycle {\n    keep = true\n  }\n",
        "keep",
        "lifecycle",
    ),
]


@pytest.mark.parametrize(("file", "text", "replacement", "named", "message"), MISTAKES)
def test_the_schema_check_catches_a_mistake(
    tmp_path: Path, file: str, text: str, replacement: str, named: str, message: str
) -> None:
    for path in INFRA.glob("*.tf"):
        content = path.read_text(encoding="utf-8")
        if path.name == file:
            assert text in content, f"{file} no longer holds {text!r}: pick another mistake"
            content = content.replace(text, replacement, 1)
        (tmp_path / path.name).write_text(content, encoding="utf-8")

    findings, _ = tf_schema.check(tmp_path)

    caught = [finding for finding in findings if finding.file == file and message in finding.message]
    assert caught, [str(finding) for finding in findings]
    assert all(finding.path.endswith(named) for finding in caught)


def test_the_make_step_fails_naming_file_line_object_and_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = 'resource "google_storage_bucket" "b" {\n  name    = "b"\n  locaton = "EU"\n}\n'
    (tmp_path / "bucket.tf").write_text(bucket)

    code = tf_schema.main(["--infra", str(tmp_path)])

    said = capsys.readouterr().out
    assert code == 1
    assert "bucket.tf:1: google_storage_bucket.b locaton: unsupported argument or block `locaton`" in said
    assert "bucket.tf:1: google_storage_bucket.b location: required argument `location` is missing" in said


def test_an_argument_the_provider_deprecates_is_a_finding(tmp_path: Path) -> None:
    """Most of what a major removes, the releases before it deprecated: a deprecated argument is a finding."""
    (tmp_path / "mesh.tf").write_text(
        'resource "google_gke_hub_feature_membership" "m" {\n  feature    = "servicemesh"\n  location   = "global"\n'
        '  membership = "m"\n\n  mesh {\n    control_plane = "AUTOMATIC"\n  }\n}\n'
    )

    findings, _ = tf_schema.check(tmp_path)

    assert [(f.path, f.message) for f in findings] == [
        ("mesh.control_plane", "`control_plane` is deprecated in the provider")
    ]
