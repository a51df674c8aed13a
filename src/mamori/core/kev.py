"""CISA's Known Exploited Vulnerabilities (KEV) catalog as ``KevCatalog`` values.

Pure: bytes in, values out. Downloading the catalog and storing it are someone else's job; the
only file read here is the JSON schema shipped in ``mamori/data/kev`` (CC0, from CISA).

A catalog is checked in two passes, and every problem from both is reported at once, each with
its JSON path, so one refusal tells the operator everything that is wrong:

1. against CISA's own schema (draft-07), which fixes the shape and the field types;
2. for what the schema leaves open: CVE ids of the form ``CVE-YYYY-NNNN...``, dates that exist
   on the calendar (the schema's ``format`` keywords are only annotations unless a format
   checker is wired in), an aware release timestamp, and no CVE listed twice.

Real catalogs contain entries whose due date precedes the date they were added (entries added on
2021-11-03 kept the deadlines of the directives that first named them). Those are facts of the
source, not corruption, so they are kept and flagged in ``KevCatalog.warnings`` rather than
refused; the same goes for a ``count`` that disagrees with the number of entries listed.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator

from mamori.errors import InvalidInput, PayloadTooLarge

#: The catalog is about 1.5 MB today; 64 MiB leaves decades of room and still bounds memory.
MAX_KEV_BYTES = 64 * 1024 * 1024

#: How many problems a refusal lists; the rest are counted, not named.
MAX_PROBLEMS = 20

SCHEMA_FILE = "known_exploited_vulnerabilities_schema.json"

_CVE_ID = re.compile(r"CVE-[0-9]{4}-[0-9]{4,}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MESSAGE_LIMIT = 200


@dataclass(frozen=True)
class KevEntry:
    """One vulnerability CISA knows to be exploited, with the deadline federal agencies get.

    ``due_date`` is ``None`` only when the catalog gives an empty due date. ``known_ransomware_use``
    is CISA's word as written ("Known" or "Unknown"), and ``notes`` and ``cwes`` are empty when the
    catalog leaves them out: older catalogs predate those fields.
    """

    cve_id: str
    vendor_project: str
    product: str
    name: str
    date_added: date
    short_description: str
    required_action: str
    due_date: date | None
    known_ransomware_use: str
    notes: str
    cwes: tuple[str, ...]

    @property
    def due_before_added(self) -> bool:
        """True when the deadline passed before CISA listed the CVE, which the catalog allows."""
        return self.due_date is not None and self.due_date < self.date_added


@dataclass(frozen=True)
class KevCatalog:
    """A whole catalog snapshot; ``warnings`` are oddities of the source that were accepted."""

    title: str
    version: str
    released: datetime
    entries: tuple[KevEntry, ...]
    warnings: tuple[str, ...]


@functools.cache
def kev_schema() -> dict[str, Any]:
    """CISA's schema, read once from the package data so validation needs no network."""
    text = resources.files("mamori").joinpath("data", "kev", SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> Draft7Validator:
    """The schema says draft-07; its ``$defs`` reference resolves as a plain JSON pointer."""
    schema = kev_schema()
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def parse_kev(data: bytes) -> KevCatalog:
    """Parse and check one KEV catalog (the ``known_exploited_vulnerabilities.json`` bytes).

    Refuses, with ``InvalidInput`` naming up to ``MAX_PROBLEMS`` problems by JSON path, anything
    that is not a complete, well-formed catalog; ``PayloadTooLarge`` above ``MAX_KEV_BYTES``.
    An empty catalog is refused too: a catalog that lists nothing is a broken download, and
    taking it at its word would read as "nothing is known to be exploited".
    """
    if len(data) > MAX_KEV_BYTES:
        raise PayloadTooLarge(f"at most {MAX_KEV_BYTES} bytes", field="kev")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"not UTF-8 text (byte {exc.start})", field="kev") from None
    if not text.strip():
        raise InvalidInput("empty document, not a KEV catalog", field="kev")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", field="kev"
        ) from None

    problems = _schema_problems(document)
    flagged = {path for path, _ in problems}
    problems += [(p, m) for p, m in _semantic_problems(document) if p not in flagged]
    if not problems and not document["vulnerabilities"]:
        problems.append(("$.vulnerabilities", "the catalog lists no vulnerabilities"))
    if problems:
        raise _refusal(problems)
    return _catalog(document)


