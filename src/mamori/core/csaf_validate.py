"""CSAF 2.0 validation: the JSON schema and every mandatory test of the spec's section 6.1.

Pure: a parsed document in, a list of ``Problem`` values out, each naming the test that found it
("schema" or a spec test id such as "6.1.27.9"), a JSON pointer into the document and a sentence
a release manager can act on. Reading and parsing the file is the caller's job; the only files
read here are the shipped schemas (``mamori/data/csaf``, OASIS and FIRST) and CWE names
(``mamori/data/cwe``, MITRE), so validation never touches the network.

Two passes, both always run, so one report says everything that is wrong:

1. The OASIS schema (draft 2020-12), with FIRST's CVSS v2.0/v3.0/v3.1 schemas registered under
   the ids it references them by. The ``date-time`` and ``uri`` formats are asserted (RFC 3339,
   RFC 3986), not left as annotations: the spec requires both.
2. The mandatory tests, each a small function over the document in the table ``_TESTS``. They
   read only values of the right type, so a document the schema refused is still tested without
   crashing; a test that cannot apply finds nothing.

Readings of the spec where its text leaves room (the conformance data decides where it can):

- Revision history items with the same date may be listed in any order: they are ordered by
  number among themselves (6.1.14, 6.1.16, 6.1.21). Timestamps compare as instants, with exact
  fractional seconds.
- 6.1.21 asks that no major version is skipped and that the first is 0 or 1; it looks at the set
  of numbers, so a history whose dates and numbers disagree is reported once, by 6.1.14.
- 6.1.1 and 6.1.4 also check ``flags[]/product_ids`` and ``flags[]/group_ids``: the 2.0 path
  lists predate flags, which reference products exactly as threats do.
- 6.1.10 accepts a v3 modified metric left undefined in the vector and stated as the base value
  it stands for (``modifiedAttackVector: NETWORK`` with ``AV:N`` and no ``MAV``).
- 6.1.11 knows CWE 4.14 weaknesses, categories and views, and compares names exactly.
- 6.1.12 uses RFC 5646 validity: a deprecated subtag is still valid.
- 6.1.31 matches the comparison signs anywhere in a name and the words as whole words (the
  conformance data accepts "after-eight" as a version).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry, Resource

from mamori.core import csaf_rules as r
from mamori.errors import InvalidInput

CSAF_SCHEMA = "csaf_json_schema.json"
PROVIDER_SCHEMA = "provider_json_schema.json"

#: The ids the CSAF schema references FIRST's CVSS schemas by, and the shipped copies.
CVSS_SCHEMAS = {
    "https://www.first.org/cvss/cvss-v2.0.json": "cvss-v2.0.json",
    "https://www.first.org/cvss/cvss-v3.0.json": "cvss-v3.0.json",
    "https://www.first.org/cvss/cvss-v3.1.json": "cvss-v3.1.json",
}

_MESSAGE_LIMIT = 200


@dataclass(frozen=True)
class Problem:
    """One reason a document is not valid CSAF 2.0."""

    test: str  # "schema" or the spec test id, e.g. "6.1.27.9"
    path: str  # JSON pointer into the document, e.g. "/vulnerabilities/0/product_status/fixed/1"
    message: str  # a sentence a release manager understands


Findings = Iterator[tuple[str, str]]


# --- schemas ------------------------------------------------------------------------------------


@functools.cache
def _schema(*parts: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        files("mamori").joinpath("data", "csaf", *parts).read_text("utf-8")
    )
    return schema


@functools.cache
def _registry() -> Registry[Any]:
    """The CVSS schemas under the ids the CSAF schema uses (and their own ``id``s, which carry a
    query), and the CSAF schema under its id for the provider schema's references."""
    resources: list[tuple[str, Resource[Any]]] = []
    for uri, name in CVSS_SCHEMAS.items():
        resource = Resource.from_contents(_schema("referenced", name))
        resources.append((uri, resource))
        if resource.id():
            resources.append((str(resource.id()), resource))
    csaf = Resource.from_contents(_schema(CSAF_SCHEMA))
    resources.append((str(csaf.id()), csaf))
    return Registry().with_resources(resources)


