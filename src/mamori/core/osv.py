"""OSV records (the Open Source Vulnerability format) built from an ``Advisory``.

Pure: values in, JSON-ready ``dict`` out; ``validate`` checks a record against the OSV schema
shipped in ``mamori/data/osv`` (Apache-2.0, from ossf/osv-schema), offline.

OSV describes packages, so only product versions whose package URL names a package in an OSV
ecosystem appear (``ECOSYSTEMS``); a vulnerability that affects none of them has no record.

* ``id``: ``x_<advisory id>-<CVE id>`` (``x_<advisory id>-<n>`` for a vulnerability without a CVE
  id, ``n`` counting from 1). ``x_`` is the schema's prefix for a database without a registered
  one; the CVE id keeps the id stable when a revision adds or reorders vulnerabilities.
* ``modified``/``published``: the advisory's current and initial release.
* ``affected[].versions``: every version the affected matrix lists as known affected, always.
* ``affected[].ranges``: a range says every version between its events is affected, including
  versions the matrix never names, so one is drawn only where that is a fair reading of the
  matrix. The package's listed versions are put in the ecosystem's own order (PEP 440 for PyPI,
  SemVer 2.0 for npm and crates.io; other ecosystems get no ranges, and neither does a package
  with a version that does not parse); each run of consecutive known-affected versions becomes
  one ``ECOSYSTEM`` range from its first version, ``introduced`` (never ``"0"``: nothing is said
  of older versions nobody assessed), to the next listed version when that one is ``fixed``, else
  ``last_affected`` its last version (a not-affected or unassessed version follows, or nothing
  does, so no fix can be named). No listed version therefore ever contradicts a range.
* ``severity``: CVSS v3.x and v4.0 vectors, at the top when every score applies to every
  affected product, else per package (the schema forbids both at once).
* ``references``: the bulletin as ``ADVISORY``, the vulnerability's and the advisory's other
  references as ``WEB``; ``credits`` from the acknowledgments, without a role the model lacks.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from packageurl import PackageURL
from packaging.version import InvalidVersion, Version

from mamori.core.advisory import (
    Advisory,
    Kind,
    ProductVersion,
    RemediationCategory,
    Score,
    Status,
    Vulnerability,
)
from mamori.errors import InvalidInput

#: The OSV schema version the records follow (they use no field newer than it).
SCHEMA_VERSION = "1.7.4"
ID_PREFIX = "x_"

#: Package URL types and the OSV ecosystem of their packages (ecosystems that need a release
#: suffix, such as the Linux distributions, cannot be named from a package URL alone).
ECOSYSTEMS = {
    "cargo": "crates.io",
    "composer": "Packagist",
    "conan": "ConanCenter",
    "cran": "CRAN",
    "gem": "RubyGems",
    "golang": "Go",
    "hackage": "Hackage",
    "hex": "Hex",
    "maven": "Maven",
    "npm": "npm",
    "nuget": "NuGet",
    "pub": "Pub",
    "pypi": "PyPI",
}

_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?"
)
_WORKAROUNDS = frozenset({RemediationCategory.WORKAROUND, RemediationCategory.MITIGATION})
_MESSAGE_LIMIT = 200


def build(advisory: Advisory) -> list[dict[str, Any]]:
    """One OSV record per vulnerability that affects a package in an OSV ecosystem."""
    records = []
    for number, vulnerability in enumerate(advisory.vulnerabilities, 1):
        packages = _packages(advisory, vulnerability)
        if packages:
            records.append(_record(advisory, vulnerability, number, packages))
    return records


def record_id(advisory: Advisory, vulnerability: Vulnerability, number: int) -> str:
    """The OSV id of the ``number``-th (from 1) vulnerability of ``advisory``."""
    return f"{ID_PREFIX}{advisory.id}-{vulnerability.cve or number}"


def validate(record: Any) -> list[str]:
    """What is wrong with ``record`` under the OSV schema, as ``"path: message"``."""
    problems = []
    for error in _validator().iter_errors(record):
        message = error.message
        if len(message) > _MESSAGE_LIMIT:
            message = message[: _MESSAGE_LIMIT - 1] + "…"
        problems.append(f"{error.json_path}: {message}")
    return problems


@functools.cache
def schema() -> dict[str, Any]:
    text = resources.files("mamori").joinpath("data", "osv", "schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


# --- one record ---------------------------------------------------------------------------


class _Package:
    """One package in one OSV ecosystem, with the status of each listed version."""

    def __init__(self, ecosystem: str, name: str, purl: str) -> None:
        self.ecosystem = ecosystem
        self.name = name
        self.purl = purl
        self.statuses: dict[str, Status] = {}
        self.product_ids: set[str] = set()

    def affected(self) -> list[str]:
        return [v for v, status in self.statuses.items() if status is Status.KNOWN_AFFECTED]


def _record(
    advisory: Advisory, vulnerability: Vulnerability, number: int, packages: list[_Package]
) -> dict[str, Any]:
    per_package = any(score.product_ids for score in vulnerability.scores)
    record: dict[str, Any] = {
        "affected": [
            _affected(package, vulnerability if per_package else None) for package in packages
        ],
        "details": _details(advisory, vulnerability),
        "id": record_id(advisory, vulnerability, number),
        "modified": _timestamp(advisory.current_release, "current_release"),
        "published": _timestamp(advisory.initial_release, "initial_release"),
        "schema_version": SCHEMA_VERSION,
        "summary": vulnerability.title.en,
    }
    optional: dict[str, Any] = {
        "aliases": [vulnerability.cve] if vulnerability.cve else [],
        "credits": _credits(vulnerability),
        "database_specific": {"severity": vulnerability.severity} if vulnerability.severity else {},
        "references": _references(advisory, vulnerability),
        "severity": [] if per_package else _severity(vulnerability.scores),
    }
    record.update({key: value for key, value in optional.items() if value})
    return record


def _packages(advisory: Advisory, vulnerability: Vulnerability) -> list[_Package]:
    """The OSV packages among the vulnerability's products; those with no affected version
    are left out (OSV lists affected packages only)."""
    status_of = {pid: status for status, ids in vulnerability.statuses.items() for pid in ids}
    packages: dict[tuple[str, str], _Package] = {}
    for product in advisory.products:
        status = status_of.get(product.product_id)
        located = _locate(product) if status is not None else None
        if located is None or status is None:
            continue
        ecosystem, name, purl, version = located
        package = packages.setdefault((ecosystem, name), _Package(ecosystem, name, purl))
        if package.statuses.get(version) is not Status.KNOWN_AFFECTED:
            package.statuses[version] = status
        package.product_ids.add(product.product_id)
    return [package for package in packages.values() if package.affected()]


def _locate(product: ProductVersion) -> tuple[str, str, str, str] | None:
    """Ecosystem, package name, package URL without version, and version; None outside OSV."""
    if not product.purl:
        return None
    try:
        purl = PackageURL.from_string(product.purl)
    except ValueError as exc:
        raise InvalidInput(
            f"not a package URL: {exc}", field=f"{product.product_id}.purl"
        ) from None
    ecosystem = ECOSYSTEMS.get(purl.type)
    if ecosystem is None:
        return None
    name = purl.name
    if ecosystem == "PyPI":
        name = re.sub(r"[-_.]+", "-", name).lower()  # PEP 503 normalised, as OSV asks
    if purl.namespace:
        name = f"{purl.namespace}{':' if ecosystem == 'Maven' else '/'}{name}"
    bare = PackageURL(type=purl.type, namespace=purl.namespace, name=purl.name).to_string()
    return ecosystem, name, bare, purl.version or product.version


def _affected(package: _Package, scored: Vulnerability | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "package": {"ecosystem": package.ecosystem, "name": package.name, "purl": package.purl},
        "versions": _ordered(package.ecosystem, package.affected()),
    }
    ranges = _ranges(package)
    if ranges:
        entry["ranges"] = ranges
    if scored is not None:
        affected = set(scored.products(Status.KNOWN_AFFECTED))
        scores = [
            score
            for score in scored.scores
            if set(score.product_ids or affected) & package.product_ids
        ]
        if scores:
            entry["severity"] = _severity(tuple(scores))
    return entry


def _severity(scores: tuple[Score, ...]) -> list[dict[str, str]]:
    kinds = {"3.0": "CVSS_V3", "3.1": "CVSS_V3", "4.0": "CVSS_V4"}
    return [
        {"score": score.vector, "type": kinds[score.version]}
        for score in scores
        if score.version in kinds
    ]


def _details(advisory: Advisory, vulnerability: Vulnerability) -> str:
    """The description, then the workarounds (CommonMark, English as OSV asks)."""
    parts = [vulnerability.description.en.strip()]
    if advisory.kind is Kind.EARLY_MITIGATION:
        parts.append("No fixed version is available yet.")
    workarounds = [
        remediation.details.en.strip()
        for remediation in vulnerability.remediations
        if remediation.category in _WORKAROUNDS and remediation.details
    ]
    if workarounds:
        parts.append("## Workarounds\n\n" + "\n\n".join(workarounds))
    return "\n\n".join(part for part in parts if part)


def _references(advisory: Advisory, vulnerability: Vulnerability) -> list[dict[str, str]]:
    candidates = [("ADVISORY", advisory.url)] if advisory.url else []
    candidates += [("WEB", r.url) for r in (*vulnerability.references, *advisory.references)]
    seen: set[str] = set()
    references = []
    for kind, url in candidates:
        if url and url not in seen:
            seen.add(url)
            references.append({"type": kind, "url": url})
    return references


def _credits(vulnerability: Vulnerability) -> list[dict[str, str]]:
    names = dict.fromkeys(
        f"{a.name} ({a.organization})" if a.organization else a.name
        for a in vulnerability.acknowledgments
    )
    return [{"name": name} for name in names]


def _timestamp(moment: datetime, field: str) -> str:
    """RFC 3339 in UTC ending in ``Z``, as OSV requires."""
    if moment.utcoffset() is None:
        raise InvalidInput("a date and time with a time zone", field=field)
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


# --- version order and ranges -------------------------------------------------------------


def _semver_key(version: str) -> tuple[Any, ...]:
    """SemVer 2.0 precedence (§11): build metadata ignored, a pre-release before its release,
    numeric identifiers before alphanumeric ones."""
    match = _SEMVER.fullmatch(version)
    if match is None:
        raise ValueError(f"not a SemVer 2.0 version: {version!r}")
    major, minor, patch, pre = match.groups()
    if pre is None:
        release: tuple[Any, ...] = (1,)
    else:
        release = (0, *((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")))
    return (int(major), int(minor), int(patch), release)


_ORDER: dict[str, Callable[[str], Any]] = {
    "PyPI": Version,
    "npm": _semver_key,
    "crates.io": _semver_key,
}


def _sorted(ecosystem: str, versions: list[str]) -> list[str] | None:
    """``versions`` in the ecosystem's order; None when that order is not known here."""
    key = _ORDER.get(ecosystem)
    if key is None:
        return None
    try:
        return sorted(versions, key=key)
    except (InvalidVersion, ValueError):
        return None


def _ordered(ecosystem: str, versions: list[str]) -> list[str]:
    return _sorted(ecosystem, versions) or versions


def _ranges(package: _Package) -> list[dict[str, Any]]:
    ordered = _sorted(package.ecosystem, list(package.statuses))
    if ordered is None:
        return []
    ranges = []
    run: list[str] = []
    for version in [*ordered, None]:
        status = package.statuses.get(version) if version is not None else None
        if status is Status.KNOWN_AFFECTED and version is not None:
            run.append(version)
            continue
        if run:
            end = {"fixed": version} if status is Status.FIXED else {"last_affected": run[-1]}
            ranges.append({"events": [{"introduced": run[0]}, end], "type": "ECOSYSTEM"})
            run = []
    return ranges
