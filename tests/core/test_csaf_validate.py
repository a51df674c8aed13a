"""CSAF 2.0 validation, proven against the OASIS TC conformance data and the TC's examples.

For every mandatory test, each document the TC lists as failing it must fail it (alone and within
``validate``), and each document listed as passing it must pass it. Hand-written documents then
pin down single findings, and a sweep of wrong types shows that no odd input crashes a test.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from mamori.core import csaf_rules
from mamori.core.csaf_validate import (
    MANDATORY_TESTS,
    Problem,
    mandatory_problems,
    provider_metadata_problems,
    schema_problems,
    validate,
)
from mamori.errors import InvalidInput

CSAF_SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "csaf-2.0"
TESTDATA = CSAF_SPEC / "testdata"
EXAMPLES = CSAF_SPEC / "examples"

MANDATORY = [
    case
    for case in json.loads((TESTDATA / "testcases.json").read_text("utf-8"))["tests"]
    if case["group"] == "mandatory"
]
FAILING = [(case["id"], doc["name"]) for case in MANDATORY for doc in case["failures"]]
PASSING = [(case["id"], doc["name"]) for case in MANDATORY for doc in case.get("valid", [])]
CSAF_EXAMPLES = sorted(p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("csaf/**/*.json"))


@functools.cache
def _read(path: Path) -> str:
    return path.read_text("utf-8")


def load(name: str, root: Path = TESTDATA) -> Any:
    """A fresh parse of a shared file (tests may change what they get)."""
    return json.loads(_read(root / name))


def resolve(document: Any, path: str) -> Any:
    """The value at a JSON pointer; raises ``LookupError`` when nothing is there."""
    value = document
    for part in path.split("/")[1:] if path else []:
        key = part.replace("~1", "/").replace("~0", "~")
        value = value[int(key)] if isinstance(value, list) else value[key]
    return value


def points_into(document: Any, path: str) -> bool:
    """A problem's path names a place in the document, or (for a missing element) its parent."""
    try:
        resolve(document, path)
    except (LookupError, ValueError):
        parent = path.rpartition("/")[0]
        try:
            resolve(document, parent)
        except (LookupError, ValueError):
            return False
    return True


# --- the OASIS conformance data -----------------------------------------------------------------


def test_every_mandatory_test_of_the_conformance_data_is_implemented_in_spec_order() -> None:
    assert tuple(case["id"] for case in MANDATORY) == MANDATORY_TESTS
    assert len(MANDATORY_TESTS) == 43  # 6.1.1 - 6.1.33, with 6.1.27.1 - 6.1.27.11 for 6.1.27


@pytest.mark.parametrize(("test_id", "name"), FAILING, ids=[f"{t}:{n[-12:]}" for t, n in FAILING])
def test_a_conformance_document_listed_as_failing_a_test_fails_it(test_id: str, name: str) -> None:
    document = load(name)
    alone = mandatory_problems(document, tests={test_id})
    assert alone, f"{name} must fail {test_id}"
    assert {problem.test for problem in alone} == {test_id}
    assert all(points_into(document, problem.path) for problem in alone), alone
    assert all(problem.message.strip() for problem in alone)
    assert [p for p in validate(document) if p.test == test_id] == alone


@pytest.mark.parametrize(("test_id", "name"), PASSING, ids=[f"{t}:{n[-12:]}" for t, n in PASSING])
def test_a_conformance_document_listed_as_passing_a_test_passes_it(test_id: str, name: str) -> None:
    document = load(name)
    assert mandatory_problems(document, tests={test_id}) == []
    assert [problem for problem in validate(document) if problem.test == test_id] == []


@pytest.mark.parametrize("name", sorted({name for _, name in PASSING}))
def test_the_conformance_documents_listed_as_passing_are_valid_through_and_through(
    name: str,
) -> None:
    assert validate(load(name)) == []


def test_a_schema_failure_of_the_conformance_data_names_its_place() -> None:
    document = load("mandatory/oasis_csaf_tc-csaf_2_0-2021-6-1-08-01.json")
    problems = validate(document)
    cvss = "/vulnerabilities/0/scores/0/cvss_v3"
    assert [(p.test, p.path) for p in problems] == [("schema", cvss), ("6.1.8", cvss)]
    assert all("'baseSeverity' is a required property" in p.message for p in problems)


