"""The advisories API: public texts (any subset, unknown fields refused), advisories and their
revisions, early mitigation advisories and publishing the public site — each for the right role."""

from __future__ import annotations

import dataclasses

import pytest

from mamori.advisories.models import Advisory, PublicText, Revision, SiteBuild
from mamori.cases import services as cases
from mamori.core.authz import Role
from mamori.products import services as catalogue
from tests import factories
from tests.advisories.test_views import engineer, issued, world

__all__ = ["engineer", "world"]  # the fixtures, shared with the page tests

CWE_79 = "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')"


def put(client, path: str, body: dict[str, object]):
    return client.put(path, body, content_type="application/json")


def post(client, path: str, body: dict[str, object] | None = None):
    return client.post(path, body or {}, content_type="application/json")


@pytest.mark.django_db
def test_an_analyst_writes_the_texts_a_few_fields_at_a_time(analyst, world, api_for) -> None:
    api = api_for(analyst)
    path = f"/api/cases/{world.case}/advisory-text"
    first = api.get(path)
    assert first.status_code == 200
    body = first.json()
    assert body["title_en"] == "" and body["faq"] == [] and body["fixed_versions"] == {}
    assert f"{world.case}: a title" in body["missing"]
    assert body["needs_early_advisory"] is False

    response = put(
        api,
        path,
        {
            "title_en": "Stored XSS",
            "summary_en": "Script runs in another user's browser.",
            "faq": [{"question_en": "Am I affected?", "answer_en": "If comments are on."}],
            "fixed_versions": {"portal 2.x": "2.1", "portal 1.x": "1.9.3"},
            "cwe_id": "CWE-79",
            "cwe_name": CWE_79,
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title_en"] == "Stored XSS" and body["updated_by"] == analyst.username
    assert body["faq"][0]["question_ja"] == ""
    assert f"{world.case}: a title" not in body["missing"]
    assert f"{world.case}: vulnerability 1: a description" in body["missing"]

    second = put(api, path, {"description_en": "The comment field is not escaped."}).json()
    assert second["title_en"] == "Stored XSS"  # left out: not changed
    assert second["fixed_versions"] == {"portal 2.x": "2.1", "portal 1.x": "1.9.3"}
    assert second["missing"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "not a field"}, "title"),
        ({"title_en": "x", "severity": "critical"}, "severity"),
        ({"cwe_id": "XSS"}, "cwe_id"),
        ({"faq": [{"question_en": "Q", "answer_en": "A", "note": "x"}]}, "faq.0.note"),
        ({"faq": [{"question_en": "Q"}]}, "faq.0.answer_en"),
        ({"faq": [{"question_en": "", "answer_en": ""}]}, "faq"),
        ({"fixed_versions": {"portal 2.x": 2}}, "fixed_versions.portal 2.x"),
        ({"restart_required": "maybe"}, "restart_required"),
        ({"credit_organization": "x" * 201}, "credit_organization"),
    ],
)
def test_bad_text_input_is_refused_with_the_field(analyst, world, api_for, body, field) -> None:
    api = api_for(analyst)
    path = f"/api/cases/{world.case}/advisory-text"
    put(api, path, {"title_en": "Before"})
    response = put(api, path, body)
    assert response.status_code == 422
    assert field in [d["field"] for d in response.json()["detail"]]
    assert PublicText.objects.get(case__tracking_id=world.case).title_en == "Before"


@pytest.mark.django_db
def test_who_may_read_and_write_the_texts(admin, engineer, world, api_for) -> None:
    path = f"/api/cases/{world.case}/advisory-text"
    eng = api_for(engineer)
    assert eng.get(path).status_code == 200
    assert put(eng, path, {"title_en": "forged"}).status_code == 403
    manager = api_for(factories.user(Role.RELEASE_MANAGER))
    assert put(manager, path, {"title_en": "By the release manager"}).status_code == 200

    reporter = api_for(factories.user(Role.REPORTER))
    stranger = factories.user(Role.PRODUCT_ENGINEER)
    catalogue.set_membership(admin, world.other, stranger.username, member=True)
    for client in (reporter, api_for(stranger)):
        assert client.get(path).status_code == 404
        assert client.get(f"/api/cases/{world.case}/advisories").status_code == 404
        # The role is refused before any case is looked up: the same answer for every case.
        assert put(client, path, {"title_en": "forged"}).status_code == 403
        assert post(client, f"/api/cases/{world.case}/early-advisory").status_code == 403
    assert PublicText.objects.get(case__tracking_id=world.case).title_en == (
        "By the release manager"
    )


