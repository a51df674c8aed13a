"""CVE JSON 5.1 records built from advisories, validated against the schemas shipped in cvelib."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from cvss import CVSS3, CVSS4

from mamori.core import cve
from mamori.core.advisory import Advisory, Status, Vulnerability
from mamori.errors import InvalidInput
from tests.advisory_samples import (
    CVE_TRAVERSAL,
    CVE_XSS,
    GATEWAY,
    JST,
    sample_advisory,
    sample_early_mitigation,
    score,
)

ORG_ID = "b3476cb9-2e3d-41a6-98d0-0f47421a65b6"
SHORT_NAME = "examplecorp"


def container(advisory: Advisory, vulnerability: Vulnerability) -> dict[str, Any]:
    return cve.cna_container(advisory, vulnerability, org_id=ORG_ID, short_name=SHORT_NAME)


def record(advisory: Advisory, vulnerability: Vulnerability, **kwargs: Any) -> dict[str, Any]:
    return cve.record(advisory, vulnerability, org_id=ORG_ID, short_name=SHORT_NAME, **kwargs)


def by_cve(advisory: Advisory, cve_id: str) -> Vulnerability:
    (found,) = [v for v in advisory.vulnerabilities if v.cve == cve_id]
    return found


SAMPLES = {
    "bulletin traversal": (sample_advisory, CVE_TRAVERSAL),
    "bulletin xss": (sample_advisory, CVE_XSS),
    "early mitigation": (sample_early_mitigation, "CVE-2026-10003"),
}


@pytest.mark.parametrize(("make", "cve_id"), SAMPLES.values(), ids=SAMPLES.keys())
def test_records_and_containers_are_valid_cve_json_5_1(make: Any, cve_id: str) -> None:
    advisory = make()
    vulnerability = by_cve(advisory, cve_id)
    full = record(advisory, vulnerability)
    assert cve.validate_record(full) == []
    assert cve.validate_container(full["containers"]["cna"]) == []
    assert full["containers"]["cna"] == container(advisory, vulnerability)


def test_record_metadata() -> None:
    advisory = sample_advisory()
    full = record(advisory, by_cve(advisory, CVE_TRAVERSAL))
    assert full["dataType"] == "CVE_RECORD"
    assert full["dataVersion"] == "5.1"
    assert full["cveMetadata"] == {
        "assignerOrgId": ORG_ID,
        "assignerShortName": SHORT_NAME,
        "cveId": CVE_TRAVERSAL,
        "datePublished": "2026-03-10T00:00:00Z",
        "dateUpdated": "2026-03-17T01:30:00Z",
        "state": "PUBLISHED",
    }


def test_container_texts_in_english_and_japanese() -> None:
    advisory = sample_advisory()
    vulnerability = by_cve(advisory, CVE_TRAVERSAL)
    cna = container(advisory, vulnerability)
    assert cna["providerMetadata"] == {"orgId": ORG_ID, "shortName": SHORT_NAME}
    assert cna["title"] == vulnerability.title.en
    assert cna["descriptions"] == [
        {"lang": "en", "value": vulnerability.description.en},
        {"lang": "ja", "value": vulnerability.description.ja},
    ]
    assert cna["datePublic"] == "2026-03-10T00:00:00Z"
    assert {"lang": "ja", "value": "Example Gateway をバージョン 3.1.2 に更新してください。"} in (
        cna["solutions"]
    )
    assert [w["lang"] for w in cna["workarounds"]] == ["en", "ja"]


def test_affected_lists_every_assessed_version_with_its_status() -> None:
    advisory = sample_advisory()
    (gateway,) = container(advisory, by_cve(advisory, CVE_TRAVERSAL))["affected"]
    assert (gateway["vendor"], gateway["product"]) == ("Example Corp", "Example Gateway")
    assert gateway["defaultStatus"] == "unknown"
    assert "packageName" not in gateway
    assert gateway["versions"] == [
        {"status": "unaffected", "version": "3.0.4"},  # known not affected
        {"status": "affected", "version": "3.1.0"},
        {"status": "affected", "version": "3.1.1"},
        {"status": "unaffected", "version": "3.1.2"},  # fixed
    ]
    (sdk,) = container(advisory, by_cve(advisory, CVE_XSS))["affected"]
    assert sdk["collectionURL"] == "https://pypi.python.org"
    assert sdk["packageName"] == "example-sdk"


def test_a_version_under_investigation_is_unknown() -> None:
    advisory = sample_early_mitigation()
    (gateway,) = container(advisory, advisory.vulnerabilities[0])["affected"]
    statuses = {v["version"]: v["status"] for v in gateway["versions"]}
    assert statuses == {"3.0.4": "unaffected", "3.1.0": "unknown", "3.1.1": "affected"} | {
        "3.1.2": "affected"
    }


def test_problem_types_name_the_cwe() -> None:
    advisory = sample_advisory()
    (problem,) = container(advisory, by_cve(advisory, CVE_XSS))["problemTypes"]
    (description,) = problem["descriptions"]
    assert description["cweId"] == "CWE-79"
    assert description["type"] == "CWE"
    assert description["description"].startswith("CWE-79 Improper Neutralization of Input")


def test_problem_types_are_left_out_without_a_cwe() -> None:
    advisory = sample_advisory()
    vulnerability = replace(by_cve(advisory, CVE_XSS), cwe_id="", cwe_name="")
    cna = container(advisory, vulnerability)
    assert "problemTypes" not in cna
    assert cve.validate_container(cna) == []


def test_metrics_carry_v3_1_and_v4_0_scores_as_computed_by_cvss() -> None:
    advisory = sample_advisory()
    v3, v4 = container(advisory, by_cve(advisory, CVE_XSS))["metrics"]
    expected3 = CVSS3("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N")
    assert v3["cvssV3_1"] == {
        "baseScore": float(expected3.base_score),
        "baseSeverity": expected3.severities()[0].upper(),
        "vectorString": expected3.clean_vector(),
        "version": "3.1",
    }
    expected4 = CVSS4("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N")
    assert v4["cvssV4_0"]["baseScore"] == float(expected4.base_score)
    assert v4["cvssV4_0"]["baseSeverity"] == str(expected4.severity).upper()
    assert v3["scenarios"] == v4["scenarios"] == [{"lang": "en", "value": "GENERAL"}]


def test_a_v3_0_score_and_a_product_specific_score() -> None:
    advisory = sample_advisory()
    only = GATEWAY["3.1.1"].product_id
    vulnerability = replace(
        by_cve(advisory, CVE_TRAVERSAL),
        scores=(score("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", only),),
    )
    cna = container(advisory, vulnerability)
    assert cve.validate_container(cna) == []
    (metric,) = cna["metrics"]
    assert metric["cvssV3_0"]["version"] == "3.0"
    assert metric["scenarios"] == [
        {"lang": "en", "value": "Applies to: Example Corp Example Gateway 3.1.1"}
    ]


def test_references_start_with_the_bulletin_then_the_fixes_each_url_once() -> None:
    advisory = sample_advisory()
    traversal = container(advisory, by_cve(advisory, CVE_TRAVERSAL))["references"]
    assert traversal[0] == {
        "name": "MSA-2026-0001: Security update for Example Gateway and example-sdk",
        "tags": ["vendor-advisory"],
        "url": advisory.url,
    }
    assert traversal[1] == {"tags": ["patch"], "url": advisory.update_url}
    assert traversal[2]["url"] == "https://www.example.com/kb/KB-2026-0042"
    xss = container(advisory, by_cve(advisory, CVE_XSS))["references"]
    assert [r["url"] for r in xss] == [
        advisory.url,
        "https://pypi.org/project/example-sdk/2.0.2/",  # the SDK's fix, not the gateway download
    ]
    duplicated = replace(advisory, update_url=advisory.url)
    urls = [
        r["url"] for r in container(duplicated, by_cve(duplicated, CVE_TRAVERSAL))["references"]
    ]
    assert len(urls) == len(set(urls))


def test_credits_come_from_the_acknowledgments() -> None:
    advisory = sample_advisory()
    cna = container(advisory, by_cve(advisory, CVE_TRAVERSAL))
    assert cna["credits"] == [{"lang": "en", "value": "Hanako Yamada (Example Research Lab)"}]


def test_date_public_is_the_vulnerability_release_when_known() -> None:
    advisory = sample_advisory()
    released = datetime(2026, 2, 27, 18, 0, tzinfo=JST)
    vulnerability = replace(by_cve(advisory, CVE_TRAVERSAL), release_date=released)
    assert container(advisory, vulnerability)["datePublic"] == "2026-02-27T09:00:00Z"


def test_a_rejected_record() -> None:
    advisory = sample_advisory()
    full = record(advisory, by_cve(advisory, CVE_XSS), state="REJECTED")
    assert cve.validate_record(full) == []
    assert full["cveMetadata"]["state"] == "REJECTED"
    assert full["containers"]["cna"]["rejectedReasons"] == [
        {"lang": "en", "value": cve.REJECTED_REASON}
    ]


def test_an_unknown_state_is_refused() -> None:
    advisory = sample_advisory()
    with pytest.raises(InvalidInput) as caught:
        record(advisory, by_cve(advisory, CVE_XSS), state="RESERVED")
    assert "state" in caught.value.problems


def test_a_vulnerability_without_a_cve_id_has_no_cve_record() -> None:
    advisory = sample_advisory()
    anonymous = replace(by_cve(advisory, CVE_XSS), cve="")
    with pytest.raises(InvalidInput) as caught:
        record(advisory, anonymous)
    assert "cve" in caught.value.problems
    assert "no CVE id" in caught.value.message
    with pytest.raises(InvalidInput):
        container(advisory, anonymous)


def test_a_status_naming_an_unknown_product_is_refused() -> None:
    advisory = sample_advisory()
    vulnerability = replace(
        by_cve(advisory, CVE_XSS), statuses={Status.KNOWN_AFFECTED: ("example-sdk-9.9.9",)}
    )
    with pytest.raises(InvalidInput, match=re.escape("example-sdk-9.9.9")):
        container(advisory, vulnerability)


def test_a_broken_record_is_reported_by_path() -> None:
    advisory = sample_advisory()
    good = record(advisory, by_cve(advisory, CVE_TRAVERSAL))

    missing = copy.deepcopy(good)
    del missing["containers"]["cna"]["descriptions"]
    assert cve.validate_record(missing) == [
        "$.containers.cna: 'descriptions' is a required property"
    ]

    wrong_status = copy.deepcopy(good)
    wrong_status["containers"]["cna"]["affected"][0]["versions"][1]["status"] = "vulnerable"
    problems = cve.validate_record(wrong_status)
    assert problems
    assert all(p.startswith("$.containers.cna.affected[0].versions[1]") for p in problems)

    bad_id = copy.deepcopy(good)
    bad_id["cveMetadata"]["cveId"] = "CVE-26-1"
    assert [p.split(":")[0] for p in cve.validate_record(bad_id)] == ["$.cveMetadata.cveId"]


def test_a_broken_container_is_reported_by_path() -> None:
    advisory = sample_advisory()
    cna = container(advisory, by_cve(advisory, CVE_XSS))
    cna["providerMetadata"]["orgId"] = "not-a-uuid"
    cna["metrics"][0]["cvssV3_1"]["baseSeverity"] = "SEVERE"
    paths = {p.split(": ")[0] for p in cve.validate_container(cna)}
    assert "$.providerMetadata.orgId" in paths
    assert any(path.startswith("$.metrics[0]") for path in paths)
