"""CISA KEV catalog: the real snapshot parses, and anything else is refused with its JSON paths."""

from __future__ import annotations

import json
from datetime import UTC, date
from pathlib import Path
from typing import Any

import pytest

from mamori.core import kev
from mamori.core.kev import MAX_KEV_BYTES, KevEntry, parse_kev
from mamori.errors import InvalidInput, PayloadTooLarge

SHARED_KEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "kev"
SNAPSHOT = SHARED_KEV / "known_exploited_vulnerabilities.json"
PACKAGE_KEV = Path(kev.__file__).resolve().parents[1] / "data" / "kev"


@pytest.fixture(scope="module")
def snapshot() -> bytes:
    if not SNAPSHOT.exists():
        pytest.skip(f"no KEV snapshot at {SNAPSHOT}")
    return SNAPSHOT.read_bytes()


def entry(cve_id: str = "CVE-2021-44228", **changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "cveID": cve_id,
        "vendorProject": "Apache",
        "product": "Log4j2",
        "vulnerabilityName": "Apache Log4j2 Remote Code Execution Vulnerability",
        "dateAdded": "2021-12-10",
        "shortDescription": "JNDI features do not protect against attacker-controlled LDAP.",
        "requiredAction": "Apply updates per vendor instructions.",
        "dueDate": "2021-12-24",
        "knownRansomwareCampaignUse": "Known",
        "notes": "https://logging.apache.org/log4j/2.x/security.html",
        "cwes": ["CWE-20", "CWE-400", "CWE-502"],
    }
    raw.update(changes)
    return raw


def catalog(*entries: dict[str, Any], **changes: Any) -> dict[str, Any]:
    listed = list(entries) if entries else [entry()]
    document: dict[str, Any] = {
        "title": "CISA Catalog of Known Exploited Vulnerabilities",
        "catalogVersion": "2025.08.25",
        "dateReleased": "2025-08-25T17:04:19.9796Z",
        "count": len(listed),
        "vulnerabilities": listed,
    }
    document.update(changes)
    return document


def encode(document: object) -> bytes:
    return json.dumps(document).encode()


def refusal(data: bytes) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_kev(data)
    return caught.value


# The real snapshot ------------------------------------------------------------------------


def test_the_real_snapshot_parses_completely(snapshot: bytes) -> None:
    raw = json.loads(snapshot)
    parsed = parse_kev(snapshot)

    assert len(parsed.entries) == raw["count"] == len(raw["vulnerabilities"])
    assert parsed.title == raw["title"]
    assert parsed.version == raw["catalogVersion"]
    assert parsed.released.tzinfo is not None
    assert parsed.released.utcoffset() == UTC.utcoffset(None)
    assert [e.cve_id for e in parsed.entries] == [v["cveID"] for v in raw["vulnerabilities"]]
    assert not any("count" in warning for warning in parsed.warnings)


def test_due_dates_before_added_dates_are_kept_and_flagged(snapshot: bytes) -> None:
    # Found independently of the parser: ISO dates compare correctly as strings.
    expected = {
        v["cveID"]
        for v in json.loads(snapshot)["vulnerabilities"]
        if v["dueDate"] and v["dueDate"] < v["dateAdded"]
    }
    assert expected, "the snapshot is known to contain such entries"

    parsed = parse_kev(snapshot)
    kept = {e.cve_id: e for e in parsed.entries}

    assert {cve for cve, e in kept.items() if e.due_before_added} == expected
    assert expected <= kept.keys()
    flagged = {w.split(":", 1)[0] for w in parsed.warnings if "precedes date added" in w}
    assert flagged == expected
    assert all(w.endswith("kept and flagged") for w in parsed.warnings if "precedes" in w)


def test_one_entry_is_read_field_by_field() -> None:
    parsed = parse_kev(encode(catalog()))

    assert parsed.entries == (
        KevEntry(
            cve_id="CVE-2021-44228",
            vendor_project="Apache",
            product="Log4j2",
            name="Apache Log4j2 Remote Code Execution Vulnerability",
            date_added=date(2021, 12, 10),
            short_description="JNDI features do not protect against attacker-controlled LDAP.",
            required_action="Apply updates per vendor instructions.",
            due_date=date(2021, 12, 24),
            known_ransomware_use="Known",
            notes="https://logging.apache.org/log4j/2.x/security.html",
            cwes=("CWE-20", "CWE-400", "CWE-502"),
        ),
    )
    assert parsed.warnings == ()
    assert parsed.released.tzinfo is UTC


def test_optional_fields_may_be_absent_and_an_empty_due_date_is_none() -> None:
    raw = entry(dueDate="")
    for key in ("knownRansomwareCampaignUse", "notes", "cwes"):
        del raw[key]

    (parsed,) = parse_kev(encode(catalog(raw))).entries

    assert (parsed.due_date, parsed.known_ransomware_use, parsed.notes, parsed.cwes) == (
        None,
        "",
        "",
        (),
    )
    assert not parsed.due_before_added