# --- the TC's real-world examples ---------------------------------------------------------------


@pytest.mark.parametrize("name", CSAF_EXAMPLES)
def test_the_tcs_csaf_examples_are_valid(name: str) -> None:
    assert validate(load(name, EXAMPLES)) == []


def test_the_examples_were_found() -> None:
    assert len(CSAF_EXAMPLES) == 19  # 6 security advisories and 13 VEX documents


def test_the_tcs_provider_metadata_example_is_valid() -> None:
    path = "provider-metadata/example-01-provider-metadata.json"
    assert provider_metadata_problems(load(path, EXAMPLES)) == []


def test_broken_provider_metadata_is_reported_by_pointer() -> None:
    metadata = load("provider-metadata/example-01-provider-metadata.json", EXAMPLES)
    del metadata["canonical_url"]
    metadata["role"] = "csaf_unknown"
    metadata["public_openpgp_keys"][0]["url"] = "not a url"
    problems = provider_metadata_problems(metadata)
    assert [(p.test, p.path) for p in problems] == [
        ("schema", ""),
        ("schema", "/public_openpgp_keys/0/url"),
        ("schema", "/role"),
    ]
    assert "'canonical_url' is a required property" in problems[0].message
    assert "'csaf_unknown' is not one of" in problems[2].message


# --- hand-written documents ---------------------------------------------------------------------

XSS = "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')"
CVSS3 = "/vulnerabilities/0/scores/0/cvss_v3"
DELETE = object()


def advisory() -> dict[str, Any]:
    """A small security advisory that passes the schema and every mandatory test."""
    return {
        "document": {
            "category": "csaf_security_advisory",
            "csaf_version": "2.0",
            "lang": "en-US",
            "publisher": {
                "category": "vendor",
                "name": "Mamori PSIRT",
                "namespace": "https://psirt.mamori.example",
            },
            "references": [{"summary": "Advisory", "url": "https://mamori.example/sa/2024-1"}],
            "title": "Cross-site scripting in the Mamori console",
            "tracking": {
                "current_release_date": "2024-03-02T09:00:00.000Z",
                "id": "MAMORI-SA-2024-0001",
                "initial_release_date": "2024-03-01T10:00:00.000Z",
                "revision_history": [
                    {"date": "2024-03-01T10:00:00.000Z", "number": "1", "summary": "Initial."},
                    {"date": "2024-03-02T09:00:00.000Z", "number": "2", "summary": "CVSS v2."},
                ],
                "status": "final",
                "version": "2",
            },
        },
        "product_tree": {
            "full_product_names": [
                {
                    "name": "Mamori console 1.0",
                    "product_id": "CSAFPID-0001",
                    "product_identification_helper": {"purl": "pkg:pypi/mamori@1.0"},
                }
            ],
        },
        "vulnerabilities": [
            {
                "cve": "CVE-2024-0001",
                "cwe": {"id": "CWE-79", "name": XSS},
                "notes": [{"category": "description", "text": "Script in a product name runs."}],
                "product_status": {"known_affected": ["CSAFPID-0001"]},
                "remediations": [
                    {
                        "category": "vendor_fix",
                        "details": "Update to 1.1.",
                        "product_ids": ["CSAFPID-0001"],
                    }
                ],
                "scores": [
                    {
                        "products": ["CSAFPID-0001"],
                        "cvss_v3": {
                            "version": "3.1",
                            "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
                            "baseScore": 6.1,
                            "baseSeverity": "MEDIUM",
                            "attackVector": "NETWORK",
                        },
                        "cvss_v2": {
                            "version": "2.0",
                            "vectorString": "AV:N/AC:M/Au:N/C:N/I:P/A:N",
                            "baseScore": 4.3,
                            "temporalScore": 4.3,
                        },
                    }
                ],
            }
        ],
    }


