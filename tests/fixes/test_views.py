"""The fix page, driven as a browser would: plain forms with CSRF tokens, no JavaScript."""

from __future__ import annotations

import html

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mamori.cases.models import AuditEntry, Case
from mamori.core.authz import Role
from mamori.fixes.models import PrivateBuild, TestResult, TestRun
from tests import factories
from tests.fixes.conftest import BUILD, BUILD_SHA, LINK_SHA

URL = "https://ci.example.internal/portal/2/fix.tar.gz"


def post(client: Client, path: str, data: dict[str, object]):
    """POST a form as the browser does after loading a page: with the CSRF cookie's token."""
    if "csrftoken" not in client.cookies:
        client.get("/cases/")
    token = client.cookies["csrftoken"].value
    return client.post(path, {**data, "csrfmiddlewaretoken": token}, follow=True)


def text(response) -> str:
    return html.unescape(response.content.decode())


def snapshot(tid: str) -> tuple[object, ...]:
    case = Case.objects.get(tracking_id=tid)
    return (
        case.state,
        case.rework_count,
        list(PrivateBuild.objects.values_list("number", "sha256")),
        list(TestRun.objects.values_list("number", "state")),
        list(TestResult.objects.values_list("result", "evidence")),
        AuditEntry.objects.count(),
    )


@pytest.mark.django_db
def test_an_engineer_takes_the_fix_through_testing_on_the_page(engineer, world, client_for) -> None:
    client, tid = client_for(engineer), world.case
    base = f"/cases/{tid}/fix"
    page = client.get(f"{base}/")
    assert page.status_code == 200
    body = text(page)
    assert "No private build yet." in body
    assert f'action="{base}/builds"' in body and 'enctype="multipart/form-data"' in body
    assert 'value="portal/2.x"' in body and "Portal 2.x" in body
    assert "<script" not in body

    upload = SimpleUploadedFile("portal-fix.tar.gz", BUILD)
    page = post(client, f"{base}/builds", {"artifact": upload, "versions": ["portal/2.x"]})
    assert page.redirect_chain[-1][0] == f"{base}/"
    body = text(page)
    assert "Build added." in body and BUILD_SHA in body
    assert f'href="{base}/builds/1/artifact"' in body
    download = client.get(f"{base}/builds/1/artifact")
    assert b"".join(download.streaming_content) == BUILD
    assert download["Content-Disposition"].startswith("attachment")

    body = text(post(client, f"{base}/builds/1/submit", {}))
    assert "Build 1 is in testing." in body
    plan = "login form\n\n  profile page  \nREST API\n"
    body = text(post(client, f"{base}/runs", {"build": "1", "items": plan}))
    assert "Test run started." in body and "Test run 1 of build 1" in body
    assert list(TestResult.objects.values_list("name", flat=True)) == [
        "login form",
        "profile page",
        "REST API",
    ]

    post(client, f"{base}/runs/1/results/1", {"result": "pass", "evidence": "escaped"})
    evidence = SimpleUploadedFile("poc.html", b"<script>alert(1)</script>")
    body = text(
        post(
            client,
            f"{base}/runs/1/results/2",
            {"result": "fail", "evidence": "the bio field still runs it", "attachment": evidence},
        )
    )
    assert "Result recorded." in body and "the bio field still runs it" in body
    assert f'href="{base}/runs/1/results/2/evidence"' in body
    served = client.get(f"{base}/runs/1/results/2/evidence")
    assert served["Content-Type"] == "application/octet-stream"  # never rendered as HTML
    assert b"".join(served.streaming_content) == b"<script>alert(1)</script>"

    body = text(post(client, f"{base}/runs/1/complete", {"summary": ""}))
    assert "Test run 1 failed: the case is back in development." in body
    assert "1 rework loop" in body
    case = Case.objects.get(tracking_id=tid)
    assert (case.state, case.rework_count) == ("in_development", 1)

    post(client, f"{base}/builds", {"url": URL, "sha256": LINK_SHA, "versions": ["portal/2.x"]})
    post(client, f"{base}/builds/2/submit", {})
    post(client, f"{base}/runs", {"build": "2", "items": "login form\nprofile page"})
    for position in (1, 2):
        post(client, f"{base}/runs/2/results/{position}", {"result": "pass"})
    body = text(post(client, f"{base}/runs/2/complete", {"summary": "clean"}))
    assert "Test run 2 passed. The case is ready for release." in body
    assert Case.objects.get(tracking_id=tid).state == "ready_for_release"
    assert "Add a build" not in body  # no more builds once it is ready

    case_page = text(client.get(f"/cases/{tid}/"))
    assert "The build that will ship: build 2" in case_page
    assert f'href="{base}/"' in case_page