_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_URI = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]|%[0-9A-Fa-f]{2})*"
)


@functools.cache
def _format_checker() -> FormatChecker:
    """Asserts RFC 3339 ``date-time`` and RFC 3986 ``uri``, and no other format."""
    checker = FormatChecker(formats=())
    checker.checks("date-time")(
        lambda value: not isinstance(value, str) or r.instant(value) is not None
    )
    checker.checks("uri")(lambda value: not isinstance(value, str) or bool(_URI.fullmatch(value)))
    return checker


@functools.cache
def _validator(name: str) -> Validator:
    schema = _schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=_registry(), format_checker=_format_checker())


@functools.cache
def _cvss_validator(version: str) -> Validator:
    schema = _schema("referenced", f"cvss-v{version}.json")
    return validator_for(schema)(schema, format_checker=_format_checker())


def _schema_problems(validator: Validator, instance: Any, base: str = "") -> list[tuple[str, str]]:
    """(pointer, message) for each error, in document order, naming the innermost cause."""
    found = []
    for error in validator.iter_errors(instance):
        for leaf in _causes(error):
            path = base + r.pointer(*leaf.absolute_path)
            found.append((path, _short(leaf.message)))
    return sorted(found, key=lambda problem: problem[0])


def _causes(error: ValidationError) -> list[ValidationError]:
    """For a failed ``oneOf``/``anyOf``, the errors of the alternative that came closest (fewest
    errors), so a CVSS v3.1 object missing ``baseSeverity`` says so rather than "is not valid
    under any of the given schemas"."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    branches: dict[Any, list[ValidationError]] = {}
    for cause in error.context:
        branches.setdefault(cause.relative_schema_path[0], []).append(cause)
    closest = min(branches.values(), key=len)
    return [leaf for cause in closest for leaf in _causes(cause)]


def schema_problems(document: Mapping[str, Any]) -> list[Problem]:
    """What the CSAF 2.0 JSON schema (with the CVSS schemas it references) says is wrong."""
    return [
        Problem("schema", path, f"Not allowed by the CSAF 2.0 schema: {message}")
        for path, message in _schema_problems(_validator(CSAF_SCHEMA), document)
    ]


def provider_metadata_problems(document: Mapping[str, Any]) -> list[Problem]:
    """What the CSAF 2.0 provider metadata schema says is wrong with a provider-metadata.json."""
    return [
        Problem("schema", path, f"Not allowed by the CSAF provider metadata schema: {message}")
        for path, message in _schema_problems(_validator(PROVIDER_SCHEMA), document)
    ]


# --- products and groups (6.1.1 - 6.1.7) --------------------------------------------------------


def _missing_product_definition(document: Mapping[str, Any]) -> Findings:
    """6.1.1: every referenced Product ID is defined by a Full Product Name in the product tree."""
    defined = {product_id for _, product_id in r.defined_product_ids(document)}
    for path, product_id in r.product_references(document):
        if product_id not in defined:
            yield (
                path,
                f"Product {_q(product_id)} is referenced but not defined in the product tree.",
            )


def _multiple_product_definition(document: Mapping[str, Any]) -> Findings:
    """6.1.2: a Product ID is defined by only one Full Product Name."""
    first: dict[str, str] = {}
    for path, product_id in r.defined_product_ids(document):
        seen = first.setdefault(product_id, path)
        if seen != path:
            yield path, f"Product {_q(product_id)} is already defined at {seen}."


def _circular_product_definition(document: Mapping[str, Any]) -> Findings:
    """6.1.3: a Product ID defined by a relationship does not end up referring to itself."""
    refers_to: dict[str, set[str]] = {}
    defined: list[tuple[str, str]] = []
    for index, item in r.items(r.obj(document.get("product_tree")).get("relationships")):
        relationship = r.obj(item)
        product_id = r.obj(relationship.get("full_product_name")).get("product_id")
        if not isinstance(product_id, str):
            continue
        keys = ("product_reference", "relates_to_product_reference")
        targets = {relationship[k] for k in keys if isinstance(relationship.get(k), str)}
        refers_to.setdefault(product_id, set()).update(targets)
        path = r.pointer("product_tree", "relationships", index, "full_product_name", "product_id")
        defined.append((path, product_id))
    for path, product_id in defined:
        if _reaches(product_id, product_id, refers_to):
            yield (
                path,
                (
                    f"Product {_q(product_id)} is built from a relationship that leads back to"
                    " itself; the definition is circular."
                ),
            )


def _reaches(start: str, goal: str, edges: Mapping[str, set[str]]) -> bool:
    seen: set[str] = set()
    stack = list(edges.get(start, ()))
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return False


def _missing_group_definition(document: Mapping[str, Any]) -> Findings:
    """6.1.4: every referenced Product Group ID is defined in /product_tree/product_groups."""
    defined = set(r.product_groups(document))
    for path, group_id in r.group_references(document):
        if group_id not in defined:
            yield path, f"Product group {_q(group_id)} is referenced but not defined."


def _multiple_group_definition(document: Mapping[str, Any]) -> Findings:
    """6.1.5: a Product Group ID is defined only once."""
    first: dict[str, str] = {}
    for index, group in r.items(r.obj(document.get("product_tree")).get("product_groups")):
        group_id = r.obj(group).get("group_id")
        path = r.pointer("product_tree", "product_groups", index, "group_id")
        if isinstance(group_id, str) and first.setdefault(group_id, path) != path:
            yield path, f"Product group {_q(group_id)} is already defined at {first[group_id]}."


_STATUS_GROUPS = {
    "first_affected": "affected",
    "first_fixed": "fixed",
    "fixed": "fixed",
    "known_affected": "affected",
    "known_not_affected": "not affected",
    "last_affected": "affected",
    "under_investigation": "under investigation",
}


def _contradicting_status(document: Mapping[str, Any]) -> Findings:
    """6.1.6: within a vulnerability, a product is in at most one of the groups affected, not
    affected, fixed and under investigation."""
    for vulnerability_path, vulnerability in r.vulnerabilities(document):
        status = r.obj(vulnerability.get("product_status"))
        group_of: dict[str, str] = {}
        for key, group in _STATUS_GROUPS.items():
            where = f"{vulnerability_path}/product_status/{key}"
            for path, product_id in r.strings(status.get(key), where):
                first = group_of.setdefault(product_id, group)
                if first != group:
                    yield (
                        path,
                        (
                            f"Product {_q(product_id)} is listed as {group} and also as {first};"
                            " a product can have only one of these statuses."
                        ),
                    )


def _multiple_scores(document: Mapping[str, Any]) -> Findings:
    """6.1.7: within a vulnerability, a product has at most one score per CVSS version."""
    for vulnerability_path, vulnerability in r.vulnerabilities(document):
        first: dict[tuple[str, str], str] = {}
        for index, item in r.items(vulnerability.get("scores")):
            score, score_path = r.obj(item), f"{vulnerability_path}/scores/{index}"
            for key in ("cvss_v2", "cvss_v3"):
                if key not in score:
                    continue
                version = r.cvss_version(key, r.obj(score[key])) or key
                for path, product_id in r.strings(score.get("products"), f"{score_path}/products"):
                    seen = first.setdefault((product_id, version), score_path)
                    if seen != score_path:
                        yield (
                            path,
                            (
                                f"Product {_q(product_id)} already has a CVSS {version} score at"
                                f" {seen}; give one score per CVSS version."
                            ),
                        )


# --- CVSS, CWE, language, PURL (6.1.8 - 6.1.13) -------------------------------------------------


def _cvss_objects(document: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """``(pointer, "cvss_v2"|"cvss_v3", value)`` for every CVSS object of every score."""
    for path, score in r.vulnerability_lists(document, "scores"):
        for key in ("cvss_v2", "cvss_v3"):
            if key in score:
                yield f"{path}/{key}", key, score[key]


def _invalid_cvss(document: Mapping[str, Any]) -> Findings:
    """6.1.8: each CVSS object is valid according to FIRST's schema for its version."""
    for path, key, cvss in _cvss_objects(document):
        version = r.cvss_version(key, r.obj(cvss))
        known = ("2.0",) if key == "cvss_v2" else ("3.0", "3.1")
        if version not in known:
            yield path, f"A {key} object needs a version of {' or '.join(known)}."
            continue
        for where, message in _schema_problems(_cvss_validator(version), cvss, path):
            yield where, f"Not a valid CVSS v{version} object: {message}"