def changed(path: str, value: Any, document: dict[str, Any] | None = None) -> dict[str, Any]:
    """``document`` (the advisory by default) with the value at ``path`` replaced or deleted."""
    document = advisory() if document is None else document
    *parents, last = path.split("/")[1:]
    target = resolve(document, "/" + "/".join(parents)) if parents else document
    key: Any = int(last) if isinstance(target, list) else last
    if value is DELETE:
        del target[key]
    else:
        target[key] = value
    return document


def test_the_hand_written_advisory_is_valid() -> None:
    assert validate(advisory()) == []


@pytest.mark.parametrize(
    ("path", "value", "test_id", "where", "words"),
    [
        (f"{CVSS3}/baseScore", 7.5, "6.1.9", f"{CVSS3}/baseScore", "gives 6.1"),
        (f"{CVSS3}/baseSeverity", "HIGH", "6.1.9", f"{CVSS3}/baseSeverity", "gives MEDIUM"),
        (
            "/vulnerabilities/0/scores/0/cvss_v2/temporalScore",
            5.0,
            "6.1.9",
            "/vulnerabilities/0/scores/0/cvss_v2/temporalScore",
            "gives 4.3",
        ),
        (f"{CVSS3}/attackVector", "LOCAL", "6.1.10", f"{CVSS3}/attackVector", "says NETWORK"),
        (
            "/product_tree/full_product_names/0/product_identification_helper/purl",
            "pkg:pypi/@1.0",
            "6.1.13",
            "/product_tree/full_product_names/0/product_identification_helper/purl",
            "name component",
        ),
        (
            "/vulnerabilities/0/cwe/name",
            "Improper Input Validation",
            "6.1.11",
            "/vulnerabilities/0/cwe/name",
            XSS,
        ),
        ("/vulnerabilities/0/cwe/id", "CWE-99999", "6.1.11", "/vulnerabilities/0/cwe/id", "not in"),
        ("/document/lang", "EZ", "6.1.12", "/document/lang", '"EZ"'),
        ("/document/source_lang", "en-us", "6.1.28", "/document/source_lang", "en-us into en-US"),
        ("/document/category", "Csaf_VeX", "6.1.26", "/document/category", "VEX profile"),
        (
            "/vulnerabilities/0/product_status/fixed",
            ["CSAFPID-0001"],
            "6.1.6",
            "/vulnerabilities/0/product_status/known_affected/0",
            "both fixed and affected",
        ),
        (
            "/vulnerabilities/0/remediations/0/product_ids",
            DELETE,
            "6.1.29",
            "/vulnerabilities/0/remediations/0",
            "which products",
        ),
        (
            "/vulnerabilities/0/remediations/0/product_ids/0",
            "CSAFPID-0002",
            "6.1.1",
            "/vulnerabilities/0/remediations/0/product_ids/0",
            '"CSAFPID-0002" is referenced',
        ),
        ("/document/tracking/version", "1", "6.1.16", "/document/tracking/version", "latest"),
        ("/vulnerabilities/0/notes", DELETE, "6.1.27.5", "/vulnerabilities/0/notes", "notes"),
    ],
    ids=lambda value: value if isinstance(value, str) and value.startswith("6.") else "",
)
def test_one_mistake_gives_exactly_its_problem(
    path: str, value: Any, test_id: str, where: str, words: str
) -> None:
    problems = validate(changed(path, value))
    assert [(p.test, p.path) for p in problems] == [(test_id, where)]
    assert words in problems[0].message


def test_a_score_is_compared_as_a_number() -> None:
    assert validate(changed(f"{CVSS3}/baseScore", 6.10)) == []
    document = changed("/vulnerabilities/0/scores/0/cvss_v2/baseScore", 4)
    assert [p.message for p in validate(document)] == [
        "baseScore is 4, but AV:N/AC:M/Au:N/C:N/I:P/A:N gives 4.3."
    ]


def test_a_vector_that_is_not_cvss_cannot_be_scored() -> None:
    vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L"  # the schema's pattern lets A: be missing
    problems = validate(changed(f"{CVSS3}/vectorString", vector))
    assert [(p.test, p.path) for p in problems] == [("6.1.9", f"{CVSS3}/vectorString")]


