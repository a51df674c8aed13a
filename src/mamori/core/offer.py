"""The update catalogue of a product, and what a client at a given version should install.

The catalogue is published as a signed target of the repository (``catalogue/<product>.json``),
so a client decides from signed data alone. Entries are in publication order.

:func:`plan` answers "what should product P at version V install": starting from V, it repeatedly
takes, among the bundles that apply, the one that reaches the newest version, so a cumulative
rollup is taken in one step instead of the chain of fixes it holds. A bundle superseded by another
bundle that also applies at that point is never offered, and a bundle whose prerequisites cannot be
met is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from mamori.core.manifest import ID_PATTERN, PLATFORM_PATTERN, VERSION_PATTERN, Kind, Manifest
from mamori.errors import VerificationFailed

FORMAT = "mamori-catalogue/1"
MAX_BYTES = 16 * 1024 * 1024

_TARGET = {"type": "string", "minLength": 1, "maxLength": 1024}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "product", "bundles"],
    "properties": {
        "format": {"const": FORMAT},
        "product": {"type": "string", "pattern": ID_PATTERN},
        "bundles": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "kind", "from_versions", "to_version", "bundle", "manifest"],
                "properties": {
                    "id": {"type": "string", "pattern": ID_PATTERN},
                    "kind": {"enum": [k.value for k in Kind]},
                    "from_versions": {
                        "type": "array",
                        "items": {"type": "string", "pattern": VERSION_PATTERN},
                    },
                    "to_version": {"type": "string", "pattern": VERSION_PATTERN},
                    "supersedes": {"type": "array", "items": {"type": "string"}},
                    "prerequisites": {"type": "array", "items": {"type": "string"}},
                    "platforms": {
                        "type": "array",
                        "items": {"type": "string", "pattern": PLATFORM_PATTERN},
                    },
                    "summary": {"type": "string"},
                    "advisories": {"type": "array", "items": {"type": "string"}},
                    "reboot_required": {"type": "boolean"},
                    "bundle": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["target", "size"],
                        "properties": {"target": _TARGET, "size": {"type": "integer"}},
                    },
                    "manifest": _TARGET,
                    "deltas": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["target", "size"],
                            "properties": {"target": _TARGET, "size": {"type": "integer"}},
                        },
                    },
                },
            },
        },
    },
}


@dataclass(frozen=True)
class Download:
    target: str  # the TUF target name
    size: int


@dataclass(frozen=True)
class Entry:
    id: str
    kind: Kind
    from_versions: tuple[str, ...]
    to_version: str
    bundle: Download
    manifest: str
    supersedes: tuple[str, ...] = ()
    prerequisites: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    summary: str = ""
    advisories: tuple[str, ...] = ()
    reboot_required: bool = False
    deltas: Mapping[str, Download] = field(default_factory=dict)  # base version -> delta

    def applies(self, version: str | None, platform: str) -> bool:
        if self.platforms and platform not in self.platforms:
            return False
        if version is None:
            return self.kind is Kind.FULL
        return version in self.from_versions


@dataclass(frozen=True)
class Catalogue:
    product: str
    entries: tuple[Entry, ...]

    def entry(self, bundle_id: str) -> Entry | None:
        return next((e for e in self.entries if e.id == bundle_id), None)

    def with_entry(self, entry: Entry) -> Catalogue:
        """This catalogue with ``entry`` added at the end (or replacing the one with its id)."""
        kept = tuple(e for e in self.entries if e.id != entry.id)
        return Catalogue(self.product, (*kept, entry))

    def to_json(self) -> bytes:
        data = {
            "format": FORMAT,
            "product": self.product,
            "bundles": [_entry_data(e) for e in self.entries],
        }
        return json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False).encode()


def entry_for(manifest: Manifest, bundle: Download, manifest_target: str) -> Entry:
    return Entry(
        id=manifest.id,
        kind=manifest.kind,
        from_versions=manifest.from_versions,
        to_version=manifest.to_version,
        bundle=bundle,
        manifest=manifest_target,
        supersedes=manifest.supersedes,
        prerequisites=manifest.prerequisites,
        platforms=manifest.platforms,
        summary=manifest.summary,
        advisories=manifest.advisories,
        reboot_required=manifest.reboot_required,
    )


def _entry_data(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind.value,
        "from_versions": list(entry.from_versions),
        "to_version": entry.to_version,
        "bundle": {"target": entry.bundle.target, "size": entry.bundle.size},
        "manifest": entry.manifest,
        "supersedes": list(entry.supersedes),
        "prerequisites": list(entry.prerequisites),
        "platforms": list(entry.platforms),
        "summary": entry.summary,
        "advisories": list(entry.advisories),
        "reboot_required": entry.reboot_required,
        "deltas": {v: {"target": d.target, "size": d.size} for v, d in entry.deltas.items()},
    }


def loads(raw: bytes, *, product: str | None = None) -> Catalogue:
    """Parse a catalogue strictly. Signed bytes that do not parse are a repository fault."""
    if len(raw) > MAX_BYTES:
        raise VerificationFailed("the catalogue is over its size limit")
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise VerificationFailed(f"the catalogue is not JSON: {error}") from None
    problems = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data))
    if problems:
        raise VerificationFailed(f"the catalogue is malformed: {problems[0].message}")
    if product is not None and data["product"] != product:
        raise VerificationFailed(f"the catalogue is for {data['product']}, not {product}")
    return Catalogue(data["product"], tuple(_entry(item) for item in data["bundles"]))


def _entry(data: Mapping[str, Any]) -> Entry:
    return Entry(
        id=data["id"],
        kind=Kind(data["kind"]),
        from_versions=tuple(data["from_versions"]),
        to_version=data["to_version"],
        bundle=Download(data["bundle"]["target"], data["bundle"]["size"]),
        manifest=data["manifest"],
        supersedes=tuple(data.get("supersedes", ())),
        prerequisites=tuple(data.get("prerequisites", ())),
        platforms=tuple(data.get("platforms", ())),
        summary=data.get("summary", ""),
        advisories=tuple(data.get("advisories", ())),
        reboot_required=data.get("reboot_required", False),
        deltas={v: Download(d["target"], d["size"]) for v, d in data.get("deltas", {}).items()},
    )


def plan(
    catalogue: Catalogue,
    version: str | None,
    *,
    installed: Sequence[str] = (),
    platform: str = "",
) -> list[Entry]:
    """The bundles to install, in order, to bring ``version`` to the newest reachable version."""
    order = {e.to_version: i for i, e in enumerate(catalogue.entries)}  # newest = published last
    done = set(installed)
    steps: list[Entry] = []
    current = version
    while True:
        step = _next_step(catalogue, current, done, platform, order)
        if step is None:
            return steps
        steps.append(step)
        done.add(step.id)
        done.update(step.supersedes)
        current = step.to_version


def _next_step(
    catalogue: Catalogue,
    version: str | None,
    done: set[str],
    platform: str,
    order: Mapping[str, int],
) -> Entry | None:
    usable = [
        e
        for e in catalogue.entries
        if e.id not in done and e.applies(version, platform) and set(e.prerequisites) <= done
    ]
    superseded = {s for e in usable for s in e.supersedes}
    offered = [e for e in usable if e.id not in superseded]
    if not offered:
        return None
    # the furthest version first; among equals the one published last (a rollup after its fixes)
    return max(offered, key=lambda e: (order.get(e.to_version, -1), catalogue.entries.index(e)))
