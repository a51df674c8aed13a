"""The assessment pages: rating, the affected matrix, variants and threat-intelligence imports,
driven as a browser would (plain forms, CSRF tokens, no JavaScript)."""

from __future__ import annotations

import html

import pytest
from django.test import Client

from mamori.accounts.models import User
from mamori.assessment import services as assessment
from mamori.assessment.models import Assessment, MatrixRow, ThreatImport, VariantCheck
from mamori.core.authz import Role
from tests import factories
from tests.assessment.conftest import KEV_FILE

V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"  # 6.1
V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"  # 9.3
RATING = {
    "cvss_v3": V31,
    "cvss_v4": V40,
    "impact": "code_execution",
    "mitigation": "none",
    "exploitability": "more_likely",
    "cves": "CVE-2024-0001, cve-2024-0002",
    "automatable": "yes",
    "value_density": "concentrated",
    "technical_impact": "total",
    "safety_impact": "negligible",
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
    return Assessment.objects.values().get(case__tracking_id=tracking_id)


@pytest.fixture
def auditor(db: None) -> User:
    return factories.user(Role.AUDITOR, "audrey")


# The assessment page -------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_analyst_rates_a_case_and_sees_what_follows(analyst, world, client_for) -> None:
    tid = world["case"]
    client = client_for(analyst)
    page = client.get(f"/cases/{tid}/assessment/")
    assert page.status_code == 200
    assert f'action="/cases/{tid}/assessment/rating"' in text(page)
    assert "<script" not in text(page)

    page = post(client, f"/cases/{tid}/assessment/rating", RATING, follow=True)
    assert page.redirect_chain[-1][0] == f"/cases/{tid}/assessment/"
    body = text(page)
    assert "Assessment saved." in body
    assert "critical: code execution without user action → Critical" in body
    assert "CVE-2024-0001" in body and "CVE-2024-0002" in body
    assert "9.3" in body and "CVSS-B" in body and "6.1" in body
    view = assessment.view(analyst, tid)
    assert view.decision is not None
    assert view.decision.outcome.label in body
    for reason in view.priority.reasons:
        assert reason in body
    assert view.priority.label in body

    # Exploited in the wild: SSVC reads "active", the release becomes out-of-band.
    page = post(
        client,
        f"/cases/{tid}/assessment/fact",
        {"fact": "exploited", "on": "2025-01-10", "source": "https://example.org/report"},
        follow=True,
    )
    body = text(page)
    view = assessment.view(analyst, tid)
    assert view.decision is not None and view.decision.outcome.out_of_band
    assert "2025-01-10" in body and "https://example.org/report" in body
    assert "the fix ships in an out-of-band release" in body
    assert f"SSVC supplier decision {view.decision.outcome.label} → P1" in body
    assert view.priority.label == "P1"

    # The override keeps the derived severity beside it, with who and why.
    page = post(
        client,
        f"/cases/{tid}/assessment/override",
        {"severity_override": "moderate", "override_reason": "only reachable from the LAN"},
        follow=True,
    )
    body = text(page)
    assert "Moderate (override)" in body and "only reachable from the LAN" in body
    assert f"by {analyst.username}" in body
    assert stored(tid)["derived_severity"] == "critical"


@pytest.mark.django_db
def test_missing_ssvc_inputs_are_listed(analyst, world, client_for) -> None:
    client = client_for(analyst)
    rating = {**RATING, "value_density": "", "safety_impact": ""}
    body = text(post(client, f"/cases/{world['case']}/assessment/rating", rating, follow=True))
    assert "still missing: value density, safety impact" in body


@pytest.mark.django_db
def test_an_invalid_vector_is_shown_at_its_field_and_changes_nothing(
    analyst, world, client_for
) -> None:
    tid = world["case"]
    client = client_for(analyst)
    post(client, f"/cases/{tid}/assessment/rating", RATING)
    before = stored(tid)
    bad = "CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    page = post(
        client, f"/cases/{tid}/assessment/rating", {**RATING, "cvss_v3": bad, "cves": "CVE-2030-9"}
    )
    assert page.status_code == 422
    form = page.context["rating_form"]
    assert "cvss_v3" in form.errors and "AV" in form.errors["cvss_v3"][0]
    assert "cves" in form.errors
    body = text(page)
    assert f'value="{bad}"' in body  # the user's input is kept
    assert "CVE-2030-9" in body
    assert stored(tid) == before
    assert [c.cve_id for c in world_case_cves(tid)] == ["CVE-2024-0001", "CVE-2024-0002"]


