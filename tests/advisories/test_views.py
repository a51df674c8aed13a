"""The advisory page of a case, driven as a browser would (plain forms, CSRF tokens, no
JavaScript): the public texts, what is still missing, early mitigation advisories, revisions."""

from __future__ import annotations

import dataclasses
import html
from types import SimpleNamespace

import pytest
from django.test import Client
from django.utils import timezone

from mamori.accounts.models import User
from mamori.advisories import services
from mamori.advisories.models import Advisory, PublicText, Revision, SiteBuild
from mamori.cases import services as cases
from mamori.cases.models import Case
from mamori.core.authz import Role
from mamori.products import services as catalogue
from mamori.releases.services import release_of
from tests import factories
from tests.releases.test_views import developed

TEXT = {
    "title_en": "Stored cross-site scripting in the portal",
    "title_ja": "ポータルの格納型クロスサイトスクリプティング",
    "summary_en": "An attacker can run script in another user's browser.",
    "summary_ja": "攻撃者は他の利用者のブラウザでスクリプトを実行できます。",
    "description_en": "The comment field is not escaped.",
    "description_ja": "",
    "mitigations_en": "Disable comments.",
    "mitigations_ja": "コメントを無効にしてください。",
    "cwe_id": "CWE-79",
    "cwe_name": (
        "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')"
    ),
    "restart_required": "on",
    "credit": "on",
    "credit_name": "Hanako Yamada",
    "credit_organization": "Example Research",
    "faq_0_question_en": "Am I affected?",
    "faq_0_answer_en": "Only if comments are enabled.",
    "faq_0_question_ja": "影響を受けますか?",
    "faq_0_answer_ja": "コメントが有効な場合のみです。",
    "faq_1_question_en": "",
    "faq_1_answer_en": "",
    "fixed_0_key": "portal 2.x",
    "fixed_0": "2.1",
    "fixed_1_key": "portal 1.x",
    "fixed_1": "1.9.3",
}


def post(client: Client, path: str, data: dict[str, object], **extra: object):
    """POST a form as the browser would after loading a page: with the CSRF cookie's token."""
    if "csrftoken" not in client.cookies:
        client.get("/cases/")
    token = client.cookies["csrftoken"].value
    return client.post(path, {**data, "csrfmiddlewaretoken": token}, **extra)


def text(response) -> str:
    return html.unescape(response.content.decode())


def stored(tracking_id: str) -> dict[str, object]:
    found = PublicText.objects.filter(case__tracking_id=tracking_id).values().first()
    return {k: v for k, v in (found or {}).items() if k not in ("updated_at", "updated_by_id")}


@pytest.fixture
def engineer(db: None) -> User:
    return factories.user(Role.PRODUCT_ENGINEER, "engineer-web")


@pytest.fixture
def world(admin: User, engineer: User) -> SimpleNamespace:
    """The portal (2.x and 1.x) of the web team, whose case is in development with both versions
    affected; billing of another team."""
    web = factories.team(admin, "web-team", members=(engineer,))
    other = factories.team(admin, "billing-team")
    factories.product(admin, "portal", teams=(web,))
    factories.product(admin, "billing", teams=(other,))
    for name in ("2.x", "1.x"):
        catalogue.add_version(admin, "portal", catalogue.VersionDraft(name))
    catalogue.add_version(admin, "billing", catalogue.VersionDraft("3.0"))
    tid = developed(admin, "portal", web, "Stored XSS in the portal")
    return SimpleNamespace(case=tid, web=web, other=other)


def release_name(tracking_id: str) -> str:
    found = release_of(Case.objects.get(tracking_id=tracking_id))
    assert found is not None
    return found.name


def issued(tracking_id: str, advisory_id: str = "MSA-2026-0042", revisions: int = 1) -> Advisory:
    """An advisory as issuing leaves it (its documents are not what these pages show)."""
    case = Case.objects.get(tracking_id=tracking_id)
    advisory = Advisory.objects.create(
        advisory_id=advisory_id, case=case, kind=Advisory.Kind.EARLY_MITIGATION
    )
    for number in range(1, revisions + 1):
        Revision.objects.create(
            advisory=advisory,
            number=number,
            published_at=timezone.now(),
            summary="Initial release" if number == 1 else f"Change {number}",
            snapshot={},
            csaf={},
        )
    return advisory


