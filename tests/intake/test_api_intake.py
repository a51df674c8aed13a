"""``POST /api/intake/reports``: the source comes from the token, never from the submitter."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from mamori.accounts.services import issue_token
from mamori.cases.models import Case
from mamori.core.authz import Role
from mamori.errors import InvalidInput
from mamori.intake import links
from mamori.intake.models import OutboundMail
from tests import factories


def post(token: str, body: dict[str, object]):
    return Client().post(
        "/api/intake/reports",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture
def coordinator(db: None):
    return factories.user(
        Role.REPORTER, "certcc", organisation="CERT/CC", email="cert@cert.example"
    )


def test_a_coordinators_token_records_the_coordinator_and_its_organisation(coordinator) -> None:
    token = issue_token(coordinator, "intake", intake_source="coordinator")
    answer = post(token, {"title": "Overflow in AcmeRouter", "source_detail": "VU#123456"})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    case = Case.objects.get(tracking_id=body["tracking_id"])
    assert case.source == body["source"] == "coordinator"
    assert case.reporter_organisation == "CERT/CC"
    assert case.source_detail == "VU#123456"
    assert case.reporter == coordinator
    assert links.case_for(body["link"].rstrip("/").rsplit("/", 1)[1]) == case
    assert OutboundMail.objects.get(case=case).kind == "receipt"


def test_a_submitter_cannot_claim_another_source(coordinator) -> None:
    token = issue_token(coordinator, "intake", intake_source="support")
    answer = post(token, {"title": "x", "source": "coordinator"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "source"
    assert not Case.objects.exists()


def test_a_token_without_a_source_records_the_api(coordinator) -> None:
    answer = post(issue_token(coordinator, "plain"), {"title": "Report"})
    assert answer.status_code == 201
    assert Case.objects.get().source == "api"


def test_internal_users_choose_the_source_and_the_reporter(analyst) -> None:
    answer = post(
        issue_token(analyst, "support desk"),
        {
            "title": "Customer found a crash",
            "source": "customer",
            "reporter_name": "Yamada Taro",
            "reporter_email": "taro@customer.example",
            "language": "ja",
        },
    )
    assert answer.status_code == 201, answer.content
    case = Case.objects.get()
    assert (case.source, case.reporter_name, case.language) == ("customer", "Yamada Taro", "ja")
    assert case.reporter is None


@pytest.mark.parametrize(
    "body",
    [
        {"title": ""},
        {"title": "x", "source": "internal"},
        {"title": "x", "language": "fr"},
        {"title": "x" * 301},
        [],
    ],
)
def test_bad_submissions_are_refused_and_store_nothing(coordinator, body: object) -> None:
    answer = post(issue_token(coordinator, "t"), body)  # type: ignore[arg-type]
    assert answer.status_code in (400, 422)
    assert not Case.objects.exists()


def test_roles_that_may_not_create_cases_are_refused(db: None) -> None:
    auditor = factories.user(Role.AUDITOR)
    assert post(issue_token(auditor, "t"), {"title": "x"}).status_code == 403


def test_an_unknown_intake_source_is_refused_when_the_token_is_made(coordinator) -> None:
    with pytest.raises(InvalidInput):
        issue_token(coordinator, "t", intake_source="internal")


def test_no_token_no_report(db: None) -> None:
    answer = Client().post("/api/intake/reports", "{}", content_type="application/json")
    assert answer.status_code == 401