def _cvss_computation(document: Mapping[str, Any]) -> Findings:
    """6.1.9: the scores (and severities) of each CVSS object are the ones its vector gives."""
    for path, key, value in _cvss_objects(document):
        cvss = r.obj(value)
        vector = cvss.get("vectorString")
        if not isinstance(vector, str):
            continue
        try:
            computed = r.compute_cvss(key, vector)
        except ValueError as exc:
            yield f"{path}/vectorString", f"The CVSS vector {_q(vector)} cannot be scored: {exc}."
            continue
        for prop, expected in computed.values.items():
            if prop not in cvss:
                continue
            given = cvss[prop]
            same = (
                r.as_decimal(given) == expected
                if isinstance(expected, Decimal)
                else given == expected
            )
            if not same:
                yield (
                    f"{path}/{prop}",
                    f"{prop} is {_q(given)} but the vector {vector} gives {expected}.",
                )


def _inconsistent_cvss(document: Mapping[str, Any]) -> Findings:
    """6.1.10: the CVSS properties given do not contradict the CVSS vector."""
    for path, key, value in _cvss_objects(document):
        cvss = r.obj(value)
        vector = cvss.get("vectorString")
        metrics = r.vector_metrics(key, vector)
        if metrics is None:
            continue
        declared = r.cvss_version(key, {"vectorString": vector})
        if (
            key == "cvss_v3"
            and isinstance(cvss.get("version"), str)
            and cvss["version"] != declared
        ):
            yield (
                f"{path}/version",
                f"version is {_q(cvss['version'])} but the vector is CVSS {declared}.",
            )
        for prop, allowed in r.vector_properties(key, metrics).items():
            if prop in cvss and cvss[prop] not in allowed:
                want = " or ".join(sorted(allowed))
                yield (
                    f"{path}/{prop}",
                    f"{prop} is {_q(cvss[prop])} but the vector {vector} says {want}.",
                )


