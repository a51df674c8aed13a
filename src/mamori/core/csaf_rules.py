"""The pieces the CSAF 2.0 mandatory tests (``mamori.core.csaf_validate``) are built from.

Everything here takes parts of a parsed CSAF document, which may be malformed in any way, and
returns plain values: walkers that yield ``(JSON pointer, value)`` for the places the spec names,
version numbers and timestamps ordered as the spec orders them, CVSS vectors read into the
properties FIRST's JSON schemas name, and lookups in the shipped CWE catalogue. A value of the
wrong type is skipped, never an error: the schema check reports it.

The revision history tests (6.1.14, 6.1.16 - 6.1.22, 6.1.30) live here too, beside the version
arithmetic they are made of; ``csaf_validate`` registers them with the other tests.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from importlib.resources import files
from typing import Any

import langcodes
from cvss import CVSS2, CVSS3, CVSSError
from packageurl import PackageURL

CWE_FILE = "cwec_v4.14_names.json"

#: What a test yields: (JSON pointer, message) for each thing it finds wrong.
Findings = Iterator[tuple[str, str]]

_QUOTE_LIMIT = 200

#: Product status lists of a vulnerability, in schema order.
STATUS_LISTS = (
    "first_affected",
    "first_fixed",
    "fixed",
    "known_affected",
    "known_not_affected",
    "last_affected",
    "recommended",
    "under_investigation",
)

#: The labels of spec section 3.2.3.5 that are VEX justification codes (all of CSAF 2.0's).
VEX_JUSTIFICATIONS = frozenset(
    {
        "component_not_present",
        "inline_mitigations_already_exist",
        "vulnerable_code_cannot_be_controlled_by_adversary",
        "vulnerable_code_not_in_execute_path",
        "vulnerable_code_not_present",
    }
)


def quote(value: Any) -> str:
    """A value from the document for a message: strings in quotes, anything cut short if huge."""
    if isinstance(value, str):
        return f'"{cut(value)}"'
    return cut(json.dumps(value, default=str))


def cut(text: str) -> str:
    """``text``, cut short if huge: messages quote the document and must not flood a report."""
    return text if len(text) <= _QUOTE_LIMIT else text[:_QUOTE_LIMIT] + "..."


# --- walking a document -----------------------------------------------------------------------


def pointer(*parts: str | int) -> str:
    """An RFC 6901 JSON pointer to the given keys and indexes."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def obj(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one: a malformed part holds nothing."""
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[tuple[int, Any]]:
    """The indexed items of ``value`` when it is a JSON array, else none."""
    return list(enumerate(value)) if isinstance(value, list) else []


def strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """``(pointer, string)`` for each string item of the array ``value`` found at ``path``."""
    for index, item in items(value):
        if isinstance(item, str):
            yield f"{path}/{index}", item


