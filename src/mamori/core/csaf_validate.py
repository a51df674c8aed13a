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
2. The mandatory tests, each a small function in the table ``_TESTS`` (the revision history
   tests live in ``csaf_rules`` beside the version arithmetic they need). They read only values
   of the right type, so a document the schema refused is still tested without crashing; a test
   that cannot apply finds nothing.

Readings of the spec where its text leaves room (the OASIS conformance data decides where it can):

- 6.1.1 and 6.1.4 also check ``flags[]/product_ids`` and ``flags[]/group_ids``: the 2.0 path
  lists omit them, the conformance data (6-1-01-02, 6-1-04-02) expects them checked.
- Revision history items of the same date may be listed in any order: they are ordered by number
  among themselves (6.1.14, 6.1.16). Dates compare as instants, fractional seconds exactly.
- 6.1.21 looks at the set of major versions: none skipped, the lowest 0 or 1. A history whose
  dates and numbers disagree is reported once, by 6.1.14.
- 6.1.10 checks the metrics the vector states. A property for a metric the vector leaves out does
  not contradict it (the TC's 6.2.19 documents state modified impacts only as properties), and a
  v3 modified metric set to X may be stated as the base value it stands for.
- 6.1.11 knows CWE 4.14's weaknesses, categories and views, and compares names exactly.
- 6.1.12 is RFC 5646 validity: well-formed, subtags registered; a deprecated subtag is valid.
- 6.1.31 finds the comparison signs anywhere in a name and the words only as whole words (the
  conformance data accepts "after-eight" as a version).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry, Resource

from mamori.core import csaf_rules as r
from mamori.core.csaf_rules import Findings, quote
from mamori.errors import InvalidInput

CSAF_SCHEMA = "csaf_json_schema.json"
PROVIDER_SCHEMA = "provider_json_schema.json"

#: The ids the CSAF schema references FIRST's CVSS schemas by, and the shipped copies.
CVSS_SCHEMAS = {
    "https://www.first.org/cvss/cvss-v2.0.json": "cvss-v2.0.json",
    "https://www.first.org/cvss/cvss-v3.0.json": "cvss-v3.0.json",
    "https://www.first.org/cvss/cvss-v3.1.json": "cvss-v3.1.json",
}


@dataclass(frozen=True)
class Problem:
    """One reason a document is not valid CSAF 2.0."""

    test: str  # "schema" or the spec test id, e.g. "6.1.27.9"
    path: str  # JSON pointer into the document, e.g. "/vulnerabilities/0/product_status/fixed/1"
    message: str  # a sentence a release manager understands


# --- schemas ------------------------------------------------------------------------------------


@functools.cache
def _schema(*parts: str) -> dict[str, Any]:
    text = files("mamori").joinpath("data", "csaf", *parts).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _registry() -> Registry[Any]:
    """The CVSS schemas under the ids the CSAF schema uses (and their own ids, which carry a
    query), and the CSAF schema under its id, which the provider schema references."""
    resources: list[tuple[str, Resource[Any]]] = []
    for uri, name in CVSS_SCHEMAS.items():
        resource = Resource.from_contents(_schema("referenced", name))
        resources += [(uri, resource), (str(resource.id()), resource)]
    csaf = Resource.from_contents(_schema(CSAF_SCHEMA))
    return Registry().with_resources([*resources, (str(csaf.id()), csaf)])


_URI = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[\w\-.~!$&'()*+,;=:@/?#\[\]]|%[0-9A-Fa-f]{2})*", re.A
)


@functools.cache
def _format_checker() -> FormatChecker:
    """Asserts RFC 3339 ``date-time`` and RFC 3986 ``uri``, and no other format."""
    checker = FormatChecker(formats=())
    checker.checks("date-time")(lambda value: not isinstance(value, str) or bool(r.instant(value)))
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


def _schema_findings(validator: Validator, instance: Any, base: str = "") -> Findings:
    """(pointer, message) for each error in document order, naming its innermost cause."""
    found = [
        (base + r.pointer(*leaf.absolute_path), r.cut(leaf.message))
        for error in validator.iter_errors(instance)
        for leaf in _causes(error)
    ]
    return iter(sorted(found, key=lambda finding: finding[0]))


def _causes(error: ValidationError) -> list[ValidationError]:
    """For a failed ``oneOf``/``anyOf``, the errors of the alternative that came closest (fewest
    errors): a CVSS v3.1 object without ``baseSeverity`` says so, not "is not valid under any of
    the given schemas"."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    alternatives: dict[Any, list[ValidationError]] = {}
    for cause in error.context:
        alternatives.setdefault(cause.relative_schema_path[0], []).append(cause)
    closest = min(alternatives.values(), key=len)
    return [leaf for cause in closest for leaf in _causes(cause)]


def schema_problems(document: Mapping[str, Any]) -> list[Problem]:
    """What the CSAF 2.0 JSON schema (with the CVSS schemas it references) finds wrong."""
    findings = _schema_findings(_validator(CSAF_SCHEMA), document)
    return [Problem("schema", path, f"Not allowed by the CSAF schema: {m}") for path, m in findings]


def provider_metadata_problems(document: Mapping[str, Any]) -> list[Problem]:
    """What the CSAF 2.0 provider metadata schema finds wrong with a provider-metadata.json."""
    findings = _schema_findings(_validator(PROVIDER_SCHEMA), document)
    message = "Not allowed by the CSAF provider metadata schema: {}"
    return [Problem("schema", path, message.format(m)) for path, m in findings]


# --- products and groups (6.1.1 - 6.1.7) --------------------------------------------------------


def _missing_product_definition(document: Mapping[str, Any]) -> Findings:
    """6.1.1: every referenced Product ID is defined by a Full Product Name in the product tree."""
    defined = {product_id for _, product_id in r.defined_product_ids(document)}
    for path, product_id in r.product_references(document):
        if product_id not in defined:
            yield path, f"Product {quote(product_id)} is referenced but never defined."


def _multiple_product_definition(document: Mapping[str, Any]) -> Findings:
    """6.1.2: a Product ID is defined by only one Full Product Name."""
    first: dict[str, str] = {}
    for path, product_id in r.defined_product_ids(document):
        if first.setdefault(product_id, path) != path:
            yield path, f"Product {quote(product_id)} is already defined at {first[product_id]}."


def _circular_product_definition(document: Mapping[str, Any]) -> Findings:
    """6.1.3: a Product ID defined by a relationship does not end up referring to itself."""
    refers_to: dict[str, set[str]] = {}
    defined: list[tuple[str, str]] = []
    for index, item in r.items(r.obj(document.get("product_tree")).get("relationships")):
        relationship = r.obj(item)
        product_id = r.obj(relationship.get("full_product_name")).get("product_id")
        if isinstance(product_id, str):
            keys = ("product_reference", "relates_to_product_reference")
            targets = {relationship[k] for k in keys if isinstance(relationship.get(k), str)}
            refers_to.setdefault(product_id, set()).update(targets)
            path = r.pointer("product_tree", "relationships", index, "full_product_name")
            defined.append((f"{path}/product_id", product_id))
    for path, product_id in defined:
        if _reaches(product_id, product_id, refers_to):
            yield path, f"Product {quote(product_id)} is defined in terms of itself (a circle)."


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
    defined = r.product_groups(document)
    for path, group_id in r.group_references(document):
        if group_id not in defined:
            yield path, f"Product group {quote(group_id)} is referenced but never defined."


def _multiple_group_definition(document: Mapping[str, Any]) -> Findings:
    """6.1.5: a Product Group ID is defined only once."""
    first: dict[str, str] = {}
    for index, group in r.items(r.obj(document.get("product_tree")).get("product_groups")):
        group_id = r.obj(group).get("group_id")
        path = r.pointer("product_tree", "product_groups", index, "group_id")
        if isinstance(group_id, str) and first.setdefault(group_id, path) != path:
            yield path, f"Product group {quote(group_id)} is already defined at {first[group_id]}."


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
                    yield path, f"Product {quote(product_id)} is both {first} and {group}."


def _multiple_scores(document: Mapping[str, Any]) -> Findings:
    """6.1.7: within a vulnerability, a product has at most one score per CVSS version."""
    for vulnerability_path, vulnerability in r.vulnerabilities(document):
        first: dict[tuple[str, str], str] = {}
        for index, item in r.items(vulnerability.get("scores")):
            score, score_path = r.obj(item), f"{vulnerability_path}/scores/{index}"
            for key in (k for k in ("cvss_v2", "cvss_v3") if k in score):
                version = r.cvss_version(key, r.obj(score[key])) or key
                for path, product_id in r.strings(score.get("products"), f"{score_path}/products"):
                    seen = first.setdefault((product_id, version), score_path)
                    if seen != score_path:
                        message = f"Product {quote(product_id)} already has a CVSS {version}"
                        yield path, f"{message} score at {seen}."


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
            yield path, f"The {key} object needs the version {' or '.join(known)}."
            continue
        for where, message in _schema_findings(_cvss_validator(version), cvss, path):
            yield where, f"Not a valid CVSS v{version} object: {message}"


def _cvss_computation(document: Mapping[str, Any]) -> Findings:
    """6.1.9: the scores (and severities) of each CVSS object are those its vector gives."""
    for path, key, value in _cvss_objects(document):
        cvss = r.obj(value)
        vector = cvss.get("vectorString")
        if not isinstance(vector, str):
            continue
        try:
            computed = r.compute_cvss(key, vector)
        except ValueError as exc:
            yield f"{path}/vectorString", f"The CVSS vector {quote(vector)} is invalid: {exc}."
            continue
        for prop, expected in computed.values.items():
            given = cvss.get(prop)
            if prop in cvss and not _same(given, expected):
                yield f"{path}/{prop}", f"{prop} is {quote(given)}, but {vector} gives {expected}."


def _same(given: Any, expected: Decimal | str) -> bool:
    """A score compares as a number (10 is 10.0), a severity as a string."""
    if isinstance(expected, Decimal):
        return r.as_decimal(given) == expected
    return bool(given == expected)


def _inconsistent_cvss(document: Mapping[str, Any]) -> Findings:
    """6.1.10: the CVSS properties given do not contradict the CVSS vector."""
    for path, key, value in _cvss_objects(document):
        cvss = r.obj(value)
        vector = cvss.get("vectorString")
        metrics = r.vector_metrics(key, vector)
        if metrics is None:
            continue
        stated = r.cvss_version(key, {"vectorString": vector})
        version = cvss.get("version")
        if key == "cvss_v3" and isinstance(version, str) and version != stated:
            yield f"{path}/version", f"The version is {quote(version)}, but {vector} is {stated}."
        for prop, allowed in r.vector_properties(key, metrics).items():
            if prop in cvss and str(cvss[prop]) not in allowed:
                want = " or ".join(sorted(allowed))
                yield f"{path}/{prop}", f"{prop} is {quote(cvss[prop])}, but {vector} says {want}."


def _cwe(document: Mapping[str, Any]) -> Findings:
    """6.1.11: the CWE given exists and is valid (its name is the catalogue's name for the id)."""
    catalogue = r.cwe_catalogue()
    for path, vulnerability in r.vulnerabilities(document):
        cwe = r.obj(vulnerability.get("cwe"))
        cwe_id, name = cwe.get("id"), cwe.get("name")
        entry = catalogue.entries.get(cwe_id) if isinstance(cwe_id, str) else None
        if isinstance(cwe_id, str) and entry is None:
            yield f"{path}/cwe/id", f"{cwe_id} is not in the CWE catalogue {catalogue.version}."
        elif entry is not None and isinstance(name, str) and name != entry.name:
            message = f"The CWE catalogue {catalogue.version} names {cwe_id} {quote(entry.name)}"
            yield f"{path}/cwe/name", f"{message}, not {quote(name)}."


def _language(document: Mapping[str, Any]) -> Findings:
    """6.1.12: each language code is a valid BCP 47 tag whose subtags exist."""
    meta = r.obj(document.get("document"))
    for key in ("lang", "source_lang"):
        tag = meta.get(key)
        if isinstance(tag, str) and not r.language_tag_is_valid(tag):
            message = "is not a valid language tag (BCP 47): a subtag is unknown or misplaced."
            yield r.pointer("document", key), f"{quote(tag)} {message}"


def _purl(document: Mapping[str, Any]) -> Findings:
    """6.1.13: each package URL given is valid."""
    for path, product in r.full_product_names(document):
        purl = r.obj(product.get("product_identification_helper")).get("purl")
        if isinstance(purl, str) and (problem := r.purl_problem(purl)) is not None:
            where = f"{path}/product_identification_helper/purl"
            yield where, f"{quote(purl)} is not a valid package URL: {problem}"


def _translator(document: Mapping[str, Any]) -> Findings:
    """6.1.15: a document published by a translator gives /document/source_lang."""
    meta = r.obj(document.get("document"))
    translated = r.obj(meta.get("publisher")).get("category") == "translator"
    if translated and not (isinstance(meta.get("source_lang"), str) and meta["source_lang"]):
        message = "The publisher is a translator, so source_lang must name the original language."
        yield "/document/source_lang", message


# --- vulnerabilities (6.1.23 - 6.1.26) ----------------------------------------------------------


def _multiple_cve(document: Mapping[str, Any]) -> Findings:
    """6.1.23: a CVE is used by only one vulnerability item."""
    first: dict[str, str] = {}
    for path, vulnerability in r.vulnerabilities(document):
        cve = vulnerability.get("cve")
        if isinstance(cve, str) and first.setdefault(cve, path) != path:
            yield f"{path}/cve", f"{cve} is already described at {first[cve]}."


def _multiple_involvements(document: Mapping[str, Any]) -> Findings:
    """6.1.24: no party is listed twice with the same date in a vulnerability's involvements."""
    for vulnerability_path, vulnerability in r.vulnerabilities(document):
        first: dict[tuple[Any, Any], str] = {}
        for index, item in r.items(vulnerability.get("involvements")):
            party, date = r.obj(item).get("party"), r.obj(item).get("date")
            key = (party, r.instant(date) or (date if isinstance(date, str) else None))
            path = f"{vulnerability_path}/involvements/{index}"
            if isinstance(party, str) and first.setdefault(key, path) != path:
                when = f"dated {date}" if isinstance(date, str) else "without a date"
                yield path, f"The {party} involvement {when} is already given at {first[key]}."


def _multiple_hash_algorithms(document: Mapping[str, Any]) -> Findings:
    """6.1.25: a hash algorithm is used only once in one item of hashes."""
    for product_path, product in r.full_product_names(document):
        helper = r.obj(product.get("product_identification_helper"))
        for index, item in r.items(helper.get("hashes")):
            where = f"{product_path}/product_identification_helper/hashes/{index}/file_hashes"
            first: dict[str, str] = {}
            for position, file_hash in r.items(r.obj(item).get("file_hashes")):
                algorithm, path = r.obj(file_hash).get("algorithm"), f"{where}/{position}/algorithm"
                seen = (
                    first.setdefault(algorithm.lower(), path)
                    if isinstance(algorithm, str)
                    else path
                )
                if seen != path:
                    yield path, f"The file already has a {algorithm} hash at {seen}."


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
    reserved = [v for v, name in _PROFILES.items() if squashed in (_squash(v), _squash(name))]
    if reserved:
        message = f"The category {quote(category)} is reserved for the {_PROFILES[reserved[0]]}"
        yield path, f"{message} profile: write {reserved[0]} for it, or choose another name."
    elif category.lower().startswith("csaf_"):
        yield path, f"The category {quote(category)} starts with the reserved prefix csaf_."


def _squash(text: str) -> str:
    return re.sub(r"[\s_-]", "", text).lower()


# --- profiles (6.1.27.1 - 6.1.27.11) ------------------------------------------------------------

_ADVISORIES = ("csaf_security_advisory", "csaf_vex")
_INFORMATION = ("csaf_informational_advisory", "csaf_security_incident_response")


def _category(document: Mapping[str, Any]) -> Any:
    return r.obj(document.get("document")).get("category")


def _document_notes(document: Mapping[str, Any]) -> Findings:
    """6.1.27.1: informational advisories and incident responses have a document note of
    category description, details, general or summary."""
    notes = r.items(r.obj(document.get("document")).get("notes"))
    wanted = ("description", "details", "general", "summary")
    has_note = any(r.obj(note).get("category") in wanted for _, note in notes)
    if _category(document) in _INFORMATION and not has_note:
        message = "This profile needs a description, details, general or summary note."
        yield "/document/notes", message


def _document_references(document: Mapping[str, Any]) -> Findings:
    """6.1.27.2: informational advisories and incident responses reference an external source."""
    references = r.items(r.obj(document.get("document")).get("references"))
    external = any(r.obj(ref).get("category", "external") == "external" for _, ref in references)
    if _category(document) in _INFORMATION and not external:
        yield "/document/references", "This profile needs a reference to an external source."


def _no_vulnerabilities(document: Mapping[str, Any]) -> Findings:
    """6.1.27.3: an informational advisory has no /vulnerabilities."""
    if _category(document) == "csaf_informational_advisory" and "vulnerabilities" in document:
        yield "/vulnerabilities", "An informational advisory must not list vulnerabilities."


def _product_tree(document: Mapping[str, Any]) -> Findings:
    """6.1.27.4: security advisories and VEX documents have a /product_tree."""
    if _category(document) in _ADVISORIES and "product_tree" not in document:
        yield "/product_tree", "This profile needs a product tree."


def _vulnerability_notes(document: Mapping[str, Any]) -> Findings:
    """6.1.27.5: in security advisories and VEX documents each vulnerability has notes."""
    for path, vulnerability in r.vulnerabilities(document):
        if _category(document) in _ADVISORIES and "notes" not in vulnerability:
            yield f"{path}/notes", "This profile needs notes on each vulnerability."


def _product_status(document: Mapping[str, Any]) -> Findings:
    """6.1.27.6: in security advisories each vulnerability has a product_status."""
    for path, vulnerability in r.vulnerabilities(document):
        if _category(document) == _ADVISORIES[0] and "product_status" not in vulnerability:
            message = "This profile needs a product status on each vulnerability."
            yield f"{path}/product_status", message


def _vex_product_status(document: Mapping[str, Any]) -> Findings:
    """6.1.27.7: in VEX documents each product_status has fixed, known_affected,
    known_not_affected or under_investigation."""
    wanted = ("fixed", "known_affected", "known_not_affected", "under_investigation")
    for path, vulnerability in r.vulnerabilities(document):
        status = r.obj(vulnerability.get("product_status"))
        if _category(document) == "csaf_vex" and not any(key in status for key in wanted):
            message = "A VEX document must list fixed, known (not) affected or investigated ones."
            yield f"{path}/product_status", message


def _vulnerability_id(document: Mapping[str, Any]) -> Findings:
    """6.1.27.8: in VEX documents each vulnerability has a cve or ids."""
    for path, vulnerability in r.vulnerabilities(document):
        if _category(document) == "csaf_vex" and not {"cve", "ids"} & set(vulnerability):
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
                message = f"No flag or impact statement says why {quote(product_id)} is unaffected."
                yield where, message


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
                yield where, f"No remediation says what to do about affected {quote(product_id)}."


def _vulnerabilities(document: Mapping[str, Any]) -> Findings:
    """6.1.27.11: security advisories and VEX documents have /vulnerabilities."""
    if _category(document) in _ADVISORIES and "vulnerabilities" not in document:
        yield "/vulnerabilities", "This profile needs at least one vulnerability."


# --- the rest (6.1.28 - 6.1.33) -----------------------------------------------------------------


def _translation(document: Mapping[str, Any]) -> Findings:
    """6.1.28: the source language and the document language are not the same."""
    meta = r.obj(document.get("document"))
    lang, source = meta.get("lang"), meta.get("source_lang")
    if isinstance(lang, str) and isinstance(source, str) and lang.lower() == source.lower():
        yield "/document/source_lang", f"The document is translated from {source} into {lang}."


def _remediation_products(document: Mapping[str, Any]) -> Findings:
    """6.1.29: each remediation names product_ids or group_ids."""
    for path, remediation in r.vulnerability_lists(document, "remediations"):
        if not {"product_ids", "group_ids"} & set(remediation):
            yield path, "The remediation does not say which products it applies to."


_RANGE_SIGNS = ("<", ">")  # "<=" and ">=" contain them
_RANGE_WORDS = frozenset({"after", "all", "before", "earlier", "later", "prior", "versions"})


def _version_range(document: Mapping[str, Any]) -> Findings:
    """6.1.31: a branch of category product_version names one version, not a range."""
    for path, branch in r.branches(document):
        name = branch.get("name")
        if branch.get("category") != "product_version" or not isinstance(name, str):
            continue
        lowered = name.lower()
        if any(sign in lowered for sign in _RANGE_SIGNS) or _RANGE_WORDS & set(lowered.split()):
            message = f"{quote(name)} is a version range: use the category product_version_range."
            yield f"{path}/name", message


def _flag_products(document: Mapping[str, Any]) -> Findings:
    """6.1.32: each flag names product_ids or group_ids."""
    for path, flag in r.vulnerability_lists(document, "flags"):
        if not {"product_ids", "group_ids"} & set(flag):
            yield path, "The flag does not say which products it applies to."


def _multiple_vex_flags(document: Mapping[str, Any]) -> Findings:
    """6.1.33: within a vulnerability, a product is in at most one flag with a VEX
    justification code, counting products reached through groups."""
    groups = r.product_groups(document)
    for vulnerability_path, vulnerability in r.vulnerabilities(document):
        first: dict[str, str] = {}
        for index, item in r.items(vulnerability.get("flags")):
            flag, path = r.obj(item), f"{vulnerability_path}/flags/{index}"
            justified = str(flag.get("label")) in r.VEX_JUSTIFICATIONS
            for product_id in sorted(r.products_of(flag, groups)) if justified else ():
                if first.setdefault(product_id, path) != path:
                    message = f"Product {quote(product_id)} already has a VEX justification"
                    yield path, f"{message} at {first[product_id]}."


# --- the table and the entry points -------------------------------------------------------------

_TESTS: dict[str, Callable[[Mapping[str, Any]], Findings]] = {
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
    "6.1.14": r.sorted_revision_history,
    "6.1.15": _translator,
    "6.1.16": r.latest_document_version,
    "6.1.17": r.status_draft,
    "6.1.18": r.released_revision_history,
    "6.1.19": r.prerelease_revisions,
    "6.1.20": r.non_draft_version,
    "6.1.21": r.missing_revision,
    "6.1.22": r.multiple_revisions,
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
    "6.1.30": r.mixed_versioning,
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

    Raises ``InvalidInput`` for a test id that is not a CSAF 2.0 mandatory test.
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
    """Everything wrong with a CSAF 2.0 document, schema problems first, then what each
    mandatory test finds in spec order. An empty list means the document is valid."""
    return schema_problems(document) + mandatory_problems(document)
