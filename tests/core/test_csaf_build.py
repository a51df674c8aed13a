"""CSAF 2.0 documents built from advisories: valid under the schema and every §6.1 mandatory
test (``core.csaf_validate``), and carrying the advisory's values where CSAF expects them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from cvss import CVSS3

from mamori.core import csaf
from mamori.core.advisory import (
    Advisory,
    ProductVersion,
    Remediation,
    RemediationCategory,
    Status,
    Text,
    Tlp,
)
from mamori.core.csaf_validate import validate
from mamori.errors import InvalidInput
from tests.advisory_samples import (
    CVE_TRAVERSAL,
    CVE_XSS,
    CVE_ZERO_DAY,
    GATEWAY,
    SDK,
    sample_advisory,
    sample_early_mitigation,
    score,
)


def build(advisory: Advisory, *, vex: bool = False) -> dict[str, Any]:
    return csaf.build(advisory, vex=vex, generator_version="0.1.0")


def vulnerability(document: dict[str, Any], cve: str) -> dict[str, Any]:
    (found,) = [v for v in document["vulnerabilities"] if v.get("cve") == cve]
    return found


def product_ids_in_tree(node: dict[str, Any]) -> list[str]:
    ids = [node["product"]["product_id"]] if "product" in node else []
    for child in node.get("branches", []):
        ids += product_ids_in_tree(child)
    return ids


def with_third_party() -> Advisory:
    """Three products from two vendors; the third-party library shares the traversal."""
    library = ProductVersion("contoso-zip-4.2", "Contoso", "Contoso Zip", "4.2")
    advisory = sample_advisory()
    first = advisory.vulnerabilities[0]
    statuses = dict(first.statuses)
    statuses[Status.KNOWN_AFFECTED] = (*statuses[Status.KNOWN_AFFECTED], library.product_id)
    first = replace(first, statuses=statuses)
    return replace(
        advisory,
        products=(*advisory.products, library),
        vulnerabilities=(first, *advisory.vulnerabilities[1:]),
    )


VALID = {
    "bulletin": (sample_advisory, False),
    "bulletin as VEX": (sample_advisory, True),
    "early mitigation": (sample_early_mitigation, False),
    "early mitigation as VEX": (sample_early_mitigation, True),
    "in Japanese": (lambda: sample_advisory(language="ja"), False),
    "in Japanese as VEX": (lambda: sample_early_mitigation(language="ja"), True),
    "two vendors": (with_third_party, False),
    "TLP:GREEN": (lambda: sample_advisory(tlp=Tlp.GREEN), False),
}


@pytest.mark.parametrize(("make", "vex"), VALID.values(), ids=VALID.keys())
def test_documents_pass_the_schema_and_every_mandatory_test(make: Any, vex: bool) -> None:
    document = build(make(), vex=vex)
    assert validate(document) == []
    assert document["document"]["category"] == ("csaf_vex" if vex else "csaf_security_advisory")


def test_document_metadata_comes_from_the_advisory() -> None:
    advisory = sample_advisory()
    meta = build(advisory)["document"]
    assert meta["csaf_version"] == "2.0"
    assert meta["lang"] == "en"
    assert meta["title"] == advisory.title.en
    assert meta["publisher"] == {
        "category": "vendor",
        "contact_details": "security@example.com",
        "name": "Example Corp PSIRT",
        "namespace": "https://www.example.com",
    }
    assert meta["distribution"]["tlp"] == {"label": "WHITE", "url": "https://www.first.org/tlp/"}
    # the highest of Important and Moderate
    assert meta["aggregate_severity"] == {
        "namespace": "https://www.example.com",
        "text": "Important",
    }
    summary = [n for n in meta["notes"] if n["category"] == "summary"]
    assert [n["text"] for n in summary] == [advisory.summary.en]
    assert {"category": "self", "url": advisory.url} == {
        k: meta["references"][0][k] for k in ("category", "url")
    }


def test_tracking_uses_the_advisory_dates_in_utc_and_its_revisions() -> None:
    tracking = build(sample_advisory())["document"]["tracking"]
    assert tracking["id"] == "MSA-2026-0001"
    assert tracking["status"] == "final"
    assert tracking["version"] == "2"
    # 09:00 and 10:30 in Tokyo are 00:00 and 01:30 UTC
    assert tracking["initial_release_date"] == "2026-03-10T00:00:00Z"
    assert tracking["current_release_date"] == "2026-03-17T01:30:00Z"
    assert [(r["number"], r["date"]) for r in tracking["revision_history"]] == [
        ("1", "2026-03-10T00:00:00Z"),
        ("2", "2026-03-17T01:30:00Z"),
    ]
    assert tracking["generator"] == {"engine": {"name": "Mamori", "version": "0.1.0"}}


def test_building_twice_at_different_times_gives_the_same_bytes() -> None:
    with time_machine.travel(datetime(2026, 5, 1, tzinfo=UTC), tick=False):
        first = csaf.dumps(build(sample_advisory()))
    with time_machine.travel(datetime(2031, 12, 24, 23, 59, tzinfo=UTC), tick=False):
        second = csaf.dumps(build(sample_advisory()))
    assert first == second
    assert list(json.loads(first)) == ["document", "product_tree", "vulnerabilities"]
    assert first.endswith(b"\n")


def test_dumps_writes_utf_8_not_escapes() -> None:
    advisory = sample_advisory(language="ja")
    assert advisory.title.ja.encode() in csaf.dumps(build(advisory))


def test_product_tree_is_vendor_product_version_with_purl_helpers() -> None:
    tree = build(with_third_party())["product_tree"]
    vendors = {branch["name"]: branch for branch in tree["branches"]}
    assert list(vendors) == ["Example Corp", "Contoso"]
    products = {b["name"]: b for b in vendors["Example Corp"]["branches"]}
    assert list(products) == ["Example Gateway", "example-sdk"]
    assert all(b["category"] == "product_name" for b in products.values())
    sdk_versions = products["example-sdk"]["branches"]
    assert [b["name"] for b in sdk_versions] == ["1.9.3", "2.0.0", "2.0.1", "2.0.2"]
    assert {b["category"] for b in sdk_versions} == {"product_version"}
    helper = sdk_versions[1]["product"]["product_identification_helper"]
    assert helper == {"purl": "pkg:pypi/example-sdk@2.0.0"}
    gateway_product = products["Example Gateway"]["branches"][0]["product"]
    assert gateway_product["name"] == "Example Corp Example Gateway 3.0.4"
    assert "product_identification_helper" not in gateway_product
    ids = [pid for branch in tree["branches"] for pid in product_ids_in_tree(branch)]
    assert sorted(ids) == sorted(p.product_id for p in with_third_party().products)


def test_product_status_flags_and_threats_follow_the_affected_matrix() -> None:
    advisory = sample_advisory()
    item = vulnerability(build(advisory), CVE_TRAVERSAL)
    source = advisory.vulnerabilities[0]
    assert item["product_status"] == {
        status.value: list(ids) for status, ids in source.statuses.items()
    }
    assert item["flags"] == [
        {"label": "component_not_present", "product_ids": [GATEWAY["3.0.4"].product_id]}
    ]
    affected = list(source.products(Status.KNOWN_AFFECTED))
    assert {"category": "impact", "details": "Important", "product_ids": affected} in (
        item["threats"]
    )
    (status,) = [t for t in item["threats"] if t["category"] == "exploit_status"]
    assert status["details"].startswith("Exploited: No; Publicly disclosed: No")
    assert item["cwe"]["id"] == "CWE-22"
    assert item["title"] == source.title.en
    assert item["acknowledgments"] == [
        {"names": ["Hanako Yamada"], "organization": "Example Research Lab"}
    ]
    assert item["discovery_date"] == "2026-01-20T05:30:00Z"
    assert item["release_date"] == "2026-03-10T00:00:00Z"


def test_v3_scores_are_cvss_v3_objects_and_v4_becomes_a_note() -> None:
    advisory = sample_advisory()
    item = vulnerability(build(advisory), CVE_TRAVERSAL)
    (entry,) = item["scores"]
    cvss = entry["cvss_v3"]
    expected = CVSS3("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N")
    assert cvss["vectorString"] == expected.clean_vector()
    assert cvss["baseScore"] == float(expected.base_score)
    assert cvss["baseSeverity"] == expected.severities()[0].upper()
    assert cvss["version"] == "3.1"
    assert entry["products"] == list(advisory.vulnerabilities[0].products(Status.KNOWN_AFFECTED))
    (note,) = [n for n in item["notes"] if n["category"] == "other"]
    assert note["title"] == "CVSS v4.0"
    assert "CVSS:4.0/AV:N/AC:L/AT:N/PR:L" in note["text"]
    assert "7.1 (HIGH)" in note["text"]


def test_a_score_for_named_products_applies_to_those_only() -> None:
    advisory = sample_advisory()
    only = GATEWAY["3.1.1"].product_id
    first = replace(
        advisory.vulnerabilities[0],
        scores=(
            score("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", only),
            score("CVSS:3.1/AV:A/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", GATEWAY["3.1.0"].product_id),
            score("CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N", only),
        ),
    )
    advisory = replace(advisory, vulnerabilities=(first, advisory.vulnerabilities[1]))
    document = build(advisory)
    assert validate(document) == []
    item = vulnerability(document, CVE_TRAVERSAL)
    assert [s["products"] for s in item["scores"]] == [[only], [GATEWAY["3.1.0"].product_id]]
    (note,) = [n for n in item["notes"] if n["category"] == "other"]
    assert "Applies to: Example Corp Example Gateway 3.1.1" in note["text"]


def test_two_scores_for_the_same_product_are_reported_not_hidden() -> None:
    advisory = sample_advisory()
    first = replace(
        advisory.vulnerabilities[0],
        scores=(
            score("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"),
            score("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"),
        ),
    )
    document = build(replace(advisory, vulnerabilities=(first, advisory.vulnerabilities[1])))
    problems = validate(document)
    assert {p.test for p in problems} == {"6.1.7"}
    assert all(p.path.startswith("/vulnerabilities/0/scores") for p in problems)


def test_remediations_carry_urls_restarts_and_product_ids() -> None:
    advisory = sample_advisory()
    document = build(advisory)
    gateway_fix, workaround = vulnerability(document, CVE_TRAVERSAL)["remediations"]
    assert gateway_fix["category"] == "vendor_fix"
    assert gateway_fix["url"] == advisory.update_url  # the fix names no URL of its own
    assert gateway_fix["restart_required"] == {"category": "machine"}
    assert workaround["category"] == "workaround"
    assert "url" not in workaround and "restart_required" not in workaround
    (sdk_fix,) = vulnerability(document, CVE_XSS)["remediations"]
    assert sdk_fix["url"] == "https://pypi.org/project/example-sdk/2.0.2/"
    assert "restart_required" not in sdk_fix  # the advisory's restart is the gateway's
    assert sdk_fix["product_ids"] == [SDK["2.0.0"].product_id, SDK["2.0.1"].product_id]


def test_a_remediation_without_products_applies_to_the_affected_ones() -> None:
    advisory = sample_advisory()
    first = advisory.vulnerabilities[0]
    loose = Remediation(RemediationCategory.MITIGATION, Text("Turn the console off."), ())
    first = replace(first, remediations=(*first.remediations, loose))
    document = build(replace(advisory, vulnerabilities=(first, advisory.vulnerabilities[1])))
    assert validate(document) == []
    added = vulnerability(document, CVE_TRAVERSAL)["remediations"][-1]
    assert added["product_ids"] == list(first.products(Status.KNOWN_AFFECTED))


def test_faq_entries_naming_a_cve_go_to_that_vulnerability() -> None:
    document = build(sample_advisory())
    traversal_faq = [
        n["title"]
        for n in vulnerability(document, CVE_TRAVERSAL)["notes"]
        if n["category"] == "faq"
    ]
    assert traversal_faq == [f"Can {CVE_TRAVERSAL} be exploited without signing in?"]
    assert not [n for n in vulnerability(document, CVE_XSS)["notes"] if n["category"] == "faq"]
    document_faq = [n["title"] for n in document["document"]["notes"] if n["category"] == "faq"]
    assert document_faq == ["Does installing the update restart the gateway?"]


def test_early_mitigation_says_no_fix_is_available_and_offers_workarounds() -> None:
    advisory = sample_early_mitigation()
    document = build(advisory)
    notes = document["document"]["notes"]
    (no_fix,) = [n for n in notes if n["title"] == "No update is available yet"]
    assert "No security update" in no_fix["text"]
    assert advisory.mitigations.en in [n["text"] for n in notes]
    item = vulnerability(document, CVE_ZERO_DAY)
    assert {r["category"] for r in item["remediations"]} == {"workaround", "mitigation"}
    assert "fixed" not in item["product_status"]
    (status,) = [t for t in item["threats"] if t["category"] == "exploit_status"]
    assert status["details"] == "Exploited: Yes; Publicly disclosed: Yes; Exploitability: detected"


def test_a_japanese_document_uses_the_japanese_texts() -> None:
    advisory = sample_advisory(language="ja")
    document = build(advisory)
    assert document["document"]["lang"] == "ja"
    assert document["document"]["title"] == advisory.title.ja
    assert document["document"]["notes"][0] == {
        "category": "summary",
        "text": advisory.summary.ja,
        "title": "概要",
    }
    item = vulnerability(document, CVE_TRAVERSAL)
    assert item["title"] == advisory.vulnerabilities[0].title.ja
    assert (
        item["remediations"][0]["details"]
        == "Example Gateway をバージョン 3.1.2 に更新してください。"
    )


def test_a_text_without_japanese_falls_back_to_english() -> None:
    advisory = sample_advisory(language="ja", summary=Text("English only summary."))
    assert build(advisory)["document"]["notes"][0]["text"] == "English only summary."


def test_supersedes_is_stated_in_a_note() -> None:
    document = build(sample_advisory(supersedes=("MSA-2025-0101", "MSA-2025-0107")))
    texts = [n["text"] for n in document["document"]["notes"]]
    assert "This advisory supersedes MSA-2025-0101, MSA-2025-0107." in texts


def test_an_unknown_justification_is_refused_naming_the_product() -> None:
    advisory = sample_advisory()
    pid = GATEWAY["3.0.4"].product_id
    first = replace(advisory.vulnerabilities[0], justifications={pid: "not_our_problem"})
    with pytest.raises(InvalidInput) as caught:
        build(replace(advisory, vulnerabilities=(first, advisory.vulnerabilities[1])))
    assert f"justifications.{pid}" in caught.value.problems


def test_a_missing_justification_fails_the_vex_impact_statement_test() -> None:
    advisory = sample_advisory()
    first = replace(advisory.vulnerabilities[0], justifications={})
    document = build(
        replace(advisory, vulnerabilities=(first, advisory.vulnerabilities[1])), vex=True
    )
    assert "flags" not in document["vulnerabilities"][0]
    assert [p.test for p in validate(document)] == ["6.1.27.9"]


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        build(sample_advisory(initial_release=datetime(2026, 3, 10, 9, 0)))
    assert "initial_release" in caught.value.problems


@pytest.mark.parametrize(
    ("tracking_id", "name"),
    [
        ("cisco-sa-20190513-secureboot", "cisco-sa-20190513-secureboot.json"),
        ("Example Company - 2019-YH3234", "example_company_-_2019-yh3234.json"),
        ("RHBA-2019:0024", "rhba-2019_0024.json"),
        ("2022_#01-A", "2022_01-a.json"),
        ("MSA-2026-0001", "msa-2026-0001.json"),
        ("C++ advisory/β 1", "c++_advisory_1.json"),
    ],
)
def test_filename_follows_section_5_1(tracking_id: str, name: str) -> None:
    assert csaf.filename(tracking_id) == name
