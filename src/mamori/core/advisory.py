"""An advisory as plain values: what every published format is generated from.

The advisories app fills an ``Advisory`` from case data (the assessment, the affected matrix,
the fix and the release); the format builders (``core.csaf``, ``core.cve``, ``core.osv``) and the
bulletin templates read only this. Nothing is typed twice: a format that needs a value another
format already has reads the same field.

``missing`` lists everything a format needs that an advisory lacks, so publishing can refuse with
the full list rather than the first problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from enum import StrEnum
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from mamori.errors import InvalidInput

_T = TypeVar("_T")


class Kind(StrEnum):
    """A security bulletin ships a fix; an early mitigation advisory has only workarounds."""

    BULLETIN = "bulletin"
    EARLY_MITIGATION = "early_mitigation"


class Tlp(StrEnum):
    """CSAF 2.0's traffic light labels (TLP 1.0 names, as the CSAF 2.0 schema spells them)."""

    WHITE = "WHITE"
    GREEN = "GREEN"
    AMBER = "AMBER"
    RED = "RED"


class Status(StrEnum):
    """The product status of one product version for one vulnerability (CSAF/VEX vocabulary)."""

    KNOWN_AFFECTED = "known_affected"
    FIXED = "fixed"
    KNOWN_NOT_AFFECTED = "known_not_affected"
    UNDER_INVESTIGATION = "under_investigation"


class RemediationCategory(StrEnum):
    """CSAF 2.0 remediation categories."""

    VENDOR_FIX = "vendor_fix"
    MITIGATION = "mitigation"
    WORKAROUND = "workaround"
    NONE_AVAILABLE = "none_available"
    NO_FIX_PLANNED = "no_fix_planned"


@dataclass(frozen=True)
class Text:
    """A text in English and, where the team gave one, Japanese."""

    en: str
    ja: str = ""

    def get(self, language: str) -> str:
        """The text in ``language``, falling back to English."""
        return self.ja if language == "ja" and self.ja else self.en

    def __bool__(self) -> bool:
        return bool(self.en.strip())


@dataclass(frozen=True)
class Publisher:
    name: str  # e.g. "Example Corp PSIRT"
    namespace: str  # the publisher's web site, https://...
    contact: str = ""  # e.g. "security@example.com"
    category: str = "vendor"  # CSAF publisher category


@dataclass(frozen=True)
class Revision:
    number: str  # "1", "2", ... (CSAF integer versioning)
    date: datetime  # timezone-aware
    summary: str


@dataclass(frozen=True)
class ProductVersion:
    """One version of one product, as every format names it."""

    product_id: str  # stable within the advisory, e.g. "mamori-web-2.1"; CSAF product_id
    vendor: str
    product: str  # the product's display name
    version: str
    purl: str = ""  # a package URL *with* the version, for OSV and CSAF helpers
    product_slug: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.vendor} {self.product} {self.version}"


@dataclass(frozen=True)
class Score:
    """One CVSS score, as computed by ``core.rating`` (never recomputed by a format)."""

    version: str  # "3.1" or "4.0"
    vector: str
    base_score: float
    base_severity: str  # CVSS's own wording: NONE, LOW, MEDIUM, HIGH, CRITICAL
    product_ids: tuple[str, ...] = ()  # which products the score applies to; empty: all affected


@dataclass(frozen=True)
class Remediation:
    category: RemediationCategory
    details: Text
    product_ids: tuple[str, ...]
    url: str = ""
    restart_required: bool = False


@dataclass(frozen=True)
class Acknowledgment:
    name: str
    organization: str = ""


@dataclass(frozen=True)
class Reference:
    url: str
    summary: str
    category: str = "external"  # CSAF: external | self


@dataclass(frozen=True)
class Note:
    """A question and its answer (the FAQ), or any titled text."""

    title: Text
    text: Text


@dataclass(frozen=True)
class Vulnerability:
    title: Text
    description: Text
    cve: str = ""  # CVE-YYYY-NNNN..., or empty when none was assigned
    cwe_id: str = ""  # e.g. "CWE-79"
    cwe_name: str = ""
    severity: str = ""  # Mamori's rating: Critical, Important, Moderate, Low
    scores: tuple[Score, ...] = ()
    # Product ids by status; a product id appears under one status only.
    statuses: dict[Status, tuple[str, ...]] = field(default_factory=dict)
    # For known_not_affected products: the VEX justification (CSAF flag label).
    justifications: dict[str, str] = field(default_factory=dict)
    remediations: tuple[Remediation, ...] = ()
    exploited: bool = False
    publicly_disclosed: bool = False
    exploitability: str = ""  # "more likely", "detected", ...
    acknowledgments: tuple[Acknowledgment, ...] = ()
    references: tuple[Reference, ...] = ()
    discovery_date: datetime | None = None
    release_date: datetime | None = None

    def products(self, status: Status) -> tuple[str, ...]:
        return self.statuses.get(status, ())