def _cwe(document: Mapping[str, Any]) -> Findings:
    """6.1.11: the CWE given exists and is valid (its name is the catalogue's name for the id)."""
    catalogue = r.cwe_catalogue()
    for path, vulnerability in r.vulnerabilities(document):
        cwe = r.obj(vulnerability.get("cwe"))
        cwe_id, name = cwe.get("id"), cwe.get("name")
        if not isinstance(cwe_id, str):
            continue
        entry = catalogue.entries.get(cwe_id)
        if entry is None:
            yield (
                f"{path}/cwe/id",
                f"{_q(cwe_id)} is not in the CWE catalogue ({catalogue.version}).",
            )
        elif isinstance(name, str) and name != entry.name:
            yield (
                f"{path}/cwe/name",
                (
                    f"The name given for {cwe_id} is {_q(name)}, but the CWE catalogue"
                    f" ({catalogue.version}) names it {_q(entry.name)}."
                ),
            )


def _language(document: Mapping[str, Any]) -> Findings:
    """6.1.12: each language code is a valid BCP 47 tag whose subtags exist."""
    meta = r.obj(document.get("document"))
    for key in ("lang", "source_lang"):
        tag = meta.get(key)
        if isinstance(tag, str) and not r.language_tag_is_valid(tag):
            yield (
                r.pointer("document", key),
                (
                    f"{_q(tag)} is not a valid language tag (BCP 47): a subtag is not registered or"
                    " the tag is malformed."
                ),
            )


