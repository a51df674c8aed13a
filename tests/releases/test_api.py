"""The releases API: release managers plan and refuse to publish what is not ready, engineers read
only their teams' cases, everything else is refused with the field or the role."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from mamori.cases import services as cases
from mamori.core.authz import Role
from mamori.releases import services as releases
from mamori.releases.models import Release, Subscriber
from tests import factories
from tests.releases.test_views import engineer, manager, out_of_band, planned_after, world

__all__ = ["engineer", "manager", "world"]  # the fixtures, shared with the page tests


def send(client, method: str, path: str, body: dict[str, object]):
    return getattr(client, method)(path, body, content_type="application/json")


@pytest.mark.django_db
def test_the_trains_and_one_release_as_each_role_sees_them(
    manager, engineer, world, api_for
) -> None:
    found = api_for(manager).get("/api/releases")
    assert found.status_code == 200
    by_name = {r["name"]: r for r in found.json()}
    assert by_name[world.train]["case_count"] == 2
    assert by_name[world.train]["kind"] == "monthly"
    assert by_name[world.train]["cutoff_at"] is not None
    assert len([r for r in by_name.values() if r["kind"] == "monthly"]) >= 12

    mine = {r["name"]: r for r in api_for(engineer).get("/api/releases").json()}
    assert mine[world.train]["case_count"] == 1

    detail = api_for(manager).get(f"/api/releases/{world.train}").json()
    assert [c["tracking_id"] for c in detail["cases"]] == sorted([world.portal, world.billing])
    assert detail["not_ready"] == sorted(
        [f"{world.portal} is in development", f"{world.billing} is in development"]
    )
    first = detail["cases"][0]
    assert first["ready"] is False and first["state"] == "in_development"
    assert first["moves"][0]["to_release"] == world.train
    assert first["moves"][0]["from_release"] is None

    theirs = api_for(engineer).get(f"/api/releases/{world.train}").json()
    assert [c["tracking_id"] for c in theirs["cases"]] == [world.portal]
    assert theirs["not_ready"] == [f"{world.portal} is in development"]
    assert api_for(manager).get("/api/releases/NO-SUCH").status_code == 404


@pytest.mark.django_db
def test_reporters_are_refused(world, api_for) -> None:
    reporter = api_for(factories.user(Role.REPORTER))
    assert reporter.get("/api/releases").status_code == 403
    assert reporter.get(f"/api/releases/{world.train}").status_code == 403
    assert reporter.get("/api/subscribers").status_code == 403


@pytest.mark.django_db
def test_an_out_of_band_release_is_created_with_its_cases(manager, world, api_for) -> None:
    api = api_for(manager)
    response = send(
        api,
        "post",
        "/api/releases",
        {
            "release_at": "2030-01-15T10:00:00+09:00",
            "reason": "exploited in the wild",
            "cases": [world.portal],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "OOB-2030-01-15-1"  # the date in MAMORI_TIME_ZONE (UTC here)
    assert body["kind"] == "out_of_band" and body["reason"] == "exploited in the wild"
    assert [c["tracking_id"] for c in body["cases"]] == [world.portal]
    stored = Release.objects.get(name=body["name"])
    assert stored.release_at == datetime(2030, 1, 15, 1, 0, tzinfo=ZoneInfo("UTC"))
    train = api.get(f"/api/releases/{world.train}").json()
    assert [c["tracking_id"] for c in train["cases"]] == [world.billing]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"release_at": "2030-01-15T10:00:00", "reason": "no zone"}, "release_at"),
        ({"release_at": "tomorrow", "reason": "x"}, "release_at"),
        ({"release_at": "2030-01-15T10:00:00Z", "reason": " "}, "reason"),
        ({"release_at": "2030-01-15T10:00:00Z", "reason": "x", "name": "mine"}, "name"),
    ],
)
def test_a_refused_out_of_band_release_names_the_field(manager, world, api_for, body, field):
    response = send(api_for(manager), "post", "/api/releases", body)
    assert response.status_code == 422
    assert field in [d["field"] for d in response.json()["detail"]]
    assert not Release.objects.filter(kind="out_of_band").exists()


@pytest.mark.django_db
def test_only_release_managers_create_move_and_publish(analyst, engineer, world, api_for) -> None:
    later = planned_after(world.train)
    for user in (analyst, engineer):
        api = api_for(user)
        made = send(
            api,
            "post",
            "/api/releases",
            {"release_at": "2030-01-15T10:00:00Z", "reason": "x", "cases": []},
        )
        assert made.status_code == 403
        moved = send(
            api, "put", f"/api/cases/{world.portal}/release", {"release": later, "reason": "x"}
        )
        assert moved.status_code == 403
        assert api.post(f"/api/releases/{world.train}/publish").status_code == 403
    assert not Release.objects.filter(kind="out_of_band").exists()
    assert releases.release_of(cases.get_case(analyst, world.portal)).name == world.train


@pytest.mark.django_db
def test_a_case_moves_with_a_reason(manager, world, api_for) -> None:
    api = api_for(manager)
    later = planned_after(world.train)
    path = f"/api/cases/{world.portal}/release"
    missing = send(api, "put", path, {"release": later, "reason": ""})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["field"] == "reason"
    extra = send(api, "put", path, {"release": later, "reason": "x", "force": True})
    assert extra.status_code == 422 and "force" in extra.content.decode()
    assert send(api, "put", path, {"release": "1999-01", "reason": "x"}).status_code == 404

    response = send(api, "put", path, {"release": later, "reason": "needs a new API"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["release"] == later
    assert (body["moves"][-1]["from_release"], body["moves"][-1]["to_release"]) == (
        world.train,
        later,
    )
    assert body["moves"][-1]["reason"] == "needs a new API"
    assert releases.release_of(cases.get_case(manager, world.portal)).name == later


@pytest.mark.django_db
def test_publishing_what_is_not_ready_is_refused_with_the_list(manager, world, api_for) -> None:
    api = api_for(manager)
    refused = api.post(f"/api/releases/{world.train}/publish")
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "gate_refused"
    assert body["missing"] == [
        f"every case ready for release: {tid} is in development"
        for tid in sorted([world.portal, world.billing])
    ]
    empty = out_of_band(manager)
    refused = api.post(f"/api/releases/{empty}/publish")
    assert refused.status_code == 409
    assert refused.json()["message"] == f"release {empty} has no cases to publish"
    assert api.post("/api/releases/NO-SUCH/publish").status_code == 404
    assert not Release.objects.filter(state="published").exists()


@pytest.mark.django_db
def test_subscribers_through_the_api(manager, api_for) -> None:
    api = api_for(manager)
    hook = send(
        api, "post", "/api/subscribers", {"name": "SOC", "url": "https://soc.example.com/h"}
    )
    assert hook.status_code == 201, hook.content
    secret = hook.json()["secret"]
    assert len(secret) >= 32 and hook.json()["kind"] == "webhook"
    mail = send(api, "post", "/api/subscribers", {"name": "Ops", "email": "ops@example.com"})
    assert mail.status_code == 201 and mail.json()["secret"] == ""

    listed = api.get("/api/subscribers")
    assert [s["name"] for s in listed.json()] == ["Ops", "SOC"]
    assert secret not in listed.content.decode()

    gone = api.delete(f"/api/subscribers/{hook.json()['id']}")
    assert gone.status_code == 204
    assert not Subscriber.objects.get(name="SOC").active
    assert api.delete("/api/subscribers/99999").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x"}, "url"),
        ({"name": "x", "email": "nope"}, "email"),
        ({"name": "x", "url": "javascript:alert(1)"}, "url"),
        ({"name": "x", "email": "a@example.com", "secret": "mine"}, "secret"),
        ({"email": "a@example.com"}, "name"),
    ],
)
def test_a_refused_subscriber_names_the_field(manager, api_for, body, field) -> None:
    response = send(api_for(manager), "post", "/api/subscribers", body)
    assert response.status_code == 422
    assert field in [d["field"] for d in response.json()["detail"]]
    assert not Subscriber.objects.exists()


@pytest.mark.django_db
def test_only_release_managers_manage_subscribers(analyst, api_for) -> None:
    hook = Subscriber.objects.create(name="Ops", kind="email", email="ops@example.com")
    api = api_for(analyst)
    assert api.get("/api/subscribers").status_code == 403
    made = send(api, "post", "/api/subscribers", {"name": "x", "email": "x@example.com"})
    assert made.status_code == 403
    assert api.delete(f"/api/subscribers/{hook.pk}").status_code == 403
    assert list(Subscriber.objects.values_list("name", "active")) == [("Ops", True)]


@pytest.mark.django_db
def test_two_out_of_band_releases_on_one_day_are_numbered(manager, api_for) -> None:
    api = api_for(manager)
    at = (timezone.now() + timedelta(days=1)).isoformat()
    first = send(api, "post", "/api/releases", {"release_at": at, "reason": "one"}).json()
    second = send(api, "post", "/api/releases", {"release_at": at, "reason": "two"}).json()
    assert first["name"].endswith("-1") and second["name"].endswith("-2")
    assert first["name"][:-2] == second["name"][:-2]