def world_case_cves(tracking_id: str):
    from mamori.assessment.models import CaseCve

    return CaseCve.objects.filter(case__tracking_id=tracking_id)


@pytest.mark.django_db
def test_an_auditor_reads_without_forms_and_a_forged_post_is_refused(
    analyst, auditor, world, client_for
) -> None:
    tid = world["case"]
    post(client_for(analyst), f"/cases/{tid}/assessment/rating", RATING)
    before = stored(tid)
    client = client_for(auditor)
    body = text(client.get(f"/cases/{tid}/assessment/"))
    assert "critical: code execution without user action → Critical" in body
    assert "<form" in body  # the logout and language forms only
    assert "/assessment/rating" not in body and "/assessment/fact" not in body
    assert "Read only" in body

    page = post(client, f"/cases/{tid}/assessment/rating", {**RATING, "impact": "spoofing"})
    assert page.status_code == 302
    body = text(client.get(page["Location"]))
    assert "your role may not assessment edit" in body
    page = post(client, f"/cases/{tid}/assessment/fact", {"fact": "disclosed", "on": "2025-01-01"})
    assert page.status_code == 302
    assert stored(tid) == before

    body = text(client.get(f"/cases/{tid}/matrix/"))
    assert "/matrix/row" not in body and "/variants/add" not in body
    page = post(
        client,
        f"/cases/{tid}/matrix/row",
        {"product": "portal", "version": "2.x", "status": "affected", "resolution": "fix"},
    )
    assert page.status_code == 302
    assert not MatrixRow.objects.exists()


@pytest.mark.django_db
def test_a_reporter_does_not_see_the_assessment(world, client_for) -> None:
    reporter = factories.user(Role.REPORTER, "rita")
    assert client_for(reporter).get(f"/cases/{world['case']}/assessment/").status_code == 404
    assert client_for(reporter).get("/threat-intel/").status_code == 403


# The affected matrix and the variant checks --------------------------------------------------


@pytest.mark.django_db
def test_an_engineer_edits_their_products_rows_only(engineer, world, client_for) -> None:
    tid = world["case"]
    client = client_for(engineer)
    body = text(client.get(f"/cases/{tid}/matrix/"))
    assert body.count(f'action="/cases/{tid}/matrix/row"') == 3  # portal 2.x, 1.x, 0.9
    assert "Portal 2.x" in body and "Portal 1.x" in body  # still under investigation
    assert "<script" not in body

    page = post(
        client,
        f"/cases/{tid}/matrix/row",
        {"product": "portal", "version": "2.x", "status": "affected", "resolution": "fix"},
        follow=True,
    )
    assert "Matrix row saved." in text(page)
    row = MatrixRow.objects.get(case__tracking_id=tid, version__name="2.x")
    assert (row.status, row.resolution, row.updated_by) == ("affected", "fix", engineer)

    # Not affected needs a justification: the row's form comes back open, with the problem.
    page = post(
        client,
        f"/cases/{tid}/matrix/row",
        {"product": "portal", "version": "1.x", "status": "not_affected"},
    )
    assert page.status_code == 422
    assert "needs a VEX justification" in text(page)
    assert "<details open>" in text(page)

    # A forged row for another team's product is refused, and nothing is written.
    page = post(
        client,
        f"/cases/{tid}/matrix/row",
        {"product": "billing", "version": "3.0", "status": "affected", "resolution": "fix"},
        follow=True,
    )
    assert "product engineers edit the matrix of their own teams' products" in text(page)
    assert not MatrixRow.objects.filter(version__product__slug="billing").exists()


@pytest.mark.django_db
def test_variant_checks_are_added_and_answered(analyst, world, client_for) -> None:
    tid = world["case"]
    client = client_for(analyst)
    body = text(client.get(f"/cases/{tid}/matrix/"))
    assert 'value="billing"' in body  # the product select offers the catalogue
    page = post(
        client,
        f"/cases/{tid}/variants/add",
        {"product": "billing", "version": "", "why": "same template engine"},
        follow=True,
    )
    body = text(page)
    assert "Variant check added." in body and "all versions" in body
    check = VariantCheck.objects.get()
    assert f'action="/cases/{tid}/variants/{check.pk}"' in body
    assert 'value="pending"' not in body  # a result form offers only real results

    page = post(
        client, f"/cases/{tid}/variants/add", {"product": "billing", "version": "9.9"}, follow=True
    )
    assert "no version '9.9'" in text(page)

    page = post(
        client,
        f"/cases/{tid}/variants/{check.pk}",
        {"result": "not_affected", "notes": "escapes output"},
        follow=True,
    )
    body = text(page)
    assert "Variant check result recorded." in body and "escapes output" in body
    check.refresh_from_db()
    assert (check.result, check.checked_by) == ("not_affected", analyst)
    assert f'action="/cases/{tid}/variants/{check.pk}"' not in body