# The page --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_analyst_writes_the_public_texts_and_sees_what_is_missing(
    analyst, world, client_for
) -> None:
    tid = world.case
    client = client_for(analyst)
    page = client.get(f"/cases/{tid}/advisory/")
    assert page.status_code == 200
    body = text(page)
    assert "<script" not in body
    assert f'action="/cases/{tid}/advisory/text"' in body
    assert "What is still missing to publish" in body
    assert f"{tid}: a title" in body and f"{tid}: the fixed version of Portal 2.x" in body
    assert "Portal 2.x" in body and "Portal 1.x" in body  # "fixed in", per affected version
    assert body.count('name="faq_') == 5 * 4  # five blank question rows
    assert f'href="/releases/{release_name(tid)}/"' in body

    page = post(client, f"/cases/{tid}/advisory/text", TEXT, follow=True)
    assert page.redirect_chain[-1][0] == f"/cases/{tid}/advisory/"
    body = text(page)
    assert "Public texts saved." in body
    assert "Nothing: the security bulletin can be published with the release." in body
    saved = stored(tid)
    assert saved["title_ja"] == TEXT["title_ja"] and saved["cwe_id"] == "CWE-79"
    assert saved["restart_required"] is True and saved["credit"] is True
    assert saved["fixed_versions"] == {"portal 2.x": "2.1", "portal 1.x": "1.9.3"}
    assert saved["faq"] == [
        {
            "question_en": "Am I affected?",
            "answer_en": "Only if comments are enabled.",
            "question_ja": "影響を受けますか?",
            "answer_ja": "コメントが有効な場合のみです。",
        }
    ]
    assert 'value="Am I affected?"' in body  # the form shows what is stored
    assert body.count('name="faq_') == 6 * 4  # the question and five blank rows


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cwe_id": "XSS"}, "cwe_id"),  # refused by the service
        ({"faq_1_question_en": "Is 3.0 affected?"}, "faq_1_answer_en"),  # an answer is needed
        ({"title_en": "x" * 301}, "title_en"),
    ],
)
def test_a_refused_text_is_shown_at_its_field_and_changes_nothing(
    analyst, world, client_for, change, field
) -> None:
    tid = world.case
    client = client_for(analyst)
    post(client, f"/cases/{tid}/advisory/text", TEXT)
    before = stored(tid)
    page = post(client, f"/cases/{tid}/advisory/text", {**TEXT, "title_ja": "新しい", **change})
    assert page.status_code == 422
    assert field in page.context["form"].errors
    assert 'value="新しい"' in text(page)  # what was typed is kept
    assert stored(tid) == before


@pytest.mark.django_db
def test_engineers_read_the_texts_and_a_forged_post_is_refused(
    analyst, engineer, world, client_for
) -> None:
    tid = world.case
    post(client_for(analyst), f"/cases/{tid}/advisory/text", TEXT)
    before = stored(tid)
    client = client_for(engineer)
    body = text(client.get(f"/cases/{tid}/advisory/"))
    assert TEXT["title_en"] in body and "Disable comments." in body and "Portal 2.x → 2.1" in body
    assert "Read only" in body
    assert "/advisory/text" not in body
    page = post(client, f"/cases/{tid}/advisory/text", {**TEXT, "title_en": "forged"})
    assert page.status_code == 302
    assert "your role may not" in text(client.get(page["Location"]))
    assert stored(tid) == before


@pytest.mark.django_db
def test_reporters_and_other_teams_find_nothing(admin, world, client_for) -> None:
    reporter = factories.user(Role.REPORTER, "rita")
    stranger = factories.user(Role.PRODUCT_ENGINEER, "engineer-billing")
    catalogue.set_membership(admin, world.other, stranger.username, member=True)
    for user in (reporter, stranger):
        client = client_for(user)
        assert client.get(f"/cases/{world.case}/advisory/").status_code == 404
        page = post(client, f"/cases/{world.case}/advisory/text", TEXT)
        assert page.status_code == 404
    assert stored(world.case) == {}


