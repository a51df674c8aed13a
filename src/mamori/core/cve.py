"""CVE JSON 5.1 records built from an ``Advisory``: the CNA container and the full record.

Pure: values in, JSON-ready ``dict`` out. The schemas are the CVE Program's own, as shipped in
the ``cvelib`` package (``cvelib/schemas``), so validating here and validating in CVE Services
agree. Sending a container to CVE Services is ``mamori.advisories.cna``'s job.

How the advisory maps onto the CNA container:

* ``affected``: one entry per product (vendor and product name, plus ``collectionURL`` and
  ``packageName`` when its package URL names a registry the CVE schema knows), listing every
  version the vulnerability's affected matrix names: known affected → ``affected``; fixed and
  known not affected → ``unaffected``; under investigation → ``unknown``. Versions the matrix
  does not name are ``unknown`` (``defaultStatus``); no version ranges are claimed.
* ``metrics``: each score as ``cvssV3_0``, ``cvssV3_1`` or ``cvssV4_0``, scenario ``GENERAL``
  unless the score names its products.
* ``references``: the bulletin (``vendor-advisory``), where to get each vendor fix (``patch``:
  the remediation's URL, else the advisory's update URL), then the vulnerability's own
  references; each URL once.
* ``solutions``/``workarounds``: the remediations' details, in English and Japanese.
* ``datePublic``: the vulnerability's release date, else the advisory's first release.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator, ValidationError
from packageurl import PackageURL

from mamori.core.advisory import (
    Acknowledgment,
    Advisory,
    ProductVersion,
    RemediationCategory,
    Score,
    Status,
    Text,
    Vulnerability,
)
from mamori.errors import InvalidInput

DATA_VERSION = "5.1"
RECORD_SCHEMA = "CVE_JSON_bundled_5.1.1.json"
CONTAINER_SCHEMA = "CVE_JSON_cnaPublishedContainer_5.1.1.json"
#: The reason the CVE Program itself gives for records rejected without another explanation.
REJECTED_REASON = "This CVE ID has been rejected or withdrawn by its CVE Numbering Authority."

_STATUS = {
    Status.KNOWN_AFFECTED: "affected",
    Status.FIXED: "unaffected",
    Status.KNOWN_NOT_AFFECTED: "unaffected",
    Status.UNDER_INVESTIGATION: "unknown",
}
_METRIC = {"3.0": "cvssV3_0", "3.1": "cvssV3_1", "4.0": "cvssV4_0"}
#: Package URL types whose registry the CVE schema names (its ``collectionURL`` examples).
_COLLECTIONS = {
    "cargo": "https://crates.io",
    "composer": "https://packagist.org",
    "gem": "https://rubygems.org",
    "hex": "https://repo.hex.pm",
    "maven": "https://repo.maven.apache.org/maven2",
    "npm": "https://registry.npmjs.org",
    "nuget": "https://nuget.org/packages",
    "pub": "https://pub.dev",
    "pypi": "https://pypi.python.org",
}
_SOLUTIONS = frozenset(
    {
        RemediationCategory.VENDOR_FIX,
        RemediationCategory.NONE_AVAILABLE,
        RemediationCategory.NO_FIX_PLANNED,
    }
)
_MESSAGE_LIMIT = 200


def cna_container(
    advisory: Advisory, vulnerability: Vulnerability, *, org_id: str, short_name: str
) -> dict[str, Any]:
    """The CNA container (``containers.cna`` of a published record) for one vulnerability.

    ``org_id`` is the CNA's organisation UUID in CVE Services and ``short_name`` its short name.
    Raises ``InvalidInput`` when the vulnerability has no CVE id, names a product version the
    advisory does not list, or carries a naive datetime.
    """
    _require_cve(vulnerability)
    container: dict[str, Any] = {
        "affected": _affected(advisory, vulnerability),
        "datePublic": _timestamp(
            vulnerability.release_date or advisory.initial_release, "release_date"
        ),
        "descriptions": _texts(vulnerability.description),
        "providerMetadata": {"orgId": org_id, "shortName": short_name},
        "references": _references(advisory, vulnerability),
        "title": vulnerability.title.en,
    }
    optional = {
        "credits": _credits(vulnerability.acknowledgments),
        "metrics": [_metric(advisory, score) for score in vulnerability.scores],
        "problemTypes": _problem_types(vulnerability),
        "solutions": _remediation_texts(vulnerability, lambda c: c in _SOLUTIONS),
        "workarounds": _remediation_texts(vulnerability, lambda c: c not in _SOLUTIONS),
    }
    container.update({key: value for key, value in optional.items() if value})
    return container


def record(
    advisory: Advisory,
    vulnerability: Vulnerability,
    *,
    org_id: str,
    short_name: str,
    state: str = "PUBLISHED",
) -> dict[str, Any]:
    """A full CVE record (``dataType`` ``CVE_RECORD``, ``dataVersion`` 5.1).

    ``state`` is ``PUBLISHED`` (the CNA container above) or ``REJECTED`` (a rejected container
    giving the CVE Program's standard reason). The metadata's dates are the advisory's: first
    publication and last update.
    """
    _require_cve(vulnerability)
    metadata: dict[str, Any] = {
        "assignerOrgId": org_id,
        "assignerShortName": short_name,
        "cveId": vulnerability.cve,
        "dateUpdated": _timestamp(advisory.current_release, "current_release"),
        "state": state,
    }
    if state == "PUBLISHED":
        metadata["datePublished"] = _timestamp(advisory.initial_release, "initial_release")
        cna = cna_container(advisory, vulnerability, org_id=org_id, short_name=short_name)
    elif state == "REJECTED":
        metadata["dateRejected"] = metadata["dateUpdated"]
        cna = {
            "providerMetadata": {"orgId": org_id, "shortName": short_name},
            "rejectedReasons": [{"lang": "en", "value": REJECTED_REASON}],
        }
    else:
        raise InvalidInput("PUBLISHED or REJECTED", field="state")
    return {
        "containers": {"cna": cna},
        "cveMetadata": metadata,
        "dataType": "CVE_RECORD",
        "dataVersion": DATA_VERSION,
    }


def validate_record(cve_record: Any) -> list[str]:
    """What is wrong with a full record under the CVE JSON 5.1.1 schema, as ``"path: message"``.

    The schema is a ``oneOf`` of the published and the rejected record; problems are reported
    for the one the record's ``cveMetadata.state`` asks for, so they name the real path.
    """
    validator = _validator(RECORD_SCHEMA)
    branch = _branch(cve_record)
    problems = []
    for error in validator.iter_errors(cve_record):
        if error.validator == "oneOf" and not error.path and error.context and branch is not None:
            problems += [_problem(e) for e in error.context if e.schema_path[0] == branch]
        else:
            problems.append(_problem(error))
    return problems


def validate_container(container: Any) -> list[str]:
    """What is wrong with a published CNA container, as ``"path: message"``; empty when valid."""
    return [_problem(error) for error in _validator(CONTAINER_SCHEMA).iter_errors(container)]


@functools.cache
def schema(name: str) -> dict[str, Any]:
    """One of the schemas shipped in ``cvelib/schemas``, read once."""
    text = resources.files("cvelib").joinpath("schemas", name).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.cache
def _validator(name: str) -> Draft7Validator:
    return Draft7Validator(schema(name))


def _branch(cve_record: Any) -> int | None:
    """Which ``oneOf`` branch of the record schema applies: 0 published, 1 rejected."""
    if not isinstance(cve_record, dict) or not isinstance(cve_record.get("cveMetadata"), dict):
        return None
    return {"PUBLISHED": 0, "REJECTED": 1}.get(cve_record["cveMetadata"].get("state"))


def _problem(error: ValidationError) -> str:
    message = error.message
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return f"{error.json_path}: {message}"


def _require_cve(vulnerability: Vulnerability) -> None:
    if not vulnerability.cve:
        raise InvalidInput(
            f"{vulnerability.title.en or 'a vulnerability'} has no CVE id; a CVE record needs one",
            field="cve",
        )


def _timestamp(moment: datetime, field: str) -> str:
    """RFC 3339 in UTC with a ``Z``, as the schema's ``timestamp`` pattern allows."""
    if moment.utcoffset() is None:
        raise InvalidInput("a date and time with a time zone", field=field)
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def _texts(text: Text) -> list[dict[str, str]]:
    texts = [{"lang": "en", "value": text.en}]
    if text.ja.strip():
        texts.append({"lang": "ja", "value": text.ja})
    return texts


# --- affected -----------------------------------------------------------------------------


def _affected(advisory: Advisory, vulnerability: Vulnerability) -> list[dict[str, Any]]:
    """One entry per product, its versions in the order the advisory lists them."""
    statuses = _statuses(advisory, vulnerability)
    entries: dict[tuple[str, ...], dict[str, Any]] = {}
    for version in advisory.products:
        status = statuses.get(version.product_id)
        if status is None:
            continue
        package = _package(version)
        key = (version.vendor, version.product, *package.values())
        entry = entries.setdefault(
            key,
            {"defaultStatus": "unknown", "product": version.product, "vendor": version.vendor}
            | package
            | {"versions": []},
        )
        entry["versions"].append({"status": _STATUS[status], "version": version.version})
    return list(entries.values())


def _statuses(advisory: Advisory, vulnerability: Vulnerability) -> dict[str, Status]:
    known = {version.product_id for version in advisory.products}
    statuses = {}
    for status, product_ids in vulnerability.statuses.items():
        for product_id in product_ids:
            if product_id not in known:
                raise InvalidInput(
                    f"{product_id!r} is not one of the advisory's product versions",
                    field=f"{vulnerability.cve}.statuses",
                )
            statuses[product_id] = status
    return statuses


def _package(version: ProductVersion) -> dict[str, str]:
    """``collectionURL`` and ``packageName`` for a package in a registry the schema knows."""
    if not version.purl:
        return {}
    try:
        purl = PackageURL.from_string(version.purl)
    except ValueError as exc:
        raise InvalidInput(
            f"not a package URL: {exc}", field=f"{version.product_id}.purl"
        ) from None
    collection = _COLLECTIONS.get(purl.type)
    if collection is None:
        return {}
    separator = ":" if purl.type == "maven" else "/"
    name = f"{purl.namespace}{separator}{purl.name}" if purl.namespace else purl.name
    return {"collectionURL": collection, "packageName": name}


# --- metrics, problem types, references, credits, remediations ------------------------------


def _metric(advisory: Advisory, score: Score) -> dict[str, Any]:
    key = _METRIC.get(score.version)
    if key is None:
        raise InvalidInput(f"CVSS {score.version!r} has no CVE JSON 5.1 slot", field="scores")
    scenario = "GENERAL"
    if score.product_ids:
        names = [_product_name(advisory, product_id) for product_id in score.product_ids]
        scenario = "Applies to: " + ", ".join(names)
    return {
        "format": "CVSS",
        "scenarios": [{"lang": "en", "value": scenario}],
        key: {
            "baseScore": score.base_score,
            "baseSeverity": score.base_severity.upper(),
            "vectorString": score.vector,
            "version": score.version,
        },
    }


def _product_name(advisory: Advisory, product_id: str) -> str:
    try:
        return advisory.product(product_id).full_name
    except KeyError:
        raise InvalidInput(
            f"{product_id!r} is not one of the advisory's product versions", field="scores"
        ) from None


def _problem_types(vulnerability: Vulnerability) -> list[dict[str, Any]]:
    if not vulnerability.cwe_id:
        return []
    description = f"{vulnerability.cwe_id} {vulnerability.cwe_name}".strip()
    return [
        {
            "descriptions": [
                {
                    "cweId": vulnerability.cwe_id,
                    "description": description,
                    "lang": "en",
                    "type": "CWE",
                }
            ]
        }
    ]


def _references(advisory: Advisory, vulnerability: Vulnerability) -> list[dict[str, Any]]:
    candidates: list[dict[str, Any]] = []
    if advisory.url:
        name = f"{advisory.id}: {advisory.title.en}"
        candidates.append({"name": name, "tags": ["vendor-advisory"], "url": advisory.url})
    for remediation in vulnerability.remediations:
        if remediation.category is RemediationCategory.VENDOR_FIX:
            url = remediation.url or advisory.update_url
            candidates.append({"tags": ["patch"], "url": url})
    for reference in vulnerability.references:
        candidates.append({"name": reference.summary, "url": reference.url})
    seen: set[str] = set()
    references = []
    for candidate in candidates:
        if candidate["url"] not in seen:
            seen.add(candidate["url"])
            references.append({k: v for k, v in candidate.items() if v})
    return references


def _credits(acknowledgments: tuple[Acknowledgment, ...]) -> list[dict[str, str]]:
    """Who is thanked, without a role: the model does not say whether they found or reported it,
    and the schema's default role (``finder``) is what a bare credit means."""
    values = dict.fromkeys(
        f"{a.name} ({a.organization})" if a.organization else a.name for a in acknowledgments
    )
    return [{"lang": "en", "value": value} for value in values]


def _remediation_texts(
    vulnerability: Vulnerability, wanted: Callable[[RemediationCategory], bool]
) -> list[dict[str, str]]:
    texts: list[dict[str, str]] = []
    for remediation in vulnerability.remediations:
        if wanted(remediation.category) and remediation.details:
            texts += [t for t in _texts(remediation.details) if t not in texts]
    return texts