@pytest.mark.django_db
def test_the_advisories_of_a_case_with_their_revisions(analyst, world, api_for) -> None:
    api = api_for(analyst)
    assert api.get(f"/api/cases/{world.case}/advisories").json() == []
    issued(world.case, revisions=2)
    found = api.get(f"/api/cases/{world.case}/advisories").json()
    assert [a["advisory_id"] for a in found] == ["MSA-2026-0042"]
    advisory = found[0]
    assert advisory["kind"] == "early_mitigation" and advisory["tracking_id"] == world.case
    assert advisory["url"].endswith("/security/bulletins/MSA-2026-0042.html")
    assert [(r["number"], r["summary"]) for r in advisory["revisions"]] == [
        (1, "Initial release"),
        (2, "Change 2"),
    ]
    assert advisory["revisions"][1]["url"].endswith("/security/bulletins/MSA-2026-0042/v2.html")


@pytest.mark.django_db
def test_early_advisories_are_refused_until_the_case_is_public_and_written(
    admin, analyst, engineer, world, api_for
) -> None:
    path = f"/api/cases/{world.case}/early-advisory"
    api = api_for(analyst)
    refused = post(api, path)
    assert refused.status_code == 409
    assert "not publicly disclosed" in refused.json()["message"]
    cases.set_flag(admin, world.case, "P")
    assert api.get(f"/api/cases/{world.case}/advisory-text").json()["needs_early_advisory"]
    refused = post(api, path)
    assert refused.status_code == 409
    assert refused.json()["error"] == "gate_refused"
    assert (
        f"{world.case}: the mitigations and workarounds (no fix is available yet)"
        in refused.json()["missing"]
    )
    assert post(api_for(engineer), path).status_code == 403
    assert not Advisory.objects.exists()


@pytest.mark.django_db
def test_re_issuing_is_refused_with_the_problem(analyst, engineer, world, api_for) -> None:
    issued(world.case)
    api = api_for(analyst)
    path = "/api/advisories/MSA-2026-0042/revisions"
    blank = post(api, path, {"summary": " "})
    assert blank.status_code == 422 and blank.json()["detail"][0]["field"] == "summary"
    extra = post(api, path, {"summary": "x", "number": 7})
    assert extra.status_code == 422 and "number" in extra.content.decode()
    unwritten = post(api, path, {"summary": "New workaround"})  # no texts: the gate refuses
    assert unwritten.status_code == 409 and unwritten.json()["error"] == "gate_refused"
    assert post(api, "/api/advisories/MSA-1999-0001/revisions", {"summary": "x"}).status_code == 404
    assert post(api_for(engineer), path, {"summary": "forged"}).status_code == 403
    assert Revision.objects.count() == 1


@pytest.mark.django_db
def test_publishing_the_site_is_for_release_managers(
    analyst, engineer, world, api_for, settings, signing_key, tmp_path
) -> None:
    for user in (analyst, engineer, factories.user(Role.REPORTER)):
        assert post(api_for(user), "/api/site/publish").status_code == 403
    assert not SiteBuild.objects.exists()

    settings.MAMORI_PUBLISHING = dataclasses.replace(
        settings.MAMORI_PUBLISHING,
        signing_key=signing_key.fingerprint,
        public_dir=tmp_path,
        site_url="https://www.example.com",
        publisher_namespace="https://www.example.com",
    )
    settings.MAMORI_INTAKE = dataclasses.replace(
        settings.MAMORI_INTAKE, gnupg_home=signing_key.home, gpg_passphrase=""
    )
    manager = api_for(factories.user(Role.RELEASE_MANAGER))
    first = post(manager, "/api/site/publish")
    assert first.status_code == 200, first.content
    body = first.json()
    assert len(body["digest"]) == 64 and body["files"] > 0
    again = post(manager, "/api/site/publish").json()
    assert again["digest"] == body["digest"] and again["changed"] is False
    assert SiteBuild.objects.count() == 2