# Queue and case page -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_queue_shows_priority_and_why(analyst, world, client_for) -> None:
    tid = world["case"]
    factories.rate(analyst, tid, "critical")
    unrated = factories.case(analyst, "Not yet looked at")
    Assessment.objects.filter(case__tracking_id=unrated).delete()  # a case with no assessment
    body = text(client_for(analyst).get("/cases/"))
    assert ">Priority</th>" in body
    assert "<strong>P2</strong>" in body and "<strong>P3</strong>" in body
    assert "<summary>why</summary>" in body
    assert "no SSVC decision yet; severity Critical → P2" in body
    assert "not assessed yet: treated as Important" in body
    assert body.index(tid) < body.index(unrated)


@pytest.mark.django_db
def test_the_case_page_summarises_the_assessment(analyst, world, client_for) -> None:
    tid = world["case"]
    client = client_for(analyst)
    post(client, f"/cases/{tid}/assessment/rating", RATING)
    body = text(client.get(f"/cases/{tid}/"))
    view = assessment.view(analyst, tid)
    assert view.decision is not None
    assert f"{view.priority.label}</strong>" in body
    assert "Critical" in body and "CVSS 9.3" in body
    assert f"SSVC {view.decision.outcome.label}" in body
    assert f'href="/cases/{tid}/assessment/"' in body and f'href="/cases/{tid}/matrix/"' in body
    assert 'href="/threat-intel/"' in body


# Threat intelligence -------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_analyst_uploads_the_kev_catalog(analyst, world, client_for) -> None:
    tid = world["case"]
    client = client_for(analyst)
    post(client, f"/cases/{tid}/assessment/rating", {**RATING, "cves": "CVE-2021-34527"})
    body = text(client.get("/threat-intel/"))
    assert 'enctype="multipart/form-data"' in body and "mamori assess import-kev" in body
    assert "Nothing imported yet." in body
    assert "<script" not in body

    with KEV_FILE.open("rb") as upload:
        page = post(client, "/threat-intel/kev", {"file": upload}, follow=True)
    body = text(page)
    assert "KEV catalog 2025.08.25: 1404 entries" in body
    assert "upload known_exploited_vulnerabilities.json" in body
    record = ThreatImport.objects.get()
    assert (record.kind, record.imported_by) == ("kev", analyst.username)

    body = text(client.get(f"/cases/{tid}/assessment/"))
    assert "CVE-2021-34527" in body and "due date precedes the date added" in body
    assert "listed in CISA KEV since" in body

    # The same file again changes nothing, and says so.
    with KEV_FILE.open("rb") as upload:
        page = post(client, "/threat-intel/kev", {"file": upload}, follow=True)
    assert "nothing changed" in text(page)
    assert ThreatImport.objects.count() == 1


@pytest.mark.django_db
def test_a_bad_upload_is_refused_with_the_reason(analyst, client_for, tmp_path) -> None:
    bad = tmp_path / "scores.csv"
    bad.write_text("not,an,epss,file\n")
    client = client_for(analyst)
    with bad.open("rb") as upload:
        page = post(client, "/threat-intel/epss", {"file": upload}, follow=True)
    assert page.redirect_chain[-1][0] == "/threat-intel/"
    assert 'class="error"' in text(page)
    assert ThreatImport.objects.get().outcome.startswith("refused")


@pytest.mark.django_db
def test_an_auditor_sees_the_history_but_cannot_upload(auditor, client_for) -> None:
    client = client_for(auditor)
    body = text(client.get("/threat-intel/"))
    assert "Import history" in body
    assert 'enctype="multipart/form-data"' not in body
    with KEV_FILE.open("rb") as upload:
        page = post(client, "/threat-intel/kev", {"file": upload}, follow=True)
    assert "your role may not threat import" in text(page)
    assert not ThreatImport.objects.exists()