def test_a_count_that_disagrees_is_a_warning() -> None:
    parsed = parse_kev(encode(catalog(count=5)))

    assert len(parsed.entries) == 1
    assert parsed.warnings == ("the catalog says count 5 but lists 1 entries",)


def test_a_due_date_before_the_added_date_warns_with_both_dates() -> None:
    parsed = parse_kev(encode(catalog(entry(dateAdded="2021-11-03", dueDate="2021-04-16"))))

    assert parsed.warnings == (
        "CVE-2021-44228: due date 2021-04-16 precedes date added 2021-11-03; kept and flagged",
    )


def test_the_shipped_schema_and_licence_are_cisas_unchanged() -> None:
    schema = json.loads((PACKAGE_KEV / kev.SCHEMA_FILE).read_text("utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert (PACKAGE_KEV / "README.md").exists()
    if SHARED_KEV.exists():
        for name in (kev.SCHEMA_FILE, "LICENSE"):
            assert (PACKAGE_KEV / name).read_bytes() == (SHARED_KEV / name).read_bytes()


# Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"   \n\t"], ids=["empty", "blank"])
def test_an_empty_document_is_refused(data: bytes) -> None:
    assert "empty" in refusal(data).message


def test_a_catalog_listing_nothing_is_refused() -> None:
    error = refusal(encode(catalog(vulnerabilities=[], count=0)))

    assert error.problems["$.vulnerabilities"] == "the catalog lists no vulnerabilities"


@pytest.mark.parametrize(
    "data", [b"not json", b'{"title": "x",', b"<html></html>"], ids=["text", "cut", "html"]
)
def test_not_json_is_refused(data: bytes) -> None:
    assert "not JSON" in refusal(data).message


def test_not_utf8_is_refused() -> None:
    data = json.dumps(catalog()).encode("utf-16")

    assert "not UTF-8" in refusal(data).message


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_kev(b" " * (MAX_KEV_BYTES + 1))


@pytest.mark.parametrize(
    ("document", "path", "words"),
    [
        ([], "$", "not of type 'object'"),
        (catalog(vulnerabilities={"cveID": "CVE-2021-44228"}), "$.vulnerabilities", "array"),
        (catalog(vulnerabilities="none"), "$.vulnerabilities", "array"),
        (catalog(count="1"), "$.count", "integer"),
        ({"title": "only a title"}, "$", "'catalogVersion' is a required property"),
        (catalog(dateReleased="yesterday"), "$.dateReleased", "date-time"),
        (catalog(dateReleased="2025-08-25T17:04:19"), "$.dateReleased", "with a zone"),
        (catalog(title=["KEV"]), "$.title", "not a string"),
    ],
    ids=["array", "dict-list", "string-list", "count", "missing", "released", "naive", "title"],
)
def test_a_document_of_the_wrong_shape_is_refused(document: object, path: str, words: str) -> None:
    error = refusal(encode(document))

    assert words in error.problems[path]


def test_an_entry_missing_its_cve_id_is_refused_with_its_path() -> None:
    raw = entry()
    del raw["cveID"]

    error = refusal(encode(catalog(entry("CVE-2024-3400"), raw)))

    assert error.problems["$.vulnerabilities[1]"] == "'cveID' is a required property"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dateAdded", "2021-02-30"),
        ("dateAdded", "20211210"),
        ("dateAdded", "10/12/2021"),
        ("dueDate", "2021-13-01"),
        ("dueDate", "soon"),
    ],
)
def test_a_date_that_does_not_parse_is_refused(field: str, value: str) -> None:
    error = refusal(encode(catalog(entry(**{field: value}))))

    assert "not a YYYY-MM-DD date" in error.problems[f"$.vulnerabilities[0].{field}"]


@pytest.mark.parametrize("cve_id", ["CVE-21-44228", "cve-2021-44228", "CVE-2021-442", "Log4Shell"])
def test_a_bad_cve_id_is_refused(cve_id: str) -> None:
    error = refusal(encode(catalog(entry(cve_id))))

    assert repr(cve_id) in error.problems["$.vulnerabilities[0].cveID"]


def test_a_cve_id_with_non_ascii_digits_is_refused() -> None:
    error = refusal(encode(catalog(entry("CVE-２０２１-44228"))))

    assert "$.vulnerabilities[0].cveID" in error.problems


def test_a_duplicate_cve_id_is_refused() -> None:
    document = catalog(entry(), entry("CVE-2024-3400"), entry())

    error = refusal(encode(document))

    assert error.problems["$.vulnerabilities[2].cveID"] == (
        "CVE-2021-44228 is listed twice (first at $.vulnerabilities[0])"
    )


def test_all_problems_are_reported_together_up_to_a_limit() -> None:
    bad = [entry(f"CVE-2021-{n:05d}", dateAdded="never") for n in range(30)]
    document = catalog(*bad, dateReleased="2025-08-25")

    error = refusal(encode(document))

    assert error.problems["kev"] == "not a valid KEV catalog: 31 problem(s)"
    assert "$.dateReleased" in error.problems
    assert error.problems["..."] == "and 11 more"
    assert len([k for k in error.problems if k.startswith("$.")]) == kev.MAX_PROBLEMS