def _purl(document: Mapping[str, Any]) -> Findings:
    """6.1.13: each package URL given is valid."""
    for path, product in r.full_product_names(document):
        purl = r.obj(product.get("product_identification_helper")).get("purl")
        if isinstance(purl, str) and (problem := r.purl_problem(purl)) is not None:
            yield (
                f"{path}/product_identification_helper/purl",
                f"Not a valid package URL: {problem}",
            )


# --- tracking and revision history (6.1.14 - 6.1.22, 6.1.30) -----------------------------------


def _translator(document: Mapping[str, Any]) -> Findings:
    """6.1.15: a document published by a translator gives /document/source_lang."""
    meta = r.obj(document.get("document"))
    translated = r.obj(meta.get("publisher")).get("category") == "translator"
    if translated and not (isinstance(meta.get("source_lang"), str) and meta["source_lang"]):
        yield (
            "/document/source_lang",
            (
                "The publisher is a translator, so the document must name the language it was"
                " translated from (source_lang)."
            ),
        )


# --- vulnerabilities (6.1.23 - 6.1.26) ----------------------------------------------------------


def _multiple_cve(document: Mapping[str, Any]) -> Findings:
    """6.1.23: a CVE is used by only one vulnerability item."""
    first: dict[str, str] = {}
    for path, vulnerability in r.vulnerabilities(document):
        cve = vulnerability.get("cve")
        if isinstance(cve, str) and first.setdefault(cve, path) != path:
            yield f"{path}/cve", f"{cve} is already described by {first[cve]}."


def _multiple_involvements(document: Mapping[str, Any]) -> Findings:
    """6.1.24: no party is listed twice at the same date in a vulnerability's involvements."""
    for vulnerability_path, vulnerability in r.vulnerabilities(document):
        first: dict[tuple[Any, Any], str] = {}
        for index, item in r.items(vulnerability.get("involvements")):
            party, date = r.obj(item).get("party"), r.obj(item).get("date")
            if not isinstance(party, str):
                continue
            key = (party, r.instant(date) or (date if isinstance(date, str) else None))
            path = f"{vulnerability_path}/involvements/{index}"
            if first.setdefault(key, path) != path:
                when = f"at {date}" if isinstance(date, str) else "without a date"
                yield path, f"The party {party} is already listed {when} at {first[key]}."


def _multiple_hash_algorithms(document: Mapping[str, Any]) -> Findings:
    """6.1.25: a hash algorithm is used only once in one item of hashes."""
    for product_path, product in r.full_product_names(document):
        helper = r.obj(product.get("product_identification_helper"))
        for index, item in r.items(helper.get("hashes")):
            hashes_path = f"{product_path}/product_identification_helper/hashes/{index}"
            first: dict[str, str] = {}
            for position, file_hash in r.items(r.obj(item).get("file_hashes")):
                algorithm = r.obj(file_hash).get("algorithm")
                path = f"{hashes_path}/file_hashes/{position}/algorithm"
                if isinstance(algorithm, str) and first.setdefault(algorithm.lower(), path) != path:
                    yield (
                        path,
                        f"The hash algorithm {algorithm} is already given at {first[algorithm.lower()]}.",
                    )


_PROFILES = {
    "csaf_security_incident_response": "Security Incident Response",
    "csaf_informational_advisory": "Informational Advisory",
    "csaf_security_advisory": "Security Advisory",
    "csaf_vex": "VEX",
}


def _prohibited_category(document: Mapping[str, Any]) -> Findings:
    """6.1.26: a CSAF Base category is not (ignoring case, dashes, spaces and underscores) the
    name or value of another profile, and does not start with csaf_ unless it is csaf_base."""
    category = r.obj(document.get("document")).get("category")
    if not isinstance(category, str) or category == "csaf_base" or category in _PROFILES:
        return
    path, squashed = "/document/category", _squash(category)
    for value, name in _PROFILES.items():
        if squashed in (_squash(value), _squash(name)):
            yield (
                path,
                (
                    f"The category {_q(category)} is reserved for the {name} profile; use {value}"
                    " for that profile or another name."
                ),
            )
            return
    if category.lower().startswith("csaf_"):
        yield path, f"The category {_q(category)} uses the prefix csaf_, which is reserved."