@dataclass(frozen=True)
class Advisory:
    id: str  # the tracking id, e.g. "MSA-2026-0001"; the CSAF tracking id and file name
    kind: Kind
    title: Text
    summary: Text
    publisher: Publisher
    initial_release: datetime
    current_release: datetime
    revisions: tuple[Revision, ...]
    products: tuple[ProductVersion, ...]
    vulnerabilities: tuple[Vulnerability, ...]
    tlp: Tlp = Tlp.WHITE
    language: str = "en"  # the language of the CSAF document (its texts are English)
    faq: tuple[Note, ...] = ()
    mitigations: Text = Text("")  # the bulletin's mitigation and workaround section
    update_url: str = ""  # where to get the update (the update service / download centre)
    restart_required: bool = False
    supersedes: tuple[str, ...] = ()  # ids of advisories this one replaces
    references: tuple[Reference, ...] = ()
    release_name: str = ""  # the release train it shipped in, e.g. "2026-12"
    url: str = ""  # the bulletin page's public URL

    @property
    def version(self) -> str:
        return self.revisions[-1].number if self.revisions else ""

    @property
    def severity(self) -> str:
        """The highest severity among its vulnerabilities (Mamori's rating)."""
        ranked = [v.severity for v in self.vulnerabilities if v.severity in SEVERITY_ORDER]
        return min(ranked, key=SEVERITY_ORDER.index) if ranked else ""

    def product(self, product_id: str) -> ProductVersion:
        for product in self.products:
            if product.product_id == product_id:
                return product
        raise KeyError(product_id)

    def cves(self) -> tuple[str, ...]:
        return tuple(v.cve for v in self.vulnerabilities if v.cve)


#: Mamori's severities, highest first.
SEVERITY_ORDER = ("Critical", "Important", "Moderate", "Low")


def missing(advisory: Advisory, formats: Iterable[str]) -> list[str]:
    """Everything the given formats need that ``advisory`` lacks, as sentences, in order.

    Formats: ``csaf``, ``cve``, ``osv``, ``bulletin``. An empty list means every format can be
    generated.
    """
    wanted = set(formats)
    problems: list[str] = []
    a = advisory
    if not a.title:
        problems.append(f"{a.id}: a title")
    if not a.summary:
        problems.append(f"{a.id}: a summary")
    if not a.revisions:
        problems.append(f"{a.id}: at least one revision")
    if not a.products:
        problems.append(f"{a.id}: at least one product version")
    if not a.vulnerabilities:
        problems.append(f"{a.id}: at least one vulnerability")
    if a.kind is Kind.BULLETIN and not a.update_url and wanted & {"bulletin", "csaf"}:
        problems.append(f"{a.id}: where to get the update (update URL)")
    if a.kind is Kind.EARLY_MITIGATION and not a.mitigations:
        problems.append(f"{a.id}: the mitigations and workarounds (no fix is available yet)")
    for n, vuln in enumerate(a.vulnerabilities, 1):
        where = f"{a.id} vulnerability {n}"
        if not vuln.title:
            problems.append(f"{where}: a title")
        if not vuln.description:
            problems.append(f"{where}: a description")
        if not any(vuln.statuses.values()):
            problems.append(f"{where}: the affected product versions (affected matrix)")
        if a.kind is Kind.BULLETIN and not vuln.products(Status.FIXED):
            problems.append(f"{where}: a fixed product version")
        if not vuln.severity:
            problems.append(f"{where}: a severity rating")
        if "cve" in wanted and not vuln.cve:
            problems.append(f"{where}: a CVE id (required for a CVE record)")
        if "cve" in wanted and not vuln.references and not a.url:
            problems.append(f"{where}: a reference URL (required for a CVE record)")
        if "csaf" in wanted:
            for status in (Status.KNOWN_NOT_AFFECTED,):
                for pid in vuln.products(status):
                    if pid not in vuln.justifications:
                        problems.append(f"{where}: a VEX justification for {pid}")
    return problems


# -- Snapshots ------------------------------------------------------------------------------------
# A published revision keeps the advisory it was generated from, so its pages can be rendered
# again exactly as published even after the case changes.


def to_data(advisory: Advisory) -> dict[str, Any]:
    """``advisory`` as JSON-ready data (dates in ISO 8601)."""
    data = _plain(advisory)
    assert isinstance(data, dict)
    return data


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def from_data(data: Mapping[str, Any]) -> Advisory:
    """The advisory ``to_data`` wrote; raises ``InvalidInput`` for data of another shape."""
    try:
        return _build(Advisory, data)
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidInput(f"not an advisory snapshot: {error}") from None


def _build(cls: type[_T], data: Mapping[str, Any]) -> _T:
    hints = get_type_hints(cls)
    kwargs = {
        f.name: _value(hints[f.name], data[f.name])
        for f in fields(cls)  # type: ignore[arg-type]
        if f.name in data
    }
    return cls(**kwargs)


def _value(hint: Any, raw: Any) -> object:
    """``raw`` (JSON data) as a value of the annotated type ``hint``."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is UnionType or origin is Union:  # X | None
        if raw is None:
            return None
        return _value(next(a for a in args if a is not type(None)), raw)
    if origin is tuple:
        return tuple(_value(args[0], item) for item in raw)
    if origin is dict:
        return {_value(args[0], k): _value(args[1], v) for k, v in raw.items()}
    if hint is datetime:
        return datetime.fromisoformat(raw)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return hint(raw)
    if isinstance(hint, type) and is_dataclass(hint):
        if not isinstance(raw, Mapping):
            raise TypeError(f"{hint.__name__} must be an object")
        return _build(hint, raw)
    if hint in (str, bool, float, int) and not isinstance(raw, hint):
        raise TypeError(f"{raw!r} is not a {hint.__name__}")
    return raw
