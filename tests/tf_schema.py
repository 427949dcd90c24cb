"""Offline check of infra/*.tf against the real schemas of the Google and archive Terraform providers.

`terraform validate` needs the providers, and they cannot be downloaded here. The npm packages
@cdktf/provider-google and @cdktf/provider-archive are generated from the providers' schemas (pinned in
infra/schema/package.json: google 6.50.0, archive 2.7.1). Their code names each type (`X.tfResourceType = "..."`);
`synthesizeHclAttributes()` and the nested `...ToHclTerraform(struct)` functions list every configurable argument
and block of it, whether a block may occur once or many times; the TypeScript interfaces (index.d.ts) say which
are required (no `?`) and which are deprecated (their doc comment). Computed-only attributes are not configurable,
so setting one is an error; they can be read, so a reference to one is not.

Every resource, data source and provider block of infra/ is checked: its type exists, each argument and block is
one of the type's (an argument is not written as a block, nor a block as an argument), a single block occurs once,
every required one is there, nothing deprecated is used, and every `type.name.attribute` reference names a declared
object and an attribute of its type. Only literal values are judged; expressions are left to Terraform.

    python -m tests.tf_schema [--infra infra] [--packages infra/schema/node_modules/@cdktf]

Exits 1 when anything is found, naming the file, line, object and argument.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "infra/schema/node_modules/@cdktf"
PROVIDERS = ("provider-google", "provider-archive")

META = {
    "resource": {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"},
    "data": {"count", "for_each", "depends_on", "provider", "lifecycle"},
    "provider": {"alias", "version"},
}
LIFECYCLE = {
    "resource": {"create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by"},
    "data": set(),
}
CONDITIONS = {"precondition", "postcondition"}
DYNAMIC = {"for_each", "iterator", "labels", "content"}
INTERNAL = {"__is_block__", "__start_line__", "__end_line__", "__comments__", "__inline_comments__"}
_OPTIONS = hcl2.SerializationOptions(with_comments=False)


# --- The schema, read from the generated code ---------------------------------------------------------------


@dataclass
class Field:
    name: str
    block: bool
    kind: str  # simple, list, set, map or struct
    single: bool  # a block that may occur once
    required: bool
    deprecated: bool
    nested: Schema | None


@dataclass
class Schema:
    name: str
    fields: dict[str, Field] = field(default_factory=dict)


@dataclass(frozen=True)
class TypeSchema:
    schema: Schema
    readable: frozenset[str]  # what a reference may read: every argument and every computed attribute
    version: str


# `name: {\n value: <mapper>,\n isBlock: <bool>,\n type: "<kind>",\n storageClassType: "<storage>",\n },`
_ENTRY = re.compile(
    r'^\s*"?(?P<name>\w+)"?: \{\s*\n\s*value: (?P<value>.*?),\s*\n\s*isBlock: (?P<block>true|false),\s*\n'
    r'\s*type: "(?P<kind>\w+)",\s*\n\s*storageClassType: "\w+",\s*\n\s*\},?',
    re.M | re.S,
)
# "... is deprecated", "Deprecated: ...": not a mention such as "the (now deprecated) Modules API".
_DEPRECATED = re.compile(r"\b(?:is|are|has been|was)\s+deprecated\b|^\W*deprecated\b", re.I | re.M)
_PROPERTY = re.compile(r"(?:/\*\*(?P<doc>(?:(?!\*/).)*?)\*/\s*)?readonly (?P<name>\w+)(?P<optional>\??): [^;]+;", re.S)


def braced(text: str, start: int) -> str:
    """The text inside the `{` at or after `start`. The generated code is indented consistently, so the block ends
    at the first line holding only `}` at the opening line's indentation (doc comments may hold stray braces)."""
    opening = text.index("{", start)
    line_start = text.rfind("\n", 0, opening) + 1
    indent = re.match(r"[ \t]*", text[line_start:])
    assert indent is not None
    if text[opening + 1 : opening + 2] == "}":
        return ""
    closing = re.compile(rf"^{re.escape(indent[0])}\}}[;,)]*[ \t]*$", re.M).search(text, opening + 1)
    if closing is None:
        raise ValueError(f"unbalanced braces at {text[line_start:opening]!r}")
    return text[opening + 1 : closing.start()]


