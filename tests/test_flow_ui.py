"""The whole story through the UI, as a new user meets it (issue #2, "done when")."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from mamori.accounts.services import bootstrap_administrator
from mamori.cases import services as cases
from tests import factories
from tests.web import Browser

NEW_PASSWORD = "a long passphrase for mamori"


def _tid(html: str) -> str:
    match = re.search(r"MAMORI-\d{4}-\d{4}", html)
    assert match, "no tracking id on the page"
    return match.group(0)


def _step(browser: Browser, tid: str, target: str, **inputs: str) -> str:
    page = browser.post(f"/cases/{tid}/step", {"target": target, **inputs})
    assert page.status_code == 200
    return page.content.decode()


@pytest.mark.django_db
def test_new_user_runs_a_case_through_the_whole_workflow() -> None:
    admin, one_time = bootstrap_administrator("admin")
    browser = Browser()

    # First login with the one-time password forces a password change.
    page = browser.login("admin", one_time)
    assert "Choose your password" in page.content.decode()
    page = browser.post(
        "/accounts/password/",
        {"old_password": one_time, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert "Password changed" in page.content.decode()
    assert browser.get("/cases/").status_code == 200

    # Catalogue: a team, a product owned by it, versions with support status.
    browser.post("/catalogue/teams/", {"slug": "web-team", "name": "Web team"})
    browser.post("/catalogue/teams/web-team/members", {"username": "admin"})
    page = browser.post(
        "/catalogue/", {"slug": "portal", "name": "Customer Portal", "teams": ["web-team"]}
    )
    assert "Customer Portal" in page.content.decode()
    browser.post("/catalogue/portal/versions", {"name": "2.4", "support_status": "supported"})
    page = browser.post(
        "/catalogue/portal/versions",
        {"name": "1.0", "support_status": "end_of_life", "support_ends_on": "2025-03-31"},
    )
    html = page.content.decode()
    assert "2.4" in html and "End of life" in html and "2025-03-31" in html

    # A case through the UI.
    page = browser.post(
        "/cases/new/",
        {"title": "Stored XSS in profile page", "source": "email", "products": ["portal"]},
    )
    tid = _tid(page.content.decode())
    html = page.content.decode()
    assert "Received" in html and "Start triage" in html

    # A second case through the API, with a token made on the tokens page; it will become the
    # side exit (duplicate).
    page = browser.post("/accounts/tokens/", {"name": "scripts"})
    token = re.search(r"<code>(mamori_[^<]+)</code>", page.content.decode())
    assert token, "the new token is shown once"
    api = Client(headers={"Authorization": f"Bearer {token.group(1)}"})
    response = api.post(
        "/api/cases",
        {"title": "XSS in profile (again)", "products": ["portal"]},
        content_type="application/json",
    )
    assert response.status_code == 201
    dup = response.json()["tracking_id"]

    # Gate: reproducing needs an assignee; the page says so, and nothing moved.
    _step(browser, tid, "triage")
    html = _step(browser, tid, "reproducing")
    assert "cannot move to reproducing: an assignee" in html
    assert cases.get_case(admin, tid).state == "triage"

    edit = {
        "title": "Stored XSS in profile page",
        "products": ["portal"],
        "assignee": "admin",
        "owning_team": "web-team",
    }
    browser.post(f"/cases/{tid}/edit", edit)
    # The rating is the assessment's (tests/assessment/test_views.py drives its pages).
    factories.rate(admin, tid, "important", "CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N")
    _step(browser, tid, "reproducing")
    _step(browser, tid, "confirmed")
    # Gate: the affected matrix must answer every supported version first.
    html = _step(browser, tid, "in_development")
    assert "under investigation" in html and "Customer Portal 2.4" in html
    factories.settle_matrix(admin, tid)
    _step(browser, tid, "in_development")
    _step(browser, tid, "in_testing", build_reference="pb-101")
    _step(browser, tid, "in_development", reason="regression in the login form")  # rework
    _step(browser, tid, "in_testing", build_reference="pb-102")
    # Gate: ready for release needs a passed test run on the build that will ship.
    html = _step(browser, tid, "ready_for_release", reason="all 214 tests passed")
    assert "a passed test run on the build that will ship (no private build yet)" in html
    factories.pass_tests(admin, tid)  # the fix page (tests/fixes) moves it on
    _step(browser, tid, "released", release_reference="2026-12 train")
    html = _step(browser, tid, "closed")

    case = cases.get_case(admin, tid)
    assert case.state == "closed"
    assert case.rework_count == 1
    assert case.build_reference == "pb-102"
    for state in ("triage", "reproducing", "confirmed", "in testing", "ready for release"):
        assert state in html  # the timeline
    assert "pb-101" in html and "pb-102" in html  # before → after in the audit trail
    assert "regression in the login form" in html

    # Side exit: the API-made case is a duplicate of the first.
    _step(browser, dup, "triage")
    html = _step(browser, dup, "duplicate", duplicate_of=tid)
    assert cases.get_case(admin, dup).state == "duplicate"
    assert tid in html
    thread = cases.case_page(admin, dup).thread
    assert any("already reported" in m.body for m in thread)  # the reporter is told


@pytest.mark.django_db
def test_queue_orders_by_priority_then_age_and_filters(admin) -> None:
    from tests import factories

    factories.product(admin, "portal")
    low = factories.case(admin, "low one")
    critical = factories.case(admin, "critical one", products=("portal",))
    unrated = factories.case(admin, "unrated one")
    factories.rate(admin, low, "low")
    factories.rate(admin, critical, "critical")
    ordered = [c.tracking_id for c in cases.queue(admin)]
    # Critical is P2, an unrated case is treated as Important (P3), Low is P5.
    assert ordered == [critical, unrated, low]

    browser = Client()
    browser.force_login(admin)
    html = browser.get("/cases/", {"product": "portal"}).content.decode()
    assert critical in html and low not in html
    html = browser.get("/cases/", {"severity": "low"}).content.decode()
    assert low in html and critical not in html
    html = browser.get("/cases/", {"state": ["triage"]}).content.decode()
    assert "No cases match" in html


@pytest.mark.django_db
def test_pages_work_without_javascript(admin) -> None:
    """Every action on the case page is a plain HTML form; the pages ship no script."""
    from tests import factories

    tid = factories.case(admin)
    browser = Client()
    browser.force_login(admin)
    for path in ("/cases/", f"/cases/{tid}/", "/catalogue/", "/catalogue/teams/", "/cases/new/"):
        html = browser.get(path).content.decode()
        assert "<script" not in html, path
    html = browser.get(f"/cases/{tid}/").content.decode()
    assert f'action="/cases/{tid}/step"' in html and 'method="post"' in html
