"""Workflow gates through the API: refusals say what is missing and change nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client, override_settings

from mamori.accounts.models import User
from mamori.cases import services
from mamori.cases.models import Case
from mamori.core.workflow import StepInput
from tests import factories

VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


@pytest.fixture
def api(admin: User, api_for) -> Client:
    return api_for(admin)


def _move(admin: User, tracking_id: str, target: str, **given: str) -> None:
    services.transition(admin, tracking_id, target, StepInput(**given))


def _change(admin: User, tracking_id: str, **changes: object) -> None:
    wanted = services.CaseChanges(**changes)  # type: ignore[arg-type]
    services.update_case(admin, tracking_id, wanted)


def case_at(admin: User, state: str) -> str:
    """A new case moved, through the services, to ``state`` along the main path."""
    tracking_id = factories.case(admin)
    path = [
        "triage",
        "reproducing",
        "confirmed",
        "in_development",
        "in_testing",
    ]
    if state == "received":
        return tracking_id
    for target in path:
        if target == "reproducing":
            _change(admin, tracking_id, assignee=admin.username)
        elif target == "confirmed":
            product = factories.product(admin)
            _change(admin, tracking_id, products=(product,))
            factories.rate(admin, tracking_id, "critical", VECTOR)
        elif target == "in_development":
            _change(admin, tracking_id, owning_team=factories.team(admin))
        _move(admin, tracking_id, target, build_reference="build-0")
        if target == state:
            return tracking_id
    raise AssertionError(f"no path to {state}")


def snapshot(admin: User, tracking_id: str) -> dict[str, object]:
    """The case as the services show it, reloaded from the database."""
    page = services.case_page(admin, tracking_id)
    case = page.case
    return {
        "state": case.state,
        "audit": len(page.audit),
        "timeline": len(page.timeline),
        "thread": len(page.thread),
        "rework_count": case.rework_count,
        "duplicate_of": case.duplicate_of_id,
        "bug_reference": case.bug_reference,
        "build_reference": case.build_reference,
        "updated_at": case.updated_at,
    }


def step(api: Client, tracking_id: str, target: str, **given: str):
    return api.post(
        f"/api/cases/{tracking_id}/transitions",
        {"target": target, **given},
        content_type="application/json",
    )


def assert_refused(response, target: str, missing: list[str]) -> None:
    assert response.status_code == 409, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "gate_refused"
    assert body["target"] == target
    assert body["missing"] == missing
    for text in missing:
        assert text in body["message"]


# Each gate -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reproducing_needs_an_assignee(admin: User, api: Client) -> None:
    tracking_id = case_at(admin, "triage")
    before = snapshot(admin, tracking_id)
    assert_refused(step(api, tracking_id, "reproducing"), "reproducing", ["an assignee"])
    assert snapshot(admin, tracking_id) == before

    _change(admin, tracking_id, assignee=admin.username)
    response = step(api, tracking_id, "reproducing")
    assert response.status_code == 200
    assert response.json()["state"] == "reproducing"


@pytest.mark.django_db
def test_confirming_with_nothing_lists_product_cvss_and_severity(admin: User, api: Client) -> None:
    tracking_id = case_at(admin, "reproducing")
    before = snapshot(admin, tracking_id)
    response = step(api, tracking_id, "confirmed")
    assert_refused(
        response,
        "confirmed",
        ["at least one affected product", "a CVSS vector", "a severity rating"],
    )
    assert snapshot(admin, tracking_id) == before


@pytest.mark.django_db
def test_confirming_with_a_product_only_lists_the_rest(admin: User, api: Client) -> None:
    tracking_id = case_at(admin, "reproducing")
    _change(admin, tracking_id, products=(factories.product(admin),))
    before = snapshot(admin, tracking_id)
    assert_refused(
        step(api, tracking_id, "confirmed"), "confirmed", ["a CVSS vector", "a severity rating"]
    )
    assert snapshot(admin, tracking_id) == before

    patched = api.patch(
        f"/api/cases/{tracking_id}/assessment",
        {"cvss_v3": VECTOR, "impact": {"impact": "information_disclosure"}},
        content_type="application/json",
    )
    assert patched.status_code == 200
    response = step(api, tracking_id, "confirmed")
    assert response.status_code == 200
    assert response.json()["state"] == "confirmed"


@pytest.mark.django_db
def test_handing_to_development_needs_an_owning_team(admin: User, api: Client) -> None:
    tracking_id = case_at(admin, "confirmed")
    before = snapshot(admin, tracking_id)
    assert_refused(
        step(api, tracking_id, "in_development"), "in_development", ["an owning product team"]
    )
    assert snapshot(admin, tracking_id) == before


@pytest.mark.django_db
def test_duplicate_needs_the_original(admin: User, api: Client) -> None:
    tracking_id = case_at(admin, "triage")
    before = snapshot(admin, tracking_id)
    missing = ["the original case it duplicates"]
    assert_refused(step(api, tracking_id, "duplicate"), "duplicate", missing)
    assert_refused(step(api, tracking_id, "duplicate", duplicate_of="   "), "duplicate", missing)
    assert snapshot(admin, tracking_id) == before


@pytest.mark.django_db
@pytest.mark.parametrize("original", ["MAMORI-1999-9999", "nonsense", "self"])
def test_duplicate_of_an_unknown_case_or_itself_is_invalid(
    admin: User, api: Client, original: str
) -> None:
    tracking_id = case_at(admin, "triage")
    before = snapshot(admin, tracking_id)
    response = step(
        api, tracking_id, "duplicate", duplicate_of=tracking_id if original == "self" else original
    )
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["error"] == "invalid"
    assert [d["field"] for d in body["detail"]] == ["duplicate_of"]
    assert snapshot(admin, tracking_id) == before


@pytest.mark.django_db
def test_duplicate_of_a_real_case_links_it_and_tells_the_reporter(admin: User, api: Client) -> None:
    original = factories.case(admin, "First report")
    tracking_id = case_at(admin, "triage")
    before = snapshot(admin, tracking_id)
    response = step(api, tracking_id, "duplicate", duplicate_of=f" {original} ")
    assert response.status_code == 200, response.content
    assert response.json()["duplicate_of"] == original
    after = snapshot(admin, tracking_id)
    assert after["state"] == "duplicate"
    assert after["thread"] == before["thread"] + 1
    assert after["timeline"] == before["timeline"] + 1


@pytest.mark.django_db
def test_testing_needs_a_build_reference(admin: User, api: Client) -> None:
    tracking_id = case_at(admin, "in_development")
    before = snapshot(admin, tracking_id)
    assert_refused(
        step(api, tracking_id, "in_testing", build_reference="  "),
        "in_testing",
        ["the private build under test (build reference)"],
    )
    assert snapshot(admin, tracking_id) == before


@pytest.mark.django_db
def test_rework_needs_a_reason(admin: User, api: Client) -> None:
    tracking_id = case_at(admin, "in_testing")
    before = snapshot(admin, tracking_id)
    assert_refused(step(api, tracking_id, "in_development"), "in_development", ["what failed"])
    assert snapshot(admin, tracking_id) == before
    assert before["rework_count"] == 0


@pytest.mark.django_db
def test_not_a_vulnerability_lists_both_missing_inputs(admin: User, api: Client) -> None:
    tracking_id = case_at(admin, "reproducing")
    before = snapshot(admin, tracking_id)
    response = step(api, tracking_id, "not_a_vulnerability")
    assert response.status_code == 409
    assert len(response.json()["missing"]) == 2
    assert snapshot(admin, tracking_id) == before


# Illegal and unknown steps -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "target"),
    [
        ("received", "released"),
        ("received", "confirmed"),
        ("received", "received"),
        ("triage", "in_testing"),
        ("in_testing", "released"),
    ],
)
def test_illegal_transitions_are_refused(admin: User, api: Client, state: str, target: str) -> None:
    tracking_id = case_at(admin, state)
    before = snapshot(admin, tracking_id)
    response = step(api, tracking_id, target, reason="because", release_reference="1.0")
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["error"] == "illegal_transition"
    assert state in body["message"] and target in body["message"]
    assert snapshot(admin, tracking_id) == before


@pytest.mark.django_db
def test_a_closed_case_cannot_move(admin: User, api: Client) -> None:
    tracking_id = case_at(admin, "triage")
    _move(admin, tracking_id, "spam")
    _move(admin, tracking_id, "closed")
    before = snapshot(admin, tracking_id)
    assert before["state"] == "closed"
    for target in ("triage", "received", "released"):
        response = step(api, tracking_id, target, reason="reopen")
        assert response.status_code == 409
        assert response.json()["error"] == "illegal_transition"
    assert snapshot(admin, tracking_id) == before


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["reopened", "TRIAGE", "Triage", "triage ", "1"])
def test_an_unknown_target_state_is_invalid(admin: User, api: Client, target: str) -> None:
    tracking_id = case_at(admin, "received")
    before = snapshot(admin, tracking_id)
    response = step(api, tracking_id, target)
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["error"] == "invalid"
    assert [d["field"] for d in body["detail"]] == ["target"]
    assert snapshot(admin, tracking_id) == before


# The rework loop -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_rework_loop_counts_and_audits_every_change(admin: User, api: Client) -> None:
    tracking_id = case_at(admin, "in_development")
    loop = [
        ("in_testing", {"build_reference": "build-1"}),
        ("in_development", {"reason": "the fix misses the second parser"}),
        ("in_testing", {"build_reference": "build-2"}),
        ("in_development", {"reason": "regression in login"}),
    ]
    for target, given in loop:
        response = step(api, tracking_id, target, **given)
        assert response.status_code == 200, response.content
        assert response.json()["state"] == target

    assert response.json()["rework_count"] == 2
    case = Case.objects.get(tracking_id=tracking_id)
    assert case.rework_count == 2
    assert case.build_reference == "build-2"

    audit = api.get(f"/api/cases/{tracking_id}/audit").json()
    transitions = [(e["before"], e["after"]) for e in audit if e["field"] == "state"]
    assert transitions[-4:] == [
        ("in_development", "in_testing"),
        ("in_testing", "in_development"),
        ("in_development", "in_testing"),
        ("in_testing", "in_development"),
    ]
    assert {e["action"] for e in audit if e["field"] == "state" and e["before"]} == {"transition"}
    rework = [(e["before"], e["after"]) for e in audit if e["field"] == "rework_count"]
    assert rework == [("0", "1"), ("1", "2")]
    builds = [(e["before"], e["after"]) for e in audit if e["field"] == "build_reference"]
    assert builds == [("", "build-1"), ("build-1", "build-2")]
    assert all(e["actor"] == admin.username for e in audit)

    timeline = api.get(f"/api/cases/{tracking_id}/timeline").json()
    assert [(e["state"], e["reason"]) for e in timeline[-4:]] == [
        ("in_testing", ""),
        ("in_development", "the fix misses the second parser"),
        ("in_testing", ""),
        ("in_development", "regression in login"),
    ]


# Tracking ids --------------------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(MAMORI_TRACKING_PREFIX="MAMORI")
def test_tracking_ids_are_sequential_per_year_and_unique(api: Client) -> None:
    made = []
    with time_machine.travel(datetime(2026, 12, 31, 23, 0, tzinfo=UTC), tick=False):
        for n in range(3):
            response = api.post(
                "/api/cases", {"title": f"Report {n}"}, content_type="application/json"
            )
            assert response.status_code == 201, response.content
            made.append(response.json()["tracking_id"])
    assert made == ["MAMORI-2026-0001", "MAMORI-2026-0002", "MAMORI-2026-0003"]

    with time_machine.travel(datetime(2027, 1, 1, 9, 0, tzinfo=UTC), tick=False):
        response = api.post("/api/cases", {"title": "New year"}, content_type="application/json")
        made.append(response.json()["tracking_id"])
    assert made[-1] == "MAMORI-2027-0001"

    ids = list(Case.objects.values_list("tracking_id", flat=True))
    assert sorted(ids) == sorted(made)
    assert len(set(ids)) == len(ids) == 4


@pytest.mark.django_db
@override_settings(MAMORI_TRACKING_PREFIX="MAMORI")
def test_a_failed_creation_does_not_use_up_a_number(api: Client) -> None:
    with time_machine.travel(datetime(2026, 6, 1, tzinfo=UTC), tick=False):
        failed = api.post(
            "/api/cases", {"title": "x", "products": ["nope"]}, content_type="application/json"
        )
        assert failed.status_code == 422
        made = api.post("/api/cases", {"title": "ok"}, content_type="application/json")
    assert made.json()["tracking_id"] == "MAMORI-2026-0001"
    assert Case.objects.count() == 1