def test_an_undefined_modified_metric_may_be_stated_as_its_base_value() -> None:
    document = changed(
        f"{CVSS3}/vectorString", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N/MAV:X"
    )
    assert validate(changed(f"{CVSS3}/modifiedAttackVector", "NETWORK", document)) == []
    problems = validate(changed(f"{CVSS3}/modifiedAttackVector", "LOCAL", document))
    assert [(p.test, p.path) for p in problems] == [("6.1.10", f"{CVSS3}/modifiedAttackVector")]
    assert "NETWORK or NOT_DEFINED" in problems[0].message


@pytest.mark.parametrize(
    "tag", ["en", "de-CH-1996", "zh-Hant-TW", "iw", "i-default", "x-mamori", "zh-yue", "sgn-ase"]
)
def test_a_registered_language_tag_is_valid_even_if_deprecated(tag: str) -> None:
    assert mandatory_problems(changed("/document/lang", tag), tests={"6.1.12"}) == []


@pytest.mark.parametrize("tag", ["EZ", "jp", "en-QQQ", "zh-xyz", "de-1996-1996", "en-a-bb-a-cc"])
def test_an_unregistered_or_repeated_subtag_is_not_a_valid_language(tag: str) -> None:
    problems = mandatory_problems(changed("/document/source_lang", tag), tests={"6.1.12"})
    assert [(p.test, p.path) for p in problems] == [("6.1.12", "/document/source_lang")]


def test_a_cwe_catalogue_of_a_known_release_is_shipped() -> None:
    catalogue = csaf_rules.cwe_catalogue()
    assert catalogue.version == "4.14"
    assert catalogue.entries["CWE-79"].name == XSS
    assert catalogue.entries["CWE-1000"].kind == "view"
    assert len(catalogue.entries) > 1400


def test_an_indirect_circle_of_relationships_is_found() -> None:
    document = advisory()
    document["product_tree"]["relationships"] = [
        {
            "category": "installed_on",
            "full_product_name": {"name": "A on B", "product_id": "CSAFPID-A"},
            "product_reference": "CSAFPID-0001",
            "relates_to_product_reference": "CSAFPID-B",
        },
        {
            "category": "installed_on",
            "full_product_name": {"name": "B on A", "product_id": "CSAFPID-B"},
            "product_reference": "CSAFPID-0001",
            "relates_to_product_reference": "CSAFPID-A",
        },
    ]
    problems = mandatory_problems(document, tests={"6.1.3"})
    assert [p.path for p in problems] == [
        "/product_tree/relationships/0/full_product_name/product_id",
        "/product_tree/relationships/1/full_product_name/product_id",
    ]


def test_two_vex_justifications_reach_a_product_through_a_group() -> None:
    document = advisory()
    document["product_tree"]["product_groups"] = [
        {"group_id": "CSAFGID-1", "product_ids": ["CSAFPID-0001"]}
    ]
    document["vulnerabilities"][0]["flags"] = [
        {"label": "component_not_present", "group_ids": ["CSAFGID-1"]},
        {"label": "vulnerable_code_not_present", "product_ids": ["CSAFPID-0001"]},
    ]
    problems = mandatory_problems(document, tests={"6.1.33"})
    assert [(p.test, p.path) for p in problems] == [("6.1.33", "/vulnerabilities/0/flags/1")]


def test_a_version_range_hides_at_any_depth_of_the_branches() -> None:
    document = advisory()
    document["product_tree"]["branches"] = [
        {
            "category": "vendor",
            "name": "Mamori",
            "branches": [
                {
                    "category": "product_name",
                    "name": "Console",
                    "branches": [
                        {
                            "category": "product_version",
                            "name": "1.0 and later",
                            "product": {"name": "Console 1.0+", "product_id": "CSAFPID-0002"},
                        }
                    ],
                }
            ],
        }
    ]
    problems = mandatory_problems(document, tests={"6.1.31"})
    assert [p.path for p in problems] == ["/product_tree/branches/0/branches/0/branches/0/name"]