def branches(document: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every branch of ``/product_tree/branches``, at any depth, in document order."""
    top = obj(document.get("product_tree")).get("branches")
    stack = _children(pointer("product_tree", "branches"), top)
    while stack:
        path, branch = stack.pop()
        yield path, branch
        stack.extend(_children(f"{path}/branches", branch.get("branches")))


def _children(path: str, level: Any) -> list[tuple[str, Mapping[str, Any]]]:
    """The branches of one level, last first, ready to be popped in document order."""
    return [(f"{path}/{index}", obj(branch)) for index, branch in reversed(items(level))]


def full_product_names(document: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every Full Product Name element: in branches, in full_product_names, in relationships."""
    tree = obj(document.get("product_tree"))
    for path, branch in branches(document):
        if "product" in branch:
            yield f"{path}/product", obj(branch["product"])
    for index, product in items(tree.get("full_product_names")):
        yield pointer("product_tree", "full_product_names", index), obj(product)
    for index, relationship in items(tree.get("relationships")):
        if "full_product_name" in obj(relationship):
            path = pointer("product_tree", "relationships", index, "full_product_name")
            yield path, obj(relationship["full_product_name"])


def defined_product_ids(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(pointer, product id)`` of every product a Full Product Name defines."""
    for path, product in full_product_names(document):
        product_id = product.get("product_id")
        if isinstance(product_id, str):
            yield f"{path}/product_id", product_id


def product_groups(document: Mapping[str, Any]) -> dict[str, set[str]]:
    """Group id to the product ids it names (a group defined twice names both lists)."""
    groups: dict[str, set[str]] = {}
    for index, group in items(obj(document.get("product_tree")).get("product_groups")):
        group_id = obj(group).get("group_id")
        if isinstance(group_id, str):
            path = pointer("product_tree", "product_groups", index, "product_ids")
            members = groups.setdefault(group_id, set())
            members.update(pid for _, pid in strings(obj(group).get("product_ids"), path))
    return groups


def vulnerabilities(document: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(pointer, vulnerability)`` for each item of ``/vulnerabilities``."""
    for index, vulnerability in items(document.get("vulnerabilities")):
        yield pointer("vulnerabilities", index), obj(vulnerability)


def vulnerability_lists(
    document: Mapping[str, Any], key: str
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(pointer, item)`` for each item of ``/vulnerabilities[]/<key>`` (flags, threats...)."""
    for path, vulnerability in vulnerabilities(document):
        for index, item in items(vulnerability.get(key)):
            yield f"{path}/{key}/{index}", obj(item)


def product_references(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(pointer, product id)`` wherever a product is referenced rather than defined (6.1.1's
    paths, plus ``flags[]/product_ids`` which the 2.0 list omits though flags reference products
    exactly like threats do)."""
    tree = obj(document.get("product_tree"))
    for index, group in items(tree.get("product_groups")):
        path = pointer("product_tree", "product_groups", index, "product_ids")
        yield from strings(obj(group).get("product_ids"), path)
    for index, relationship in items(tree.get("relationships")):
        for key in ("product_reference", "relates_to_product_reference"):
            value = obj(relationship).get(key)
            if isinstance(value, str):
                yield pointer("product_tree", "relationships", index, key), value
    for path, vulnerability in vulnerabilities(document):
        status = obj(vulnerability.get("product_status"))
        for key in STATUS_LISTS:
            yield from strings(status.get(key), f"{path}/product_status/{key}")
    for key, field in _REFERENCING_LISTS:
        for path, item in vulnerability_lists(document, key):
            yield from strings(item.get(field), f"{path}/{field}")


_REFERENCING_LISTS = (
    ("flags", "product_ids"),
    ("remediations", "product_ids"),
    ("scores", "products"),
    ("threats", "product_ids"),
)


def group_references(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(pointer, group id)`` wherever a product group is referenced (6.1.4's paths, plus
    ``flags[]/group_ids`` for the same reason as in ``product_references``)."""
    for key in ("flags", "remediations", "threats"):
        for path, item in vulnerability_lists(document, key):
            yield from strings(item.get("group_ids"), f"{path}/group_ids")


def products_of(item: Mapping[str, Any], groups: Mapping[str, set[str]]) -> set[str]:
    """The product ids an item names directly (``product_ids``) or through ``group_ids``."""
    named = {pid for _, pid in strings(item.get("product_ids"), "")}
    for _, group_id in strings(item.get("group_ids"), ""):
        named |= groups.get(group_id, set())
    return named


# --- versions and timestamps -------------------------------------------------------------------

_INTEGER_VERSION = re.compile(r"0|[1-9][0-9]*")
_IDENTIFIER = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_SEMANTIC_VERSION = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    rf"(?:-({_IDENTIFIER}(?:\.{_IDENTIFIER})*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)


@dataclass(frozen=True)
class Version:
    """A ``version_t`` value: integer versioning ("3") or semantic versioning ("1.2.0-rc.1+b7")."""

    text: str
    semantic: bool
    major: int
    minor: int = 0
    patch: int = 0
    prerelease: str = ""
    build: str = ""

    @property
    def precedence(self) -> tuple[Any, ...]:
        """Orders as the spec's rule 11 does (build metadata ignored; integer n ranks as n.0.0)."""
        if not self.prerelease:
            return (self.major, self.minor, self.patch, 1, ())
        identifiers = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in self.prerelease.split(".")
        )
        return (self.major, self.minor, self.patch, 0, identifiers)

    def without(self, *, prerelease: bool = False) -> str:
        """The version without build metadata, and without its pre-release part if asked."""
        if not self.semantic:
            return self.text
        core = f"{self.major}.{self.minor}.{self.patch}"
        return core if prerelease or not self.prerelease else f"{core}-{self.prerelease}"


def parse_version(value: Any) -> Version | None:
    """The version ``value`` spells, or None when it is not a ``version_t`` string."""
    if not isinstance(value, str):
        return None
    if _INTEGER_VERSION.fullmatch(value):
        return Version(value, semantic=False, major=int(value))
    match = _SEMANTIC_VERSION.fullmatch(value)
    if match is None:
        return None
    major, minor, patch, prerelease, build = match.groups()
    return Version(value, True, int(major), int(minor), int(patch), prerelease or "", build or "")


_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)


def instant(value: Any) -> tuple[datetime, Fraction] | None:
    """An RFC 3339 date-time as a comparable UTC instant, fractional seconds kept exactly (the
    conformance data orders "10:00:00.00010Z" after "10:00:00.000Z"); None if not one."""
    match = _TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    if sign is not None and (int(off_h) > 23 or int(off_m) > 59):
        return None
    offset = timedelta(hours=int(off_h or 0), minutes=int(off_m or 0))
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
        moment = moment - offset if sign == "+" else moment + offset
    except (ValueError, OverflowError):  # no such day, or out of range once moved to UTC
        return None
    return moment, Fraction(fraction or "0")


@dataclass(frozen=True)
class Revision:
    """One item of the revision history whose number and date could be read."""

    path: str
    number: Version
    date: tuple[datetime, Fraction]


def tracking(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """``/document/tracking``, or an empty object."""
    return obj(obj(document.get("document")).get("tracking"))


def revision_numbers(document: Mapping[str, Any]) -> Iterator[tuple[str, Version]]:
    """``(pointer to number, version)`` for each readable number of the revision history."""
    for index, item in items(tracking(document).get("revision_history")):
        number = parse_version(obj(item).get("number"))
        if number is not None:
            yield pointer("document", "tracking", "revision_history", index, "number"), number


def revisions(document: Mapping[str, Any]) -> list[Revision]:
    """Readable revision history items, sorted ascending by date and, on equal dates, by
    number (the conformance data accepts items of the same date listed in any order)."""
    found = []
    for index, item in items(tracking(document).get("revision_history")):
        number, date = parse_version(obj(item).get("number")), instant(obj(item).get("date"))
        if number is not None and date is not None:
            path = pointer("document", "tracking", "revision_history", index)
            found.append(Revision(path, number, date))
    return sorted(found, key=lambda rev: (rev.date, rev.number.precedence))


# --- the revision history tests (6.1.14, 6.1.16 - 6.1.22, 6.1.30) ------------------------------


def sorted_revision_history(document: Mapping[str, Any]) -> Findings:
    """6.1.14: sorted by date, the revision history's numbers ascend."""
    highest: Revision | None = None
    for rev in revisions(document):
        if highest is not None and rev.number.precedence < highest.number.precedence:
            message = (
                f"Revision {rev.number.text} is dated after revision {highest.number.text} but"
                " has a lower number: numbers must ascend with the dates."
            )
            yield f"{rev.path}/number", message
        elif highest is None or rev.number.precedence > highest.number.precedence:
            highest = rev


def latest_document_version(document: Mapping[str, Any]) -> Findings:
    """6.1.16: the document version is the number of the latest revision (build metadata
    ignored; the pre-release part too while the document is a draft)."""
    version, history = parse_version(tracking(document).get("version")), revisions(document)
    if version is None or not history:
        return
    draft, latest = tracking(document).get("status") == "draft", history[-1].number
    if version.without(prerelease=draft) != latest.without(prerelease=draft):
        message = f"The version is {version.text} but the latest revision is {latest.text}."
        yield "/document/tracking/version", message


def status_draft(document: Mapping[str, Any]) -> Findings:
    """6.1.17: the status is draft if the version is 0, 0.y.z or has a pre-release part."""
    version = parse_version(tracking(document).get("version"))
    status = tracking(document).get("status")
    if version is None or not isinstance(status, str) or status == "draft":
        return
    if version.major == 0 or version.prerelease:
        message = f"Version {version.text} is a pre-release, so the status must be draft."
        yield "/document/tracking/status", message


def released_revision_history(document: Mapping[str, Any]) -> Findings:
    """6.1.18: a final or interim document has no revision numbered 0 or 0.y.z."""
    status = tracking(document).get("status")
    if status not in ("final", "interim"):
        return
    for path, number in revision_numbers(document):
        if number.major == 0:
            yield path, f"The document is {status} but lists the pre-release {number.text}."


def prerelease_revisions(document: Mapping[str, Any]) -> Findings:
    """6.1.19: no revision number has a pre-release part."""
    for path, number in revision_numbers(document):
        if number.prerelease:
            yield path, f"Revision {number.text} is a pre-release; leave it out of the history."


def non_draft_version(document: Mapping[str, Any]) -> Findings:
    """6.1.20: a final or interim document's version has no pre-release part."""
    version = parse_version(tracking(document).get("version"))
    status = tracking(document).get("status")
    if status in ("final", "interim") and version is not None and version.prerelease:
        message = f"The document is {status} but its version {version.text} is a pre-release."
        yield "/document/tracking/version", message


def missing_revision(document: Mapping[str, Any]) -> Findings:
    """6.1.21: the revision history omits no (major) version and starts at 0 or 1."""
    majors = sorted({number.major for _, number in revision_numbers(document)})
    path = pointer("document", "tracking", "revision_history")
    if majors and majors[0] > 1:
        yield path, f"The revision history starts at version {majors[0]} instead of 0 or 1."
    for lower, higher in itertools.pairwise(majors):
        if higher - lower > 1:
            yield path, f"The revision history skips from version {lower} to {higher}."


def multiple_revisions(document: Mapping[str, Any]) -> Findings:
    """6.1.22: no two revision history items have the same number."""
    first: dict[str, str] = {}
    for path, number in revision_numbers(document):
        if first.setdefault(number.text, path) != path:
            yield path, f"Revision {number.text} is already listed at {first[number.text]}."


def mixed_versioning(document: Mapping[str, Any]) -> Findings:
    """6.1.30: all version numbers use integer versioning, or all use semantic versioning."""
    version = parse_version(tracking(document).get("version"))
    numbers = list(revision_numbers(document))
    reference = version or (numbers[0][1] if numbers else None)
    for path, number in numbers:
        if reference is not None and number.semantic != reference.semantic:
            message = (
                f"Revision {number.text} uses {_scheme(number)} but {reference.text} uses"
                f" {_scheme(reference)}; use one versioning scheme throughout."
            )
            yield path, message


def _scheme(version: Version) -> str:
    return "semantic versioning" if version.semantic else "integer versioning"


# --- CVSS --------------------------------------------------------------------------------------

_NOT_DEFINED = "NOT_DEFINED"

_V3_IMPACT = {"H": "HIGH", "L": "LOW", "N": "NONE"}
_V3_REQUIREMENT = {"H": "HIGH", "M": "MEDIUM", "L": "LOW"}
_V3_VECTOR = {"N": "NETWORK", "A": "ADJACENT_NETWORK", "L": "LOCAL", "P": "PHYSICAL"}
_V3_COMPLEXITY = {"L": "LOW", "H": "HIGH"}
_V3_PRIVILEGES = {"N": "NONE", "L": "LOW", "H": "HIGH"}
_V3_INTERACTION = {"N": "NONE", "R": "REQUIRED"}
_V3_SCOPE = {"U": "UNCHANGED", "C": "CHANGED"}

#: CVSS v3 vector metric -> (JSON property, vector value -> property value), FIRST's schema names.
CVSS3_METRICS: dict[str, tuple[str, dict[str, str]]] = {
    "AV": ("attackVector", _V3_VECTOR),
    "AC": ("attackComplexity", _V3_COMPLEXITY),
    "PR": ("privilegesRequired", _V3_PRIVILEGES),
    "UI": ("userInteraction", _V3_INTERACTION),
    "S": ("scope", _V3_SCOPE),
    "C": ("confidentialityImpact", _V3_IMPACT),
    "I": ("integrityImpact", _V3_IMPACT),
    "A": ("availabilityImpact", _V3_IMPACT),
    "E": (
        "exploitCodeMaturity",
        {"U": "UNPROVEN", "P": "PROOF_OF_CONCEPT", "F": "FUNCTIONAL", "H": "HIGH"},
    ),
    "RL": (
        "remediationLevel",
        {"O": "OFFICIAL_FIX", "T": "TEMPORARY_FIX", "W": "WORKAROUND", "U": "UNAVAILABLE"},
    ),
    "RC": ("reportConfidence", {"U": "UNKNOWN", "R": "REASONABLE", "C": "CONFIRMED"}),
    "CR": ("confidentialityRequirement", _V3_REQUIREMENT),
    "IR": ("integrityRequirement", _V3_REQUIREMENT),
    "AR": ("availabilityRequirement", _V3_REQUIREMENT),
    "MAV": ("modifiedAttackVector", _V3_VECTOR),
    "MAC": ("modifiedAttackComplexity", _V3_COMPLEXITY),
    "MPR": ("modifiedPrivilegesRequired", _V3_PRIVILEGES),
    "MUI": ("modifiedUserInteraction", _V3_INTERACTION),
    "MS": ("modifiedScope", _V3_SCOPE),
    "MC": ("modifiedConfidentialityImpact", _V3_IMPACT),
    "MI": ("modifiedIntegrityImpact", _V3_IMPACT),
    "MA": ("modifiedAvailabilityImpact", _V3_IMPACT),
}

_V2_IMPACT = {"N": "NONE", "P": "PARTIAL", "C": "COMPLETE"}
_V2_REQUIREMENT = {"L": "LOW", "M": "MEDIUM", "H": "HIGH"}

#: CVSS v2 vector metric -> (JSON property, vector value -> property value).
CVSS2_METRICS: dict[str, tuple[str, dict[str, str]]] = {
    "AV": ("accessVector", {"L": "LOCAL", "A": "ADJACENT_NETWORK", "N": "NETWORK"}),
    "AC": ("accessComplexity", {"H": "HIGH", "M": "MEDIUM", "L": "LOW"}),
    "Au": ("authentication", {"M": "MULTIPLE", "S": "SINGLE", "N": "NONE"}),
    "C": ("confidentialityImpact", _V2_IMPACT),
    "I": ("integrityImpact", _V2_IMPACT),
    "A": ("availabilityImpact", _V2_IMPACT),
    "E": (
        "exploitability",
        {"U": "UNPROVEN", "POC": "PROOF_OF_CONCEPT", "F": "FUNCTIONAL", "H": "HIGH"},
    ),
    "RL": (
        "remediationLevel",
        {"OF": "OFFICIAL_FIX", "TF": "TEMPORARY_FIX", "W": "WORKAROUND", "U": "UNAVAILABLE"},
    ),
    "RC": ("reportConfidence", {"UC": "UNCONFIRMED", "UR": "UNCORROBORATED", "C": "CONFIRMED"}),
    "CDP": (
        "collateralDamagePotential",
        {"N": "NONE", "L": "LOW", "LM": "LOW_MEDIUM", "MH": "MEDIUM_HIGH", "H": "HIGH"},
    ),
    "TD": ("targetDistribution", {"N": "NONE", "L": "LOW", "M": "MEDIUM", "H": "HIGH"}),
    "CR": ("confidentialityRequirement", _V2_REQUIREMENT),
    "IR": ("integrityRequirement", _V2_REQUIREMENT),
    "AR": ("availabilityRequirement", _V2_REQUIREMENT),
}

#: For each optional v2 metric, the value that weighs exactly what ND weighs.
_V2_NEUTRAL = {
    "E": "H",
    "RL": "U",
    "RC": "C",
    "CDP": "N",
    "TD": "H",
    "CR": "M",
    "IR": "M",
    "AR": "M",
}


def cvss_version(key: str, cvss: Mapping[str, Any]) -> str | None:
    """The CVSS version of a ``cvss_v2``/``cvss_v3`` object: its ``version``, else its vector's."""
    version = cvss.get("version")
    if isinstance(version, str):
        return version
    vector = cvss.get("vectorString")
    if key == "cvss_v3" and isinstance(vector, str):
        match = re.match(r"CVSS:(3\.[01])/", vector)
        return match.group(1) if match else None
    return "2.0" if key == "cvss_v2" else None


def vector_metrics(key: str, vector: Any) -> dict[str, str] | None:
    """The metrics a vector string sets, or None when it names one twice or is not a vector."""
    if not isinstance(vector, str):
        return None
    parts = vector.split("/")
    if key == "cvss_v3":
        if not re.fullmatch(r"CVSS:3\.[01]", parts[0]):
            return None
        parts = parts[1:]
    metrics: dict[str, str] = {}
    for part in parts:
        name, sep, value = part.partition(":")
        if not sep or name in metrics:
            return None
        metrics[name] = value
    return metrics


def vector_properties(key: str, metrics: Mapping[str, str]) -> dict[str, frozenset[str]]:
    """The values the FIRST JSON properties may take under the metrics the vector states.

    A metric the vector does not mention says nothing, so its property is not constrained (the
    TC's own test documents for 6.2.19 state modified impacts only as properties). A metric set
    to X/ND is ``NOT_DEFINED``, and a v3 modified metric set to X may also be stated as the base
    value it stands for (MAV:X means "use AV"). Values the vector grammar does not know are left
    out: the schema and 6.1.9 report those.
    """
    table = CVSS3_METRICS if key == "cvss_v3" else CVSS2_METRICS
    undefined = "X" if key == "cvss_v3" else "ND"
    allowed: dict[str, frozenset[str]] = {}
    for metric, (prop, values) in table.items():
        value = metrics.get(metric)
        if value is None:
            continue
        if value != undefined:
            if value in values:
                allowed[prop] = frozenset({values[value]})
            continue
        stands_for = metric[1:] if key == "cvss_v3" and metric.startswith("M") else None
        base = values.get(metrics.get(stands_for, "")) if stands_for else None
        allowed[prop] = frozenset({_NOT_DEFINED, base} if base else {_NOT_DEFINED})
    return allowed


@dataclass(frozen=True)
class Computed:
    """Scores (and for v3 severities) a vector gives, named by FIRST's JSON properties."""

    values: dict[str, Decimal | str]


def compute_cvss(key: str, vector: str) -> Computed:
    """Score a vector with the ``cvss`` library; raises ``ValueError`` naming what is wrong."""
    try:
        if key == "cvss_v3":
            v3 = CVSS3(vector)
            base, temporal, environmental = v3.scores()
            severities = [s.upper() for s in v3.severities()]
            return Computed(
                {
                    "baseScore": Decimal(str(base)),
                    "temporalScore": Decimal(str(temporal)),
                    "environmentalScore": Decimal(str(environmental)),
                    "baseSeverity": severities[0],
                    "temporalSeverity": severities[1],
                    "environmentalSeverity": severities[2],
                }
            )
        return _compute_cvss2(vector)
    except CVSSError as exc:
        raise ValueError(cut(str(exc))) from None


def _compute_cvss2(vector: str) -> Computed:
    """CVSS v2 scores. The library gives no temporal or environmental score when those metrics
    are all ND, but the v2 equations do (ND weighs as 1.0, or 0 for CDP), and a document may
    state them; so ND is replaced by the value of the same weight before scoring."""
    base = CVSS2(vector).scores()[0]
    metrics = vector_metrics("cvss_v2", vector) or {}
    for metric, neutral in _V2_NEUTRAL.items():
        if metrics.get(metric, "ND") == "ND":
            metrics[metric] = neutral
    _, temporal, environmental = CVSS2("/".join(f"{m}:{v}" for m, v in metrics.items())).scores()
    return Computed(
        {
            "baseScore": Decimal(str(base)),
            "temporalScore": Decimal(str(temporal)),
            "environmentalScore": Decimal(str(environmental)),
        }
    )


def as_decimal(value: Any) -> Decimal | None:
    """A JSON number as an exact decimal (10 and 10.0 compare equal); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


# --- CWE, language tags, package URLs ----------------------------------------------------------


@dataclass(frozen=True)
class CweEntry:
    name: str
    kind: str
    status: str


@dataclass(frozen=True)
class CweCatalogue:
    version: str
    entries: Mapping[str, CweEntry]


@functools.cache
def cwe_catalogue() -> CweCatalogue:
    """MITRE's CWE identifiers and names, from ``mamori/data/cwe`` (see its README)."""
    text = (files("mamori") / "data" / "cwe" / CWE_FILE).read_text("utf-8")
    raw = json.loads(text)
    entries = {cwe_id: CweEntry(*fields) for cwe_id, fields in raw["entries"].items()}
    return CweCatalogue(version=str(raw["version"]), entries=entries)


_PRIVATE_USE_LANGUAGE = re.compile(r"q[a-t][a-z]", re.IGNORECASE)


def language_tag_is_valid(tag: str) -> bool:
    """Whether ``tag`` is a valid BCP 47 tag (RFC 5646 section 2.2.9): well-formed, each subtag
    registered (``langcodes``' copy of the registry), no variant or extension repeated.

    ``langcodes`` does not look at extended language subtags; every registered one is also a
    registered primary language subtag (RFC 5646 section 2.2.2), so that is checked here, and a
    private-use language (qaa..qtz) is no extlang."""
    if not langcodes.tag_is_valid(tag):
        return False
    extlangs = langcodes.Language.get(tag, normalize=False).extlangs or ()
    return all(
        langcodes.tag_is_valid(extlang) and not _PRIVATE_USE_LANGUAGE.fullmatch(extlang)
        for extlang in extlangs
    )


def purl_problem(purl: str) -> str | None:
    """Why ``purl`` is not a valid package URL, or None when it is one."""
    try:
        PackageURL.from_string(purl)
    except ValueError as exc:
        return str(exc)
    return None