def _entries(body: str) -> list[dict[str, Any]]:
    """The attribute entries of one `const attrs = {...}`: name, block or not, kind, nested function, property."""
    found = []
    for match in _ENTRY.finditer(body):
        value = match["value"]
        nested = re.search(r"(\w+)ToHclTerraform\b", value)
        nested_fn = nested[1] if nested and not nested[1].startswith(("string", "number", "boolean", "any")) else None
        repeated = nested_fn is not None and re.search(rf"listMapperHcl\(\s*{nested_fn}ToHclTerraform", value)
        prop = re.search(r"(?:struct\.|this\._)(\w+)", value)
        found.append(
            {
                "name": match["name"],
                "block": match["block"] == "true",
                "kind": match["kind"],
                "nested": nested_fn,
                "single": nested_fn is not None and not repeated,
                "property": prop[1] if prop else "",
            }
        )
    return found


def _interfaces(dts: str) -> dict[str, dict[str, tuple[bool, bool]]]:
    """Interface -> property -> (required, deprecated), from index.d.ts."""
    found = {}
    for match in re.finditer(r"export interface (\w+)(?: extends [\w.]+)? \{", dts):
        properties = {}
        for prop in _PROPERTY.finditer(braced(dts, match.end() - 1)):
            doc = prop["doc"] or ""
            properties[prop["name"]] = (prop["optional"] != "?", _DEPRECATED.search(doc) is not None)
        found[match[1]] = properties
    return found


def load_type(directory: Path) -> TypeSchema:
    """The schema of the one type whose generated code is in `directory` (lib/<name>/)."""
    js = (directory / "index.js").read_text(encoding="utf-8")
    dts = (directory / "index.d.ts").read_text(encoding="utf-8")
    named = re.search(r"^(\w+)\.tfResourceType = ", js, re.M)
    assert named is not None, directory
    class_name = named[1]
    version = re.search(r"providerVersion: '([^']+)'", js)
    class_body = braced(js, js.index(f"class {class_name} extends"))
    top = re.search(r"synthesizeHclAttributes\(\) \{\s*const attrs = \{", class_body)
    assert top is not None, f"{directory}: no synthesizeHclAttributes"
    functions = {}
    for match in re.finditer(r"^function (\w+)ToHclTerraform\(struct\) \{", js, re.M):
        body = braced(js, match.end() - 1)
        attrs = re.search(r"const attrs = \{", body)
        functions[match[1]] = _entries(braced(body, attrs.end() - 1)) if attrs else []
    interfaces = _interfaces(dts)
    interface_of = {}
    for match in re.finditer(r"export declare function (\w+)ToHclTerraform\(struct\?: ([^)]*)\): any;", dts):
        candidates = [t.strip() for t in match[2].split("|")]
        plain = [t for t in candidates if not t.endswith(("OutputReference", "[]")) and not t.startswith("cdktf.")]
        interface_of[match[1]] = plain[0] if plain else ""
    config = re.search(r"constructor\(scope: Construct, id: string, config\??: (\w+)\);", dts)

    def build(name: str, entries: list[dict[str, Any]], interface: str, seen: tuple[str, ...]) -> Schema:
        properties = interfaces.get(interface, {})
        schema = Schema(interface or name)
        for entry in entries:
            required, deprecated = properties.get(entry["property"], (False, False))
            nested_fn = entry["nested"]
            nested = None
            if nested_fn in functions and nested_fn not in seen:
                nested = build(nested_fn, functions[nested_fn], interface_of.get(nested_fn, ""), (*seen, nested_fn))
            schema.fields[entry["name"]] = Field(
                entry["name"], entry["block"], entry["kind"], entry["single"], required, deprecated, nested
            )
        return schema

    schema = build(class_name, _entries(braced(class_body, top.end() - 1)), config[1] if config else "", ())
    computed = re.findall(r"""(?:get\w*Attribute|interpolationForAttribute)\('(\w+)'\)|\(this, "(\w+)\"""", class_body)
    readable = frozenset(schema.fields) | {name for pair in computed for name in pair if name}
    return TypeSchema(schema, readable, version[1] if version else "?")