def test_dates_order_the_revision_history_to_the_fraction_of_a_second() -> None:
    history = [
        {"date": "2024-03-01T10:00:00.0001Z", "number": "1", "summary": "Initial."},
        {"date": "2024-03-01T11:00:00+01:00", "number": "2", "summary": "Same instant as 10:00Z."},
    ]
    problems = validate(changed("/document/tracking/revision_history", history))
    assert [(p.test, p.path) for p in problems] == [
        ("6.1.14", "/document/tracking/revision_history/0/number"),
        ("6.1.16", "/document/tracking/version"),  # the latest revision is 1, a 0.1 ms later
    ]


def test_a_schema_problem_does_not_stop_the_mandatory_tests() -> None:
    document = changed(f"{CVSS3}/baseScore", 9.9)
    del document["document"]["title"]
    document["document"]["tracking"]["current_release_date"] = "yesterday"
    document["document"]["references"][0]["url"] = "not a url"
    problems = validate(document)
    assert [(p.test, p.path) for p in problems] == [
        ("schema", "/document"),
        ("schema", "/document/references/0/url"),
        ("schema", "/document/tracking/current_release_date"),
        ("6.1.9", f"{CVSS3}/baseScore"),
    ]
    assert "'title' is a required property" in problems[0].message
    assert "'date-time'" in problems[2].message


def test_a_document_that_is_not_an_object_is_one_schema_problem() -> None:
    assert validate([]) == [Problem("schema", "", schema_problems([])[0].message)]  # type: ignore[arg-type]
    assert mandatory_problems("csaf") == []  # type: ignore[arg-type]


def test_only_the_tests_asked_for_run() -> None:
    document = changed("/document/lang", "EZ", changed(f"{CVSS3}/baseScore", 1.0))
    assert {p.test for p in mandatory_problems(document)} == {"6.1.9", "6.1.12"}
    assert {p.test for p in mandatory_problems(document, tests={"6.1.12"})} == {"6.1.12"}
    assert mandatory_problems(document, tests=()) == []


def test_an_unknown_test_id_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"6\.1\.34"):
        mandatory_problems(advisory(), tests={"6.1.1", "6.1.34"})


def test_json_pointers_escape_slash_and_tilde() -> None:
    assert csaf_rules.pointer("a/b", "c~d", 0) == "/a~1b/c~0d/0"


# --- odd input ----------------------------------------------------------------------------------

SWEPT = [f"mandatory/oasis_csaf_tc-csaf_2_0-2021-6-1-{n}.json" for n in ("01-02", "03-01", "07-12")]
SWEPT += [f"mandatory/oasis_csaf_tc-csaf_2_0-2021-6-1-{n}.json" for n in ("10-01", "16-12")]
SWEPT += [f"mandatory/oasis_csaf_tc-csaf_2_0-2021-6-1-{n}.json" for n in ("25-01", "24-01")]
SWEPT += [f"mandatory/oasis_csaf_tc-csaf_2_0-2021-6-1-{n}.json" for n in ("27-09-06", "31-01")]
ODD_VALUES = (None, "x", 7, True, [], {}, [None], [["x"]], {"x": [{}]})
ODD_STRINGS = ("", "0001-01-01T00:00:00+01:00", "CVSS:3.1/", "AV:N/", "1.0.0-", "9" * 40, "pkg:")


def places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        found += [p for key, item in value.items() for p in places(item, (*path, key))]
    elif isinstance(value, list):
        found += [p for index, item in enumerate(value) for p in places(item, (*path, index))]
    return found


def resolve_at(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """``value`` with the item at ``path`` replaced, copying only the containers on the way."""
    if not path:
        return new
    copy: Any = list(value) if isinstance(value, list) else dict(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


@pytest.mark.parametrize("name", SWEPT)
def test_no_value_of_the_wrong_type_anywhere_crashes_a_mandatory_test(name: str) -> None:
    document = load(name)
    swept = 0
    for path in places(document)[1:]:
        odd_values = ODD_VALUES + (
            ODD_STRINGS if isinstance(resolve_at(document, path), str) else ()
        )
        for odd in odd_values:
            problems = mandatory_problems(replaced(document, path, odd))
            assert all(isinstance(problem, Problem) for problem in problems)
            swept += 1
    assert swept > 100