# Early mitigation advisories -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_public_case_prompts_for_an_early_mitigation_advisory(
    admin, analyst, world, client_for
) -> None:
    tid = world.case
    client = client_for(analyst)
    body = text(client.get(f"/cases/{tid}/advisory/"))
    assert "Publish early mitigation advisory" not in body

    cases.set_flag(admin, tid, "P")
    body = text(client.get(f"/cases/{tid}/advisory/"))
    assert "The vulnerability is public and no fix has shipped yet" in body
    assert f'action="/cases/{tid}/advisory/early"' in body

    # Nothing written yet: refused, listing every missing item.
    page = post(client, f"/cases/{tid}/advisory/early", {}, follow=True)
    body = text(page)
    assert "Not published. Still missing:" in body
    assert f"{tid}: a title" in body
    assert f"{tid}: the mitigations and workarounds (no fix is available yet)" in body
    assert not Advisory.objects.exists()


@pytest.mark.django_db
def test_an_early_advisory_for_a_case_that_is_not_public_is_refused(
    analyst, engineer, world, client_for
) -> None:
    tid = world.case
    page = post(client_for(analyst), f"/cases/{tid}/advisory/early", {}, follow=True)
    assert "the case is not publicly disclosed" in text(page)
    page = post(client_for(engineer), f"/cases/{tid}/advisory/early", {}, follow=True)
    assert "your role may not" in text(page)
    assert not Advisory.objects.exists()


@pytest.mark.django_db
def test_an_early_advisory_is_published_and_re_issued(
    admin, analyst, world, client_for, settings, signing_key, tmp_path
) -> None:
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
    tid = world.case
    client = client_for(analyst)
    post(client, f"/cases/{tid}/advisory/text", TEXT)
    cases.set_flag(admin, tid, "P")
    page = post(client, f"/cases/{tid}/advisory/early", {}, follow=True)
    advisory = Advisory.objects.get(case__tracking_id=tid)
    body = text(page)
    assert f"Early mitigation advisory {advisory.advisory_id} published." in body
    assert "The vulnerability is public and no fix has shipped yet" not in body
    assert f'href="https://www.example.com/security/bulletins/{advisory.advisory_id}.html"' in body
    assert SiteBuild.objects.count() == 1

    refused = post(client, f"/cases/{tid}/advisory/{advisory.advisory_id}/reissue", {})
    assert refused.status_code == 422
    assert "summary" in refused.context["advisories"][0][3].errors
    page = post(
        client,
        f"/cases/{tid}/advisory/{advisory.advisory_id}/reissue",
        {"summary": "Added a workaround for 1.x"},
        follow=True,
    )
    body = text(page)
    assert f"{advisory.advisory_id} revision 2 published." in body
    assert "Added a workaround for 1.x" in body
    assert f"/security/bulletins/{advisory.advisory_id}/v2.html" in body
    assert list(advisory.revisions.values_list("number", flat=True)) == [1, 2]
    assert SiteBuild.objects.count() == 2


# Revisions -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_advisories_of_a_case_are_listed_with_their_revisions(
    analyst, engineer, world, client_for
) -> None:
    advisory = issued(world.case, revisions=2)
    body = text(client_for(analyst).get(f"/cases/{world.case}/advisory/"))
    assert f'href="{services.page_url(advisory.advisory_id)}"' in body
    assert "/security/bulletins/MSA-2026-0042.html" in body
    assert "/security/bulletins/MSA-2026-0042/v1.html" in body
    assert "/security/bulletins/MSA-2026-0042/v2.html" in body
    assert "Initial release" in body and "Change 2" in body
    assert "Early mitigation advisory" in body
    assert f'action="/cases/{world.case}/advisory/MSA-2026-0042/reissue"' in body

    body = text(client_for(engineer).get(f"/cases/{world.case}/advisory/"))
    assert "Change 2" in body and "/reissue" not in body


@pytest.mark.django_db
def test_re_issuing_is_refused_with_the_problem(
    admin, analyst, engineer, world, client_for
) -> None:
    issued(world.case)
    path = f"/cases/{world.case}/advisory/MSA-2026-0042/reissue"
    client = client_for(analyst)
    refused = post(client, path, {"summary": "  "})
    assert refused.status_code == 422
    assert "summary" in refused.context["advisories"][0][3].errors

    # Nothing written for the advisory yet: refused with the list, no revision stored.
    page = post(client, path, {"summary": "New workaround"}, follow=True)
    assert "Not published. Still missing:" in text(page)
    assert Revision.objects.count() == 1

    page = post(client_for(engineer), path, {"summary": "forged"}, follow=True)
    assert "your role may not" in text(page)
    other = factories.case(admin, "Another case")
    assert post(client, f"/cases/{other}/advisory/MSA-2026-0042/reissue", {}).status_code == 404
    assert Revision.objects.count() == 1