def _squash(text: str) -> str:
    return re.sub(r"[\s_-]", "", text).lower()


# --- profiles (6.1.27.1 - 6.1.27.11) ------------------------------------------------------------


def _category(document: Mapping[str, Any]) -> Any:
    return r.obj(document.get("document")).get("category")


def _document_notes(document: Mapping[str, Any]) -> Findings:
    """6.1.27.1: informational advisories and incident responses have a document note of
    category description, details, general or summary."""
    if _category(document) not in (
        "csaf_informational_advisory",
        "csaf_security_incident_response",
    ):
        return
    notes = r.items(r.obj(document.get("document")).get("notes"))
    wanted = ("description", "details", "general", "summary")
    if not any(r.obj(note).get("category") in wanted for _, note in notes):
        yield (
            "/document/notes",
            (
                "This profile needs a document note of category description, details, general or"
                " summary."
            ),
        )


def _document_references(document: Mapping[str, Any]) -> Findings:
    """6.1.27.2: informational advisories and incident responses reference an external source."""
    if _category(document) not in (
        "csaf_informational_advisory",
        "csaf_security_incident_response",
    ):
        return
    references = r.items(r.obj(document.get("document")).get("references"))
    if not any(r.obj(ref).get("category", "external") == "external" for _, ref in references):
        yield "/document/references", "This profile needs a reference to an external source."


def _no_vulnerabilities(document: Mapping[str, Any]) -> Findings:
    """6.1.27.3: an informational advisory has no /vulnerabilities."""
    if _category(document) == "csaf_informational_advisory" and "vulnerabilities" in document:
        yield (
            "/vulnerabilities",
            (
                "An informational advisory must not list vulnerabilities; publish a security"
                " advisory instead."
            ),
        )


def _product_tree(document: Mapping[str, Any]) -> Findings:
    """6.1.27.4: security advisories and VEX documents have a /product_tree."""
    if (
        _category(document) in ("csaf_security_advisory", "csaf_vex")
        and "product_tree" not in document
    ):
        yield "/product_tree", "This profile needs a product tree."


def _vulnerability_notes(document: Mapping[str, Any]) -> Findings:
    """6.1.27.5: in security advisories and VEX documents each vulnerability has notes."""
    if _category(document) in ("csaf_security_advisory", "csaf_vex"):
        for path, vulnerability in r.vulnerabilities(document):
            if "notes" not in vulnerability:
                yield f"{path}/notes", "This profile needs notes on each vulnerability."


def _product_status(document: Mapping[str, Any]) -> Findings:
    """6.1.27.6: in security advisories each vulnerability has a product_status."""
    if _category(document) == "csaf_security_advisory":
        for path, vulnerability in r.vulnerabilities(document):
            if "product_status" not in vulnerability:
                yield (
                    f"{path}/product_status",
                    "This profile needs a product status on each vulnerability.",
                )


def _vex_product_status(document: Mapping[str, Any]) -> Findings:
    """6.1.27.7: in VEX documents each product_status has fixed, known_affected,
    known_not_affected or under_investigation."""
    if _category(document) != "csaf_vex":
        return
    wanted = ("fixed", "known_affected", "known_not_affected", "under_investigation")
    for path, vulnerability in r.vulnerabilities(document):
        status = r.obj(vulnerability.get("product_status"))
        if not any(key in status for key in wanted):
            yield (
                f"{path}/product_status",
                (
                    "A VEX document must say for each vulnerability which products are fixed, known"
                    " affected, known not affected or under investigation."
                ),
            )


def _vulnerability_id(document: Mapping[str, Any]) -> Findings:
    """6.1.27.8: in VEX documents each vulnerability has a cve or ids."""
    if _category(document) == "csaf_vex":
        for path, vulnerability in r.vulnerabilities(document):
            if "cve" not in vulnerability and "ids" not in vulnerability:
                yield path, "A VEX document must identify each vulnerability by a CVE or other ids."