class Packages:
    """Every type of the unpacked provider packages, loaded when first asked for."""

    def __init__(self, roots: Iterable[Path]) -> None:
        self.directories: dict[tuple[str, str], Path] = {}
        for root in roots:
            lib = root / "lib"
            if not lib.is_dir():
                raise FileNotFoundError(f"{root} is not an unpacked provider package (run `make infra-check`)")
            for js in sorted(lib.glob("*/index.js")):
                named = re.search(r'^\w+\.tfResourceType = "([^"]+)";', js.read_text(encoding="utf-8"), re.M)
                if named:
                    directory = js.parent.name
                    kind = (
                        "provider"
                        if directory == "provider"
                        else "data"
                        if directory.startswith("data-")
                        else "resource"
                    )
                    self.directories[(kind, named[1])] = js.parent
        self._loaded: dict[tuple[str, str], TypeSchema] = {}

    def get(self, kind: str, tf_type: str) -> TypeSchema | None:
        key = (kind, tf_type)
        if key not in self._loaded and key in self.directories:
            self._loaded[key] = load_type(self.directories[key])
        return self._loaded.get(key)


# --- The check ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    address: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.address} {self.path or '-'}: {self.message}"


def _unquoted(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _is_block(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def _keys(body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    return ((key, value) for key, value in body.items() if key not in INTERNAL)


@dataclass
class _Place:
    file: str
    line: int
    address: str
    kind: str


class Checker:
    def __init__(self, packages: Packages) -> None:
        self.packages = packages
        self.findings: list[Finding] = []
        self.types: set[tuple[str, str, str]] = set()

    def add(self, place: _Place, path: str, message: str) -> None:
        self.findings.append(Finding(place.file, place.line, place.address, path, message))

    def check(self, files: Sequence[Path]) -> list[Finding]:
        parsed = {path: hcl2.loads(path.read_text(encoding="utf-8"), serialization_options=_OPTIONS) for path in files}
        declared = {address for document in parsed.values() for address, *_ in _objects(document)}
        for path, document in parsed.items():
            lines = path.read_text(encoding="utf-8").splitlines()
            for address, kind, tf_type, body in _objects(document):
                place = _Place(path.name, _line_of(lines, kind, tf_type, address), address, kind)
                found = self.packages.get(kind, tf_type)
                if found is None:
                    self.add(place, "", f"{kind} type `{tf_type}` does not exist in the provider")
                    continue
                self.types.add((kind, tf_type, found.version))
                self.body(body, found.schema, place, "", top=True)
            self.references(path.name, lines, declared)
        return self.findings

    def body(self, body: dict[str, Any], schema: Schema, place: _Place, path: str, *, top: bool) -> None:
        present: dict[str, int] = {}
        for key, value in _keys(body):
            where = f"{path}.{key}" if path else key
            if top and key in META[place.kind]:
                self.meta(key, value, place, where)
                continue
            if key == "dynamic":
                for dynamic in value if isinstance(value, list) else [value]:
                    for label, content in _keys(dynamic):
                        self.dynamic(_unquoted(label), content, schema, place, path, present)
                continue
            known = schema.fields.get(key)
            if known is None:
                self.add(place, where, f"unsupported argument or block `{key}` (not in {schema.name})")
                continue
            present[key] = present.get(key, 0) + (len(value) if _is_block(value) else 1)
            if known.deprecated:
                self.add(place, where, f"`{key}` is deprecated in the provider")
            if known.block != _is_block(value):
                written, meant = ("a block", "an argument") if _is_block(value) else ("an argument", "a block")
                self.add(place, where, f"`{key}` is written as {written} but is {meant} in the provider schema")
            elif known.block:
                for n, nested in enumerate(value):
                    if known.nested is not None:
                        self.body(nested, known.nested, place, f"{where}[{n}]" if len(value) > 1 else where, top=False)
            else:
                self.value(known, value, place, where)
        for name, count in present.items():
            if schema.fields.get(name) and schema.fields[name].single and count > 1:
                self.add(place, f"{path}.{name}" if path else name, f"`{name}` may occur once, not {count} times")
        for known in schema.fields.values():
            if known.required and known.name not in present:
                what = "block" if known.block else "argument"
                where = f"{path}.{known.name}" if path else known.name
                self.add(place, where, f"required {what} `{known.name}` is missing (in {schema.name})")

    def value(self, known: Field, value: Any, place: _Place, where: str) -> None:
        if isinstance(value, str) and value.startswith("${"):
            return  # an expression: Terraform's to judge
        if known.kind == "simple" and isinstance(value, list | dict):
            self.add(place, where, f"`{known.name}` takes a single value, not a {type(value).__name__}")
        elif known.kind in ("list", "set") and known.nested is None and not isinstance(value, list):
            self.add(place, where, f"`{known.name}` takes a {known.kind}, not {value!r}")
        elif known.kind == "map" and not isinstance(value, dict):
            self.add(place, where, f"`{known.name}` takes a map, not {value!r}")

    def dynamic(
        self, label: str, content: dict[str, Any], schema: Schema, place: _Place, path: str, present: dict[str, int]
    ) -> None:
        where = f"{path}.dynamic.{label}" if path else f"dynamic.{label}"
        for key, _ in _keys(content):
            if key not in DYNAMIC:
                self.add(place, where, f"unsupported `{key}` in a dynamic block")
        known = schema.fields.get(label)
        if known is None or not known.block:
            self.add(place, where, f"dynamic `{label}`: {schema.name} has no such block")
            return
        present[label] = present.get(label, 0) + 1
        for block in content.get("content", []):
            if known.nested is not None:
                self.body(block, known.nested, place, f"{where}.content", top=False)

    def meta(self, key: str, value: Any, place: _Place, where: str) -> None:
        if key != "lifecycle":
            if key not in ("provisioner", "connection") and _is_block(value):
                self.add(place, where, f"`{key}` is an argument, not a block")
            return
        for block in value if _is_block(value) else []:
            for name, _ in _keys(block):
                if name not in LIFECYCLE[place.kind] | CONDITIONS:
                    self.add(place, f"{where}.{name}", f"unsupported lifecycle argument `{name}` for a {place.kind}")

    _REFERENCE = re.compile(r"(?<![\w.])(data\.)?((?:google|archive)_\w+)\.([\w-]+)(?:\[[^\]]*\])?(?:\.(\w+))?")

    def references(self, file: str, lines: list[str], declared: set[str]) -> None:
        """Every `type.name.attribute` and `data.type.name.attribute`: declared, and an attribute of its type."""
        for number, line in enumerate(lines, 1):
            code = "" if line.lstrip().startswith(("resource ", "data ", "#")) else line.split(" #", 1)[0]
            for match in self._REFERENCE.finditer(code):
                data, tf_type, name, attribute = match.groups()
                address = f"{'data.' if data else ''}{tf_type}.{name}"
                place = _Place(file, number, address, "reference")
                if address not in declared:
                    self.add(place, attribute or "", f"refers to {address}, which is not declared")
                    continue
                found = self.packages.get("data" if data else "resource", tf_type)
                if found is not None and attribute is not None and attribute not in found.readable:
                    self.add(place, attribute, f"`{tf_type}` has no attribute `{attribute}`")


def _objects(document: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(address, kind, type, body) of every resource, data source and provider block of one parsed file."""
    for kind in ("resource", "data"):
        for entry in document.get(kind, []):
            for tf_type, named in _keys(entry):
                for name, body in _keys(named):
                    prefix = "data." if kind == "data" else ""
                    yield f"{prefix}{_unquoted(tf_type)}.{_unquoted(name)}", kind, _unquoted(tf_type), body
    for entry in document.get("provider", []):
        for name, body in _keys(entry):
            yield f"provider.{_unquoted(name)}", "provider", _unquoted(name), body


def _line_of(lines: list[str], kind: str, tf_type: str, address: str) -> int:
    name = address.rsplit(".", 1)[-1]
    labels = [kind, tf_type] if kind == "provider" else [kind, tf_type, name]
    pattern = re.compile(r"^\s*" + r"\s+".join(rf'"?{re.escape(label)}"?' for label in labels) + r"\s*\{")
    return next((n for n, line in enumerate(lines, 1) if pattern.search(line)), 0)


@cache
def packages(root: Path = PACKAGES) -> Packages:
    return Packages(root / name for name in PROVIDERS)


def check(infra: Path, root: Path = PACKAGES) -> tuple[list[Finding], set[tuple[str, str, str]]]:
    """The findings for every *.tf file of `infra`, and the (kind, type, provider version) checked."""
    checker = Checker(packages(root))
    findings = checker.check(sorted(infra.glob("*.tf")))
    return findings, checker.types


def main(argv: Sequence[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    options.add_argument("--infra", type=Path, default=ROOT / "infra")
    options.add_argument("--packages", type=Path, default=PACKAGES, help="where @cdktf/provider-* are unpacked")
    args = options.parse_args(argv)
    findings, types = check(args.infra, args.packages)
    versions = sorted({f"{tf_type.split('_', 1)[0]} {version}" for _, tf_type, version in types})
    print(f"{args.infra}: {len(types)} types checked against the provider schemas ({', '.join(versions)})")
    for finding in findings:
        print(f"  {finding}")
    print(f"{len(findings)} found")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