@pytest.mark.django_db
def test_refused_values_are_shown_at_their_field_and_nothing_changes(
    engineer, world, client_for
) -> None:
    client, tid = client_for(engineer), world.case
    base = f"/cases/{tid}/fix"
    before = snapshot(tid)
    page = post(client, f"{base}/builds", {"url": URL, "sha256": "not-a-digest"})
    assert page.status_code == 422
    body = text(page)
    assert "a SHA-256 is 64 hexadecimal digits" in body
    assert f'value="{URL}"' in body  # as it was typed
    page = post(client, f"{base}/builds", {"url": URL, "sha256": LINK_SHA, "versions": ["x/y"]})
    assert page.status_code == 422  # not one of the choices
    assert snapshot(tid) == before

    post(client, f"{base}/builds", {"url": URL, "sha256": LINK_SHA})
    post(client, f"{base}/builds/1/submit", {})
    page = post(client, f"{base}/runs", {"build": "1", "items": "login\nLogin"})
    assert page.status_code == 422
    assert "item 2 repeats 'Login'" in text(page)
    post(client, f"{base}/runs", {"build": "1", "items": "login\nprofile"})
    post(client, f"{base}/runs/1/results/1", {"result": "pass"})
    page = post(client, f"{base}/runs/1/complete", {"summary": ""})
    assert page.status_code == 422
    assert "items still pending: 2. profile" in text(page)
    page = post(client, f"{base}/runs/1/results/2", {"result": "maybe"})
    assert page.status_code == 422
    assert TestRun.objects.get().state == "open"


@pytest.mark.django_db
def test_a_read_only_user_sees_no_forms_and_a_forged_post_changes_nothing(
    engineer, world, client_for
) -> None:
    tid, base = world.case, f"/cases/{world.case}/fix"
    worker = client_for(engineer)
    post(worker, f"{base}/builds", {"url": URL, "sha256": LINK_SHA})
    post(worker, f"{base}/builds/1/submit", {})
    post(worker, f"{base}/runs", {"build": "1", "items": "login"})

    auditor = client_for(factories.user(Role.AUDITOR))
    page = auditor.get(f"{base}/")
    assert page.status_code == 200
    body = text(page)
    assert "Read only: your role may not add builds or record tests." in body
    assert "build 1" in body and "login" in body
    assert f'action="{base}/builds"' not in body
    assert f'action="{base}/runs/1/results/1"' not in body
    assert f'action="{base}/runs/1/complete"' not in body

    before = snapshot(tid)
    forged = [
        (f"{base}/builds", {"url": URL, "sha256": LINK_SHA}),
        (f"{base}/builds/1/submit", {}),
        (f"{base}/runs", {"build": "1", "items": "other"}),
        (f"{base}/runs/1/results/1", {"result": "pass", "evidence": "trust me"}),
        (f"{base}/runs/1/complete", {"summary": "done"}),
    ]
    for path, data in forged:
        page = post(auditor, path, data)
        assert page.redirect_chain[-1][0] == f"{base}/", path
        assert "your role may not case develop" in text(page), path
        assert snapshot(tid) == before, path


@pytest.mark.django_db
def test_reporters_and_other_teams_find_no_fix_page(admin, world, client_for) -> None:
    outsider = factories.user(Role.PRODUCT_ENGINEER)
    factories.team(admin, "ops-team", members=(outsider,))
    reporter = factories.user(Role.REPORTER)
    before = snapshot(world.case)
    for who in (outsider, reporter):
        client = client_for(who)
        assert client.get(f"/cases/{world.case}/fix/").status_code == 404
        page = post(client, f"/cases/{world.case}/fix/builds", {"url": URL, "sha256": LINK_SHA})
        assert page.status_code == 404
    assert snapshot(world.case) == before


@pytest.mark.django_db
def test_posts_need_a_csrf_token(engineer, world, client_for) -> None:
    client = client_for(engineer)
    response = client.post(f"/cases/{world.case}/fix/builds", {"url": URL, "sha256": LINK_SHA})
    assert response.status_code == 403
    assert PrivateBuild.objects.count() == 0