def _impact_statement(document: Mapping[str, Any]) -> Findings:
    """6.1.27.9: in VEX documents each known_not_affected product has an impact statement (a
    flag, or a threat of category impact)."""
    if _category(document) != "csaf_vex":
        return
    groups = r.product_groups(document)
    for path, vulnerability in r.vulnerabilities(document):
        covered: set[str] = set()
        for _, flag in r.items(vulnerability.get("flags")):
            covered |= r.products_of(r.obj(flag), groups)
        for _, threat in r.items(vulnerability.get("threats")):
            if r.obj(threat).get("category") == "impact":
                covered |= r.products_of(r.obj(threat), groups)
        status = r.obj(vulnerability.get("product_status")).get("known_not_affected")
        for where, product_id in r.strings(status, f"{path}/product_status/known_not_affected"):
            if product_id not in covered:
                yield (
                    where,
                    (
                        f"Product {_q(product_id)} is known not affected but no flag or impact"
                        " statement says why."
                    ),
                )


def _action_statement(document: Mapping[str, Any]) -> Findings:
    """6.1.27.10: in VEX documents each known_affected product has a remediation."""
    if _category(document) != "csaf_vex":
        return
    groups = r.product_groups(document)
    for path, vulnerability in r.vulnerabilities(document):
        covered: set[str] = set()
        for _, remediation in r.items(vulnerability.get("remediations")):
            covered |= r.products_of(r.obj(remediation), groups)
        status = r.obj(vulnerability.get("product_status")).get("known_affected")
        for where, product_id in r.strings(status, f"{path}/product_status/known_affected"):
            if product_id not in covered:
                yield (
                    where,
                    (
                        f"Product {_q(product_id)} is known affected but no remediation says what"
                        " to do about it."
                    ),
                )


def _vulnerabilities(document: Mapping[str, Any]) -> Findings:
    """6.1.27.11: security advisories and VEX documents have /vulnerabilities."""
    if (
        _category(document) in ("csaf_security_advisory", "csaf_vex")
        and "vulnerabilities" not in document
    ):
        yield "/vulnerabilities", "This profile needs at least one vulnerability."


# --- the rest (6.1.28 - 6.1.33) -----------------------------------------------------------------


def _translation(document: Mapping[str, Any]) -> Findings:
    """6.1.28: the source language and the document language are not the same."""
    meta = r.obj(document.get("document"))
    lang, source = meta.get("lang"), meta.get("source_lang")
    if isinstance(lang, str) and isinstance(source, str) and lang.lower() == source.lower():
        yield (
            "/document/source_lang",
            (f"The document is marked as translated from {source} into {lang}, the same language."),
        )


def _remediation_products(document: Mapping[str, Any]) -> Findings:
    """6.1.29: each remediation names product_ids or group_ids."""
    for path, remediation in r.vulnerability_lists(document, "remediations"):
        if "product_ids" not in remediation and "group_ids" not in remediation:
            yield path, "The remediation does not say which products it applies to."


_RANGE_SIGNS = ("<", ">")  # also covers "<=" and ">="
_RANGE_WORDS = frozenset({"after", "all", "before", "earlier", "later", "prior", "versions"})


def _version_range(document: Mapping[str, Any]) -> Findings:
    """6.1.31: a branch of category product_version names one version, not a range."""
    for path, branch in r.branches(document):
        name = branch.get("name")
        if branch.get("category") != "product_version" or not isinstance(name, str):
            continue
        lowered = name.lower()
        if any(sign in lowered for sign in _RANGE_SIGNS) or _RANGE_WORDS & set(lowered.split()):
            yield (
                f"{path}/name",
                (
                    f"The product version {_q(name)} looks like a version range; use the category"
                    " product_version_range for ranges."
                ),
            )


def _flag_products(document: Mapping[str, Any]) -> Findings:
    """6.1.32: each flag names product_ids or group_ids."""
    for path, flag in r.vulnerability_lists(document, "flags"):
        if "product_ids" not in flag and "group_ids" not in flag:
            yield path, "The flag does not say which products it applies to."


