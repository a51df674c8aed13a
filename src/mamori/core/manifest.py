"""The bundle manifest: what an update is, what it writes, and what it needs.

One format for every product, for single fixes, cumulative rollups and full installs. A manifest
is parsed strictly (:func:`parse`): every field is checked against :data:`SCHEMA` (unknown fields
are refused) and then for meaning (safe paths, no duplicates, no file that is also a directory, no
setuid bits, a version that does not upgrade to itself). A :class:`Manifest` that exists is valid.

The serialised form (:meth:`Manifest.to_json`) is canonical JSON, so the same manifest always has
the same bytes and the same SHA-256.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import jsonschema

from mamori.core.paths import check_relative, parents
from mamori.errors import InvalidInput

FORMAT = "mamori-bundle/1"
MAX_MANIFEST_BYTES = 32 * 1024 * 1024
ID_PATTERN = r"^[a-z0-9][a-z0-9._+-]{0,127}$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
SERVICE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9@._:-]{0,127}$"
PLATFORM_PATTERN = r"^[a-z0-9]+-[a-z0-9_]+$"


class Kind(StrEnum):
    FIX = "fix"  # one fix, from one or more exact versions to the next
    ROLLUP = "rollup"  # cumulative: every change since its base, supersedes the fixes it holds
    FULL = "full"  # the whole product, for a fresh install


class ServiceAction(StrEnum):
    RESTART = "restart"  # restarted once after the update is committed
    STOP = "stop"  # stopped before files are swapped, started again afterwards


class CheckKind(StrEnum):
    FILE = "file"  # a file exists (and has this SHA-256)
    ABSENT = "absent"  # a path does not exist
    COMMAND = "command"  # a command (argv, no shell) exits 0, run in the install root


_CHECK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type"],
    "properties": {
        "type": {"enum": [k.value for k in CheckKind]},
        "path": {"type": "string"},
        "sha256": {"type": "string", "pattern": SHA256_PATTERN},
        "argv": {
            "type": "array",
            "minItems": 1,
            "maxItems": 64,
            "items": {"type": "string", "minLength": 1, "maxLength": 4096},
        },
        "timeout": {"type": "integer", "minimum": 1, "maximum": 3600},
        "description": {"type": "string", "maxLength": 500},
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Mamori bundle manifest",
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "id", "kind", "product", "from_versions", "to_version", "files"],
    "properties": {
        "format": {"const": FORMAT},
        "id": {"type": "string", "pattern": ID_PATTERN},
        "kind": {"enum": [k.value for k in Kind]},
        "product": {"type": "string", "pattern": ID_PATTERN},
        "from_versions": {
            "type": "array",
            "maxItems": 1000,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": VERSION_PATTERN},
        },
        "to_version": {"type": "string", "pattern": VERSION_PATTERN},
        "summary": {"type": "string", "maxLength": 2000},
        "advisories": {
            "type": "array",
            "maxItems": 200,
            "uniqueItems": True,
            "items": {"type": "string", "minLength": 1, "maxLength": 100},
        },
        "files": {
            "type": "array",
            "maxItems": 1_000_000,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["path", "sha256", "size", "mode"],
                "properties": {
                    "path": {"type": "string"},
                    "sha256": {"type": "string", "pattern": SHA256_PATTERN},
                    "size": {"type": "integer", "minimum": 0, "maximum": 2**40},
                    "mode": {"type": "string", "pattern": "^[0-7]{4}$"},
                },
            },
        },
        "removes": {"type": "array", "maxItems": 1_000_000, "items": {"type": "string"}},
        "services": {
            "type": "array",
            "maxItems": 100,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "action"],
                "properties": {
                    "name": {"type": "string", "pattern": SERVICE_PATTERN},
                    "action": {"enum": [a.value for a in ServiceAction]},
                },
            },
        },
        "reboot": {
            "type": "object",
            "additionalProperties": False,
            "required": ["required"],
            "properties": {
                "required": {"type": "boolean"},
                "reason": {"type": "string", "maxLength": 1000},
            },
        },
        "checks": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "pre": {"type": "array", "maxItems": 100, "items": _CHECK_SCHEMA},
                "post": {"type": "array", "maxItems": 100, "items": _CHECK_SCHEMA},
            },
        },
        "supersedes": {
            "type": "array",
            "maxItems": 10_000,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": ID_PATTERN},
        },
        "prerequisites": {
            "type": "array",
            "maxItems": 100,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": ID_PATTERN},
        },
        "applicability": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "platforms": {
                    "type": "array",
                    "maxItems": 50,
                    "uniqueItems": True,
                    "items": {"type": "string", "pattern": PLATFORM_PATTERN},
                },
                "requires_files": {
                    "type": "array",
                    "maxItems": 100,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["path"],
                        "properties": {
                            "path": {"type": "string"},
                            "sha256": {"type": "string", "pattern": SHA256_PATTERN},
                        },
                    },
                },
            },
        },
    },
}


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int
    mode: int  # permission bits only (0o644, 0o755, ...): no setuid, setgid or sticky bit


@dataclass(frozen=True)
class Service:
    name: str
    action: ServiceAction


@dataclass(frozen=True)
class Check:
    kind: CheckKind
    path: str = ""
    sha256: str = ""
    argv: tuple[str, ...] = ()
    timeout: int = 60
    description: str = ""


@dataclass(frozen=True)
class RequiredFile:
    path: str
    sha256: str = ""


@dataclass(frozen=True)
class Manifest:
    id: str
    kind: Kind
    product: str
    from_versions: tuple[str, ...]
    to_version: str
    files: tuple[FileEntry, ...]
    removes: tuple[str, ...] = ()
    summary: str = ""
    advisories: tuple[str, ...] = ()
    services: tuple[Service, ...] = ()
    reboot_required: bool = False
    reboot_reason: str = ""
    pre_checks: tuple[Check, ...] = ()
    post_checks: tuple[Check, ...] = ()
    supersedes: tuple[str, ...] = ()
    prerequisites: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    requires_files: tuple[RequiredFile, ...] = field(default=())

    def file(self, path: str) -> FileEntry | None:
        return next((f for f in self.files if f.path == path), None)

    @property
    def payload_size(self) -> int:
        return sum(f.size for f in self.files)

    def applies_to(self, version: str | None) -> bool:
        """Whether this bundle installs on top of ``version`` (``None``: nothing installed)."""
        if version is None:
            return self.kind is Kind.FULL
        return version in self.from_versions

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": FORMAT,
            "id": self.id,
            "kind": self.kind.value,
            "product": self.product,
            "from_versions": list(self.from_versions),
            "to_version": self.to_version,
            "files": [
                {"path": f.path, "sha256": f.sha256, "size": f.size, "mode": f"{f.mode:04o}"}
                for f in self.files
            ],
            "removes": list(self.removes),
            "summary": self.summary,
            "advisories": list(self.advisories),
            "services": [{"name": s.name, "action": s.action.value} for s in self.services],
            "reboot": {"required": self.reboot_required, "reason": self.reboot_reason},
            "checks": {
                "pre": [_check_data(c) for c in self.pre_checks],
                "post": [_check_data(c) for c in self.post_checks],
            },
            "supersedes": list(self.supersedes),
            "prerequisites": list(self.prerequisites),
            "applicability": {
                "platforms": list(self.platforms),
                "requires_files": [_required_data(r) for r in self.requires_files],
            },
        }
        return data

    def to_json(self) -> bytes:
        return canonical_json(self.to_data())


def canonical_json(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _check_data(check: Check) -> dict[str, Any]:
    data: dict[str, Any] = {"type": check.kind.value}
    if check.path:
        data["path"] = check.path
    if check.sha256:
        data["sha256"] = check.sha256
    if check.argv:
        data["argv"] = list(check.argv)
        data["timeout"] = check.timeout
    if check.description:
        data["description"] = check.description
    return data


def _required_data(required: RequiredFile) -> dict[str, str]:
    data = {"path": required.path}
    if required.sha256:
        data["sha256"] = required.sha256
    return data


def loads(raw: bytes) -> Manifest:
    """Parse manifest bytes (UTF-8 JSON) strictly; see :func:`parse`."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise InvalidInput(f"the manifest is over {MAX_MANIFEST_BYTES} bytes", field="manifest")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidInput(f"the manifest is not valid JSON: {error}", field="manifest") from None
    return parse(data)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse(data: object) -> Manifest:
    """Validate manifest data against :data:`SCHEMA` and its rules; return the value."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    problems = {
        _where(error.absolute_path): error.message
        for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    }
    if problems:
        raise InvalidInput(dict(list(problems.items())[:20]))
    assert isinstance(data, dict)
    manifest = _build(data)
    check(manifest)
    return manifest


def _where(path: Iterable[object]) -> str:
    return "manifest" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _build(data: Mapping[str, Any]) -> Manifest:
    checks = data.get("checks", {})
    reboot = data.get("reboot", {"required": False})
    applicability = data.get("applicability", {})
    return Manifest(
        id=data["id"],
        kind=Kind(data["kind"]),
        product=data["product"],
        from_versions=tuple(data["from_versions"]),
        to_version=data["to_version"],
        files=tuple(
            FileEntry(f["path"], f["sha256"], f["size"], int(f["mode"], 8)) for f in data["files"]
        ),
        removes=tuple(data.get("removes", ())),
        summary=data.get("summary", ""),
        advisories=tuple(data.get("advisories", ())),
        services=tuple(
            Service(s["name"], ServiceAction(s["action"])) for s in data.get("services", ())
        ),
        reboot_required=reboot["required"],
        reboot_reason=reboot.get("reason", ""),
        pre_checks=tuple(_build_check(c) for c in checks.get("pre", ())),
        post_checks=tuple(_build_check(c) for c in checks.get("post", ())),
        supersedes=tuple(data.get("supersedes", ())),
        prerequisites=tuple(data.get("prerequisites", ())),
        platforms=tuple(applicability.get("platforms", ())),
        requires_files=tuple(
            RequiredFile(r["path"], r.get("sha256", ""))
            for r in applicability.get("requires_files", ())
        ),
    )


def _build_check(data: Mapping[str, Any]) -> Check:
    return Check(
        kind=CheckKind(data["type"]),
        path=data.get("path", ""),
        sha256=data.get("sha256", ""),
        argv=tuple(data.get("argv", ())),
        timeout=data.get("timeout", 60),
        description=data.get("description", ""),
    )


def check(manifest: Manifest) -> None:
    """The rules a schema cannot say. Raises :class:`InvalidInput` listing every problem."""
    problems: dict[str, str] = {}

    def problem(where: str, text: str) -> None:
        problems.setdefault(where, text)

    seen: set[str] = set()
    for i, entry in enumerate(manifest.files):
        _path_problem(entry.path, f"manifest.files[{i}].path", problem)
        if entry.path in seen:
            problem(f"manifest.files[{i}].path", f"{entry.path!r} is listed twice")
        seen.add(entry.path)
        if entry.mode & 0o7000:
            problem(f"manifest.files[{i}].mode", "setuid, setgid and sticky bits are not allowed")
    removed: set[str] = set()
    for i, path in enumerate(manifest.removes):
        _path_problem(path, f"manifest.removes[{i}]", problem)
        if path in seen:
            problem(f"manifest.removes[{i}]", f"{path!r} is both written and removed")
        if path in removed:
            problem(f"manifest.removes[{i}]", f"{path!r} is listed twice")
        removed.add(path)
    directories = {d for path in seen for d in parents(path)}
    for path in sorted(seen & directories):
        problem("manifest.files", f"{path!r} is both a file and a directory")
    for path in sorted(removed & directories):
        problem("manifest.removes", f"{path!r} is removed but files are written under it")
    for path in sorted(p for p in removed if seen.intersection(parents(p))):
        problem("manifest.removes", f"{path!r} is removed from under a path written as a file")
    for name, checks in (("pre", manifest.pre_checks), ("post", manifest.post_checks)):
        for i, item in enumerate(checks):
            _check_problem(item, f"manifest.checks.{name}[{i}]", problem)
    for i, required in enumerate(manifest.requires_files):
        _path_problem(required.path, f"manifest.applicability.requires_files[{i}].path", problem)
    _kind_problems(manifest, problem)
    names = [s.name for s in manifest.services]
    if len(names) != len(set(names)):
        problem("manifest.services", "a service is listed twice")
    if manifest.reboot_required and not manifest.reboot_reason.strip():
        problem("manifest.reboot.reason", "a reboot needs a reason")
    if manifest.id in manifest.supersedes or manifest.id in manifest.prerequisites:
        problem("manifest.id", "a bundle cannot supersede or require itself")
    if problems:
        raise InvalidInput(dict(list(problems.items())[:20]))


def _path_problem(path: str, where: str, problem: Any) -> None:
    try:
        check_relative(path, field=where)
    except InvalidInput as error:
        problem(where, next(iter(error.problems.values())))


def _check_problem(item: Check, where: str, problem: Any) -> None:
    if item.kind is CheckKind.COMMAND:
        if not item.argv:
            problem(where, "a command check needs argv")
        if item.path or item.sha256:
            problem(where, "a command check takes argv only")
    else:
        if not item.path:
            problem(where, f"a {item.kind.value} check needs a path")
        else:
            _path_problem(item.path, where + ".path", problem)
        if item.argv:
            problem(where, f"a {item.kind.value} check takes no argv")
        if item.kind is CheckKind.ABSENT and item.sha256:
            problem(where, "an absent check takes no sha256")


def _kind_problems(manifest: Manifest, problem: Any) -> None:
    if manifest.to_version in manifest.from_versions:
        problem("manifest.from_versions", f"cannot update {manifest.to_version} to itself")
    if manifest.kind is not Kind.FULL and not manifest.from_versions:
        problem("manifest.from_versions", f"a {manifest.kind.value} needs the versions it updates")
    if manifest.kind is Kind.FULL and manifest.removes:
        problem("manifest.removes", "a full install removes nothing")


_VERSION = re.compile(VERSION_PATTERN)


def check_version(version: str, *, field: str = "version") -> str:
    if not _VERSION.match(version):
        raise InvalidInput(
            f"{version!r} is not a version (letters, digits, . _ + ~ -)", field=field
        )
    return version