def _schema_problems(document: Any) -> list[tuple[str, str]]:
    """What CISA's schema says is wrong, as (JSON path, message) in document order."""
    return [
        (error.json_path, _short(error.message)) for error in _validator().iter_errors(document)
    ]


def _semantic_problems(document: Any) -> list[tuple[str, str]]:
    """What the schema cannot say. Looks only at values of the right type, so a document the
    schema already refused still gets its remaining problems named."""
    if not isinstance(document, dict):
        return []
    problems: list[tuple[str, str]] = []
    if not isinstance(document.get("title", ""), str):
        problems.append(("$.title", "the title is not a string"))
    released = document.get("dateReleased")
    if isinstance(released, str) and _timestamp(released) is None:
        problems.append(("$.dateReleased", f"{_short(released)!r} is not a date-time with a zone"))
    entries = document.get("vulnerabilities")
    if not isinstance(entries, list):
        return problems
    first_seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        path = f"$.vulnerabilities[{index}]"
        cve_id = entry.get("cveID")
        if isinstance(cve_id, str):
            if not _CVE_ID.fullmatch(cve_id):
                problems.append((f"{path}.cveID", f"{_short(cve_id)!r} is not a CVE id"))
            elif cve_id in first_seen:
                problems.append(
                    (
                        f"{path}.cveID",
                        f"{cve_id} is listed twice (first at $.vulnerabilities"
                        f"[{first_seen[cve_id]}])",
                    )
                )
            else:
                first_seen[cve_id] = index
        for key, may_be_empty in (("dateAdded", False), ("dueDate", True)):
            value = entry.get(key)
            if not isinstance(value, str) or (may_be_empty and value == ""):
                continue
            if _day(value) is None:
                problems.append((f"{path}.{key}", f"{_short(value)!r} is not a YYYY-MM-DD date"))
    return problems


def _refusal(problems: list[tuple[str, str]]) -> InvalidInput:
    """One error naming the first problems by path; several problems at a path are joined."""
    named: dict[str, str] = {
        "kev": f"not a valid KEV catalog: {len(problems)} problem(s)",
    }
    for path, message in problems[:MAX_PROBLEMS]:
        named[path] = f"{named[path]}; {message}" if path in named else message
    if len(problems) > MAX_PROBLEMS:
        named["..."] = f"and {len(problems) - MAX_PROBLEMS} more"
    return InvalidInput(named)


def _catalog(document: dict[str, Any]) -> KevCatalog:
    """Build the values from a document both passes accepted."""
    entries = tuple(_entry(raw) for raw in document["vulnerabilities"])
    warnings = [
        f"{entry.cve_id}: due date {entry.due_date} precedes date added {entry.date_added};"
        " kept and flagged"
        for entry in entries
        if entry.due_before_added
    ]
    if document["count"] != len(entries):
        warnings.append(
            f"the catalog says count {document['count']} but lists {len(entries)} entries"
        )
    released = _timestamp(document["dateReleased"])
    assert released is not None  # checked by _semantic_problems
    return KevCatalog(
        title=document.get("title", ""),
        version=document["catalogVersion"],
        released=released,
        entries=entries,
        warnings=tuple(warnings),
    )


def _entry(raw: dict[str, Any]) -> KevEntry:
    added = _day(raw["dateAdded"])
    assert added is not None  # checked by _semantic_problems
    return KevEntry(
        cve_id=raw["cveID"],
        vendor_project=raw["vendorProject"],
        product=raw["product"],
        name=raw["vulnerabilityName"],
        date_added=added,
        short_description=raw["shortDescription"],
        required_action=raw["requiredAction"],
        due_date=_day(raw["dueDate"]) if raw["dueDate"] else None,
        known_ransomware_use=raw.get("knownRansomwareCampaignUse", ""),
        notes=raw.get("notes", ""),
        cwes=tuple(raw.get("cwes", ())),
    )


def _day(text: str) -> date | None:
    """A calendar date written YYYY-MM-DD, or None; ``fromisoformat`` alone also takes
    ``20250825`` and week dates, which the catalog never means."""
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _timestamp(text: str) -> datetime | None:
    """The release time in UTC; None when it is not ISO 8601 or does not say its zone, since a
    naive time cannot be placed on the timeline."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.utcoffset() is None:
        return None
    return moment.astimezone(UTC)


def _short(text: str) -> str:
    """Messages quote values from the document; keep a huge value from flooding the error."""
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "..."