def _multiple_vex_flags(document: Mapping[str, Any]) -> Findings:
    """6.1.33: within a vulnerability, a product is in at most one flag with a VEX
    justification code, counting products reached through groups."""
    groups = r.product_groups(document)
    for vulnerability_path, vulnerability in r.vulnerabilities(document):
        first: dict[str, str] = {}
        for index, item in r.items(vulnerability.get("flags")):
            flag, path = r.obj(item), f"{vulnerability_path}/flags/{index}"
            if flag.get("label") not in r.VEX_JUSTIFICATIONS:
                continue
            for product_id in sorted(r.products_of(flag, groups)):
                if first.setdefault(product_id, path) != path:
                    yield (
                        path,
                        (
                            f"Product {_q(product_id)} already has a VEX justification flag at"
                            f" {first[product_id]}; give one justification per product."
                        ),
                    )


# --- the table and the entry points -------------------------------------------------------------

_TESTS: dict[str, Callable[[Mapping[str, Any]], Iterable[tuple[str, str]]]] = {
    "6.1.1": _missing_product_definition,
    "6.1.2": _multiple_product_definition,
    "6.1.3": _circular_product_definition,
    "6.1.4": _missing_group_definition,
    "6.1.5": _multiple_group_definition,
    "6.1.6": _contradicting_status,
    "6.1.7": _multiple_scores,
    "6.1.8": _invalid_cvss,
    "6.1.9": _cvss_computation,
    "6.1.10": _inconsistent_cvss,
    "6.1.11": _cwe,
    "6.1.12": _language,
    "6.1.13": _purl,
    "6.1.14": _sorted_revision_history,
    "6.1.15": _translator,
    "6.1.16": _latest_document_version,
    "6.1.17": _status_draft,
    "6.1.18": _released_revision_history,
    "6.1.19": _prerelease_revisions,
    "6.1.20": _non_draft_version,
    "6.1.21": _missing_revision,
    "6.1.22": _multiple_revisions,
    "6.1.23": _multiple_cve,
    "6.1.24": _multiple_involvements,
    "6.1.25": _multiple_hash_algorithms,
    "6.1.26": _prohibited_category,
    "6.1.27.1": _document_notes,
    "6.1.27.2": _document_references,
    "6.1.27.3": _no_vulnerabilities,
    "6.1.27.4": _product_tree,
    "6.1.27.5": _vulnerability_notes,
    "6.1.27.6": _product_status,
    "6.1.27.7": _vex_product_status,
    "6.1.27.8": _vulnerability_id,
    "6.1.27.9": _impact_statement,
    "6.1.27.10": _action_statement,
    "6.1.27.11": _vulnerabilities,
    "6.1.28": _translation,
    "6.1.29": _remediation_products,
    "6.1.30": _mixed_versioning,
    "6.1.31": _version_range,
    "6.1.32": _flag_products,
    "6.1.33": _multiple_vex_flags,
}

#: Every mandatory test of CSAF 2.0 section 6.1, in spec order.
MANDATORY_TESTS: tuple[str, ...] = tuple(_TESTS)


def mandatory_problems(
    document: Mapping[str, Any], tests: Collection[str] | None = None
) -> list[Problem]:
    """What the mandatory tests (all, or those named in ``tests``) find, in spec order.

    Raises ``InvalidInput`` for a test id that is not a mandatory test of CSAF 2.0.
    """
    if tests is not None and (unknown := sorted(set(tests) - set(_TESTS))):
        raise InvalidInput(f"not CSAF 2.0 mandatory tests: {', '.join(unknown)}", field="tests")
    if not isinstance(document, Mapping):
        return []
    return [
        Problem(test_id, path, message)
        for test_id in MANDATORY_TESTS
        if tests is None or test_id in tests
        for path, message in _TESTS[test_id](document)
    ]


def validate(document: Mapping[str, Any]) -> list[Problem]:
    """Everything wrong with a CSAF 2.0 document: schema problems first, then what each
    mandatory test finds. An empty list means the document is valid."""
    return schema_problems(document) + mandatory_problems(document)


def _q(value: Any) -> str:
    """A value from the document, quoted for a message and cut short if huge."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "..."
    return f'"{text}"' if isinstance(value, str) else text


def _short(text: str) -> str:
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "..."
