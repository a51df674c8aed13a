"""The assessment API: an analyst rates, an engineer answers the matrix, an auditor reads."""

from __future__ import annotations

import pytest

from mamori.core.authz import Role
from tests import factories
from tests.assessment.conftest import KEV_FILE

V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:A"


def patch(client, path: str, body: dict[str, object]):
    return client.patch(path, body, content_type="application/json")


def put(client, path: str, body: dict[str, object]):
    return client.put(path, body, content_type="application/json")


@pytest.mark.django_db
def test_an_analyst_assesses_a_case_through_the_api(admin, world, api_for) -> None:
    api = api_for(factories.user(Role.ANALYST))
    tid = world["case"]
    response = patch(
        api,
        f"/api/cases/{tid}/assessment",
        {
            "cvss_v4": V40,
            "impact": {"impact": "code_execution", "user_action_required": True},
            "cves": ["cve-2024-0001", "CVE-2024-0001"],
            "exploitability": "more_likely",
            "ssvc": {
                "automatable": "yes",
                "value_density": "diffuse",
                "technical_impact": "total",
                "safety_impact": "marginal",
            },
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cvss_v4"]["nomenclature"] == "CVSS-BT"
    assert body["cvss_v4"]["base_score"] == 9.3
    assert body["cves"] == ["CVE-2024-0001"]
    assert (body["derived_severity"], body["severity"]) == ("important", "important")
    # none, efficient, total, significant → out-of-cycle: an out-of-band release
    assert (body["ssvc"]["outcome"], body["ssvc"]["out_of_band"]) == ("out_of_cycle", True)
    assert ("Utility", "Efficient") in [tuple(p) for p in body["ssvc"]["decision_points"]]
    assert body["priority_label"] == "P2"
    assert body["priority_reasons"][0].startswith("SSVC supplier decision Out-of-Cycle")

    fact = put(
        api,
        f"/api/cases/{tid}/facts/disclosed",
        {"on": "2026-11-01", "source": "https://lists.example.org/oss-security/1"},
    )
    assert fact.status_code == 200
    case = api.get(f"/api/cases/{tid}").json()
    assert case["flags"]["P"].startswith("2026-11-01")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cvss_v3": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:Q"}, "cvss_v3"),
        ({"impact": {"impact": "rce"}}, "impact"),
        ({"ssvc": {"safety_impact": "apocalyptic"}}, "safety_impact"),
        ({"cves": ["CVE-XXXX-1"]}, "cves"),
        ({"severity": "critical"}, "severity"),  # not a field here: refused, not ignored
    ],
)
def test_bad_assessment_input_is_refused_with_the_field(admin, world, api_for, body, field):
    api = api_for(admin)
    before = api.get(f"/api/cases/{world['case']}/assessment").json()
    response = patch(api, f"/api/cases/{world['case']}/assessment", body)
    assert response.status_code == 422
    assert field in response.content.decode()
    assert api.get(f"/api/cases/{world['case']}/assessment").json() == before


@pytest.mark.django_db
def test_engineers_answer_their_matrix_and_auditors_read(admin, world, engineer, api_for) -> None:
    tid = world["case"]
    eng = api_for(engineer)
    response = put(
        eng,
        f"/api/cases/{tid}/matrix/portal/1.x",
        {"status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["updated_by"] == engineer.username
    matrix = eng.get(f"/api/cases/{tid}/matrix").json()
    assert matrix["open_investigations"] == ["Portal 2.x"]
    assert {r["version"]: r["status"] for r in matrix["rows"]} == {
        "2.x": "under_investigation",
        "1.x": "not_affected",
        "0.9": "under_investigation",
    }
    refused = put(eng, f"/api/cases/{tid}/assessment", {"cvss_v3": ""})
    assert refused.status_code == 405
    assert (
        patch(eng, f"/api/cases/{tid}/assessment", {"exploitability": "unlikely"}).status_code
        == 403
    )

    auditor = api_for(factories.user(Role.AUDITOR))
    assert auditor.get(f"/api/cases/{tid}/assessment").status_code == 200
    assert auditor.get(f"/api/cases/{tid}/matrix").status_code == 200
    assert (
        put(auditor, f"/api/cases/{tid}/matrix/portal/2.x", {"status": "affected"}).status_code
        == 403
    )
    made = auditor.post(
        f"/api/cases/{tid}/variants", {"product": "portal"}, content_type="application/json"
    )
    assert made.status_code == 403

    check = eng.post(
        f"/api/cases/{tid}/variants",
        {"product": "portal", "version": "2.x", "why": "same template helper"},
        content_type="application/json",
    )
    assert check.status_code == 201
    done = put(eng, f"/api/cases/{tid}/variants/{check.json()['id']}", {"result": "affected"})
    assert (done.json()["result"], done.json()["checked_by"]) == ("affected", engineer.username)
    assert len(auditor.get(f"/api/cases/{tid}/variants").json()) == 1


@pytest.mark.django_db
def test_reporters_and_strangers_find_nothing(admin, world, api_for) -> None:
    reporter = api_for(factories.user(Role.REPORTER))
    stranger = api_for(factories.user(Role.PRODUCT_ENGINEER))
    for client in (reporter, stranger):
        for path in ("assessment", "matrix", "variants"):
            assert client.get(f"/api/cases/{world['case']}/{path}").status_code == 404


@pytest.mark.django_db
def test_a_kev_catalog_is_imported_through_the_api(admin, api_for) -> None:
    api = api_for(admin)
    response = api.post(
        "/api/threat-intel/kev", KEV_FILE.read_bytes(), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["entries"] > 1000
    bad = api.post("/api/threat-intel/kev", b'{"title": 1}', content_type="application/json")
    assert bad.status_code == 422
    listed = api.get("/api/threat-intel/imports").json()
    assert [r["outcome"].split(":")[0].split(" ")[0] for r in listed] == ["refused", "imported"]
    auditor = api_for(factories.user(Role.AUDITOR))
    assert (
        auditor.post(
            "/api/threat-intel/kev", KEV_FILE.read_bytes(), content_type="application/json"
        ).status_code
        == 403
    )
