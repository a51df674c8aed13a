"""A CSAF 2.0 document (OASIS Standard, 18 November 2022) built from an ``Advisory``.

Pure: an ``Advisory`` in, a JSON-ready ``dict`` out. Checking the result against the schema and
the §6.1 mandatory tests is ``core.csaf_validate``'s job; ``build`` only arranges values the
advisory already has, so a document is exactly as good as its advisory (``advisory.missing``
names what is lacking before anything is built).

Choices the specification leaves open, made once here:

* Profile: ``csaf_security_advisory``, or ``csaf_vex`` when asked for. Both carry the same
  content; VEX's extra demands (an impact statement per not-affected product, an action statement
  per affected product) are met by the flags and remediations every document has.
* Products: one ``vendor → product_name → product_version`` branch per product version (§3.1.2,
  the recommended hierarchy), with its package URL as the identification helper when it has one.
* Scores: CSAF 2.0 has slots for CVSS v2 and v3 only. A v3.x score is a ``cvss_v3`` object for the
  products it names, or for every known-affected product; a v4.0 score becomes a vulnerability
  note of category ``other`` titled "CVSS v4.0" so it is not lost.
* Remediations without product ids apply to the vulnerability's known-affected products (the quick
  fix §6.1.29 suggests); a vendor fix without a URL points at the advisory's update URL. A
  remediation that needs a restart says ``machine`` (the model records *that* a restart is
  needed, not which kind); the advisory-wide ``restart_required`` is the bulletin's and is not
  copied onto every remediation, where it could claim a reboot for a package upgrade.
* FAQ entries that name one of the advisory's CVE ids go into that vulnerability's notes; the
  others are document notes. An early mitigation advisory gets a note saying no update exists yet.
* ``aggregate_severity`` is Mamori's rating of the worst vulnerability, in the publisher's
  namespace (the model has no URL of its own for the rating scale). A vulnerability's
  ``release_date`` is its own when known, else the advisory's first release (its disclosure).
* Every date is the advisory's own and there is no ``generator.date``: building twice gives the
  same document, and ``dumps`` gives the same bytes (keys sorted, §5.3).

Texts are taken in the document's language (``advisory.language``), falling back to English;
the few phrases written here (note titles, the exploit status) exist in English and Japanese.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from mamori.core.advisory import (
    Acknowledgment,
    Advisory,
    Kind,
    Note,
    ProductVersion,
    Reference,
    Remediation,
    RemediationCategory,
    Score,
    Status,
    Text,
    Vulnerability,
)
from mamori.errors import InvalidInput

CSAF_VERSION = "2.0"
GENERATOR_NAME = "Mamori"
TLP_URL = "https://www.first.org/tlp/"

#: The VEX justifications CSAF 2.0 allows as flag labels (§3.2.3.5).
FLAG_LABELS = frozenset(
    {
        "component_not_present",
        "inline_mitigations_already_exist",
        "vulnerable_code_cannot_be_controlled_by_adversary",
        "vulnerable_code_not_in_execute_path",
        "vulnerable_code_not_present",
    }
)

_FILENAME_UNSAFE = re.compile(r"[^+\-a-z0-9]+")
_CVSS_V3 = ("3.0", "3.1")


class _Phrase:
    """The few texts this module writes itself, in the languages Mamori publishes."""

    SUMMARY = Text("Summary", "概要")
    DESCRIPTION = Text("Description", "説明")
    MITIGATIONS = Text("Mitigations and workarounds", "緩和策と回避策")
    NO_FIX_TITLE = Text("No update is available yet", "更新プログラムは未提供")
    NO_FIX = Text(
        "No security update that fixes the vulnerabilities in this advisory is available yet. "
        "Apply the mitigations and workarounds it describes until one is released; the advisory "
        "will be revised when it is.",
        "この勧告の脆弱性を修正するセキュリティ更新プログラムはまだ提供されていません。"
        "提供されるまで、記載の緩和策と回避策を適用してください。提供時にこの勧告を改訂します。",
    )
    SUPERSEDES_TITLE = Text("Supersedes", "置き換える勧告")
    SUPERSEDES = Text("This advisory supersedes {ids}.", "この勧告は {ids} を置き換えます。")
    CVSS_V4_TITLE = Text("CVSS v4.0", "CVSS v4.0")
    CVSS_V4 = Text(
        "CVSS v4.0 base score {score} ({severity}), vector {vector}",
        "CVSS v4.0 基本値 {score} ({severity})、ベクトル {vector}",
    )
    APPLIES_TO = Text("Applies to: {names}", "対象: {names}")
    YES = Text("Yes", "はい")
    NO = Text("No", "いいえ")
    EXPLOITED = Text("Exploited: {value}", "悪用の事実: {value}")
    DISCLOSED = Text("Publicly disclosed: {value}", "一般への公開: {value}")
    EXPLOITABILITY = Text("Exploitability: {value}", "悪用される可能性: {value}")


def filename(tracking_id: str) -> str:
    """The file name of a CSAF document (§5.1): lower case, every run of characters outside
    ``[+\\-a-z0-9]`` replaced by one ``_``, then ``.json``.

    ``"Example Company - 2019-YH3234"`` gives ``"example_company_-_2019-yh3234.json"``.
    """
    return _FILENAME_UNSAFE.sub("_", tracking_id.lower()) + ".json"


def dumps(document: dict[str, Any]) -> bytes:
    """The document as published: UTF-8 JSON with sorted keys (§5.3), ending in a newline."""
    return (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def build(advisory: Advisory, *, vex: bool = False, generator_version: str) -> dict[str, Any]:
    """The CSAF 2.0 document for ``advisory``: profile ``csaf_security_advisory``, or
    ``csaf_vex`` when ``vex`` is true. ``generator_version`` is Mamori's version.

    Raises ``InvalidInput`` for values CSAF cannot carry at all: a naive datetime, or a
    justification that is not one of the five CSAF flag labels.
    """
    document: dict[str, Any] = {
        "document": _document(advisory, vex=vex, generator_version=generator_version)
    }
    if advisory.products:
        document["product_tree"] = _product_tree(advisory.products)
    if advisory.vulnerabilities:
        document["vulnerabilities"] = [
            _vulnerability(advisory, vulnerability) for vulnerability in advisory.vulnerabilities
        ]
    return document


# --- /document ----------------------------------------------------------------------------


def _document(advisory: Advisory, *, vex: bool, generator_version: str) -> dict[str, Any]:
    lang = advisory.language
    publisher: dict[str, Any] = {
        "category": advisory.publisher.category,
        "name": advisory.publisher.name,
        "namespace": advisory.publisher.namespace,
    }
    if advisory.publisher.contact:
        publisher["contact_details"] = advisory.publisher.contact
    document: dict[str, Any] = {
        "category": "csaf_vex" if vex else "csaf_security_advisory",
        "csaf_version": CSAF_VERSION,
        "distribution": {"tlp": {"label": advisory.tlp.value, "url": TLP_URL}},
        "lang": lang,
        "notes": _document_notes(advisory),
        "publisher": publisher,
        "title": advisory.title.get(lang),
        "tracking": _tracking(advisory, generator_version),
    }
    if advisory.severity:
        document["aggregate_severity"] = {
            "namespace": advisory.publisher.namespace,
            "text": advisory.severity,
        }
    references = _document_references(advisory)
    if references:
        document["references"] = references
    return document


def _document_notes(advisory: Advisory) -> list[dict[str, Any]]:
    lang = advisory.language
    notes = [_note("summary", _Phrase.SUMMARY, advisory.summary, lang)]
    if advisory.kind is Kind.EARLY_MITIGATION:
        notes.append(_note("general", _Phrase.NO_FIX_TITLE, _Phrase.NO_FIX, lang))
    if advisory.mitigations:
        notes.append(_note("details", _Phrase.MITIGATIONS, advisory.mitigations, lang))
    if advisory.supersedes:
        text = _Phrase.SUPERSEDES.get(lang).format(ids=", ".join(advisory.supersedes))
        notes.append(_note("general", _Phrase.SUPERSEDES_TITLE, Text(text), lang))
    cves = set(advisory.cves())
    notes += [
        _note("faq", entry.title, entry.text, lang)
        for entry in advisory.faq
        if not _mentioned(entry, cves)
    ]
    return [note for note in notes if note["text"]]


def _note(category: str, title: Text, text: Text, lang: str) -> dict[str, Any]:
    note = {"category": category, "text": text.get(lang)}
    if title:
        note["title"] = title.get(lang)
    return note


def _mentioned(entry: Note, cves: set[str]) -> set[str]:
    """The CVE ids among ``cves`` that a FAQ entry names, in either language."""
    words = " ".join((entry.title.en, entry.title.ja, entry.text.en, entry.text.ja))
    return {cve for cve in cves if cve in words}


def _document_references(advisory: Advisory) -> list[dict[str, Any]]:
    references: list[Reference] = []
    if advisory.url:
        summary = f"{advisory.id}: {advisory.title.get(advisory.language)}"
        references.append(Reference(advisory.url, summary, "self"))
    references += advisory.references
    return _references(references)


def _references(references: list[Reference] | tuple[Reference, ...]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    result = []
    for reference in references:
        if reference.url in seen:
            continue
        seen.add(reference.url)
        result.append(
            {
                "category": reference.category,
                "summary": reference.summary or reference.url,
                "url": reference.url,
            }
        )
    return result


def _tracking(advisory: Advisory, generator_version: str) -> dict[str, Any]:
    return {
        "current_release_date": _timestamp(advisory.current_release, "current_release"),
        "generator": {"engine": {"name": GENERATOR_NAME, "version": generator_version}},
        "id": advisory.id,
        "initial_release_date": _timestamp(advisory.initial_release, "initial_release"),
        "revision_history": [
            {
                "date": _timestamp(revision.date, f"revisions[{n}].date"),
                "number": revision.number,
                "summary": revision.summary,
            }
            for n, revision in enumerate(advisory.revisions)
        ],
        "status": "final",
        "version": advisory.version,
    }


def _timestamp(moment: datetime, field: str) -> str:
    """RFC 3339 in UTC with a ``Z``: ``2026-03-10T00:00:00Z``."""
    if moment.utcoffset() is None:
        raise InvalidInput("a date and time with a time zone", field=field)
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


# --- /product_tree ------------------------------------------------------------------------


def _product_tree(products: tuple[ProductVersion, ...]) -> dict[str, Any]:
    """``vendor → product_name → product_version``, in the order the advisory lists them."""
    vendors: dict[str, dict[str, list[ProductVersion]]] = {}
    for product in products:
        vendors.setdefault(product.vendor, {}).setdefault(product.product, []).append(product)
    return {
        "branches": [
            {
                "branches": [
                    {
                        "branches": [_version_branch(version) for version in versions],
                        "category": "product_name",
                        "name": name,
                    }
                    for name, versions in names.items()
                ],
                "category": "vendor",
                "name": vendor,
            }
            for vendor, names in vendors.items()
        ]
    }


def _version_branch(version: ProductVersion) -> dict[str, Any]:
    product: dict[str, Any] = {"name": version.full_name, "product_id": version.product_id}
    if version.purl:
        product["product_identification_helper"] = {"purl": version.purl}
    return {"category": "product_version", "name": version.version, "product": product}


# --- /vulnerabilities[] -------------------------------------------------------------------


def _vulnerability(advisory: Advisory, vulnerability: Vulnerability) -> dict[str, Any]:
    lang = advisory.language
    item: dict[str, Any] = {
        "notes": _vulnerability_notes(advisory, vulnerability),
        "product_status": {
            status.value: list(ids) for status, ids in vulnerability.statuses.items() if ids
        },
        "release_date": _timestamp(
            vulnerability.release_date or advisory.initial_release, "release_date"
        ),
        "title": vulnerability.title.get(lang),
    }
    if vulnerability.cve:
        item["cve"] = vulnerability.cve
    if vulnerability.cwe_id and vulnerability.cwe_name:
        item["cwe"] = {"id": vulnerability.cwe_id, "name": vulnerability.cwe_name}
    if vulnerability.discovery_date:
        item["discovery_date"] = _timestamp(vulnerability.discovery_date, "discovery_date")
    optional = {
        "acknowledgments": _acknowledgments(vulnerability.acknowledgments),
        "flags": _flags(vulnerability),
        "references": _references(vulnerability.references),
        "remediations": [
            _remediation(advisory, vulnerability, r) for r in vulnerability.remediations
        ],
        "scores": _scores(vulnerability),
        "threats": _threats(vulnerability, lang),
    }
    item.update({key: value for key, value in optional.items() if value})
    return item


def _vulnerability_notes(advisory: Advisory, vulnerability: Vulnerability) -> list[dict[str, Any]]:
    lang = advisory.language
    notes = [_note("description", _Phrase.DESCRIPTION, vulnerability.description, lang)]
    notes += [
        _note("faq", entry.title, entry.text, lang)
        for entry in advisory.faq
        if vulnerability.cve and _mentioned(entry, {vulnerability.cve})
    ]
    notes += [
        _note("other", _Phrase.CVSS_V4_TITLE, _cvss_v4_text(advisory, score), lang)
        for score in vulnerability.scores
        if score.version == "4.0"
    ]
    return [note for note in notes if note["text"]]


def _cvss_v4_text(advisory: Advisory, score: Score) -> Text:
    values = {"score": score.base_score, "severity": score.base_severity.upper()}
    text = Text(
        _Phrase.CVSS_V4.en.format(vector=score.vector, **values),
        _Phrase.CVSS_V4.ja.format(vector=score.vector, **values),
    )
    if not score.product_ids:
        return text
    names = ", ".join(_product(advisory, pid).full_name for pid in score.product_ids)
    return Text(
        f"{text.en}. {_Phrase.APPLIES_TO.en.format(names=names)}",
        f"{text.ja}。{_Phrase.APPLIES_TO.ja.format(names=names)}",
    )


def _product(advisory: Advisory, product_id: str) -> ProductVersion:
    try:
        return advisory.product(product_id)
    except KeyError:
        raise InvalidInput(
            f"{product_id!r} is not one of the advisory's product versions", field="product_ids"
        ) from None


def _acknowledgments(acknowledgments: tuple[Acknowledgment, ...]) -> list[dict[str, Any]]:
    result = []
    for acknowledgment in acknowledgments:
        entry: dict[str, Any] = {"names": [acknowledgment.name]}
        if acknowledgment.organization:
            entry["organization"] = acknowledgment.organization
        result.append(entry)
    return result


def _flags(vulnerability: Vulnerability) -> list[dict[str, Any]]:
    """One flag per justification, naming the not-affected products it covers."""
    by_label: dict[str, list[str]] = {}
    for product_id in vulnerability.products(Status.KNOWN_NOT_AFFECTED):
        label = vulnerability.justifications.get(product_id)
        if label is None:
            continue  # advisory.missing() names it; the VEX impact-statement test catches it
        if label not in FLAG_LABELS:
            raise InvalidInput(
                f"{label!r} is not a CSAF VEX justification ({', '.join(sorted(FLAG_LABELS))})",
                field=f"justifications.{product_id}",
            )
        by_label.setdefault(label, []).append(product_id)
    return [{"label": label, "product_ids": ids} for label, ids in by_label.items()]


def _remediation(
    advisory: Advisory, vulnerability: Vulnerability, remediation: Remediation
) -> dict[str, Any]:
    vendor_fix = remediation.category is RemediationCategory.VENDOR_FIX
    product_ids = remediation.product_ids or vulnerability.products(Status.KNOWN_AFFECTED)
    item: dict[str, Any] = {
        "category": remediation.category.value,
        "details": remediation.details.get(advisory.language),
    }
    if product_ids:
        item["product_ids"] = list(product_ids)
    url = remediation.url or (advisory.update_url if vendor_fix else "")
    if url:
        item["url"] = url
    if remediation.restart_required:
        item["restart_required"] = {"category": "machine"}
    return item


def _scores(vulnerability: Vulnerability) -> list[dict[str, Any]]:
    affected = vulnerability.products(Status.KNOWN_AFFECTED)
    scores = []
    for score in vulnerability.scores:
        products = score.product_ids or affected
        if score.version not in _CVSS_V3 or not products:
            continue  # v4.0 is a note; a score for no product has no place in CSAF
        cvss = {
            "baseScore": score.base_score,
            "baseSeverity": score.base_severity.upper(),
            "vectorString": score.vector,
            "version": score.version,
        }
        scores.append({"cvss_v3": cvss, "products": list(products)})
    return scores


def _threats(vulnerability: Vulnerability, lang: str) -> list[dict[str, Any]]:
    affected = list(vulnerability.products(Status.KNOWN_AFFECTED))
    threats: list[dict[str, Any]] = []
    if vulnerability.severity:
        threats.append({"category": "impact", "details": vulnerability.severity})
    threats.append({"category": "exploit_status", "details": _exploit_status(vulnerability, lang)})
    if affected:
        for threat in threats:
            threat["product_ids"] = affected
    return threats


def _exploit_status(vulnerability: Vulnerability, lang: str) -> str:
    def yes_no(value: bool) -> str:
        return (_Phrase.YES if value else _Phrase.NO).get(lang)

    parts = [
        _Phrase.EXPLOITED.get(lang).format(value=yes_no(vulnerability.exploited)),
        _Phrase.DISCLOSED.get(lang).format(value=yes_no(vulnerability.publicly_disclosed)),
    ]
    if vulnerability.exploitability:
        parts.append(_Phrase.EXPLOITABILITY.get(lang).format(value=vulnerability.exploitability))
    return "; ".join(parts)
