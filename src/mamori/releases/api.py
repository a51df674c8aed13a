"""The releases' JSON API: release trains, out-of-band releases, publishing, subscribers."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from mamori.releases import notify, services
from mamori.releases.models import Move, Release, Subscriber

if TYPE_CHECKING:
    from mamori.cases.models import Case

router = Router(tags=["releases"])


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class ReleaseOut(Schema):
    name: str
    kind: str
    release_at: datetime
    cutoff_at: datetime | None
    notify_at: datetime | None
    state: str
    reason: str
    case_count: int  # the cases of the release that the caller may see
    published_at: datetime | None


def _release(release: Release, cases: int) -> ReleaseOut:
    return ReleaseOut(
        name=release.name,
        kind=release.kind,
        release_at=release.release_at,
        cutoff_at=release.cutoff_at,
        notify_at=release.notify_at,
        state=release.state,
        reason=release.reason,
        case_count=cases,
        published_at=release.published_at,
    )


class MoveOut(Schema):
    from_release: str | None
    to_release: str | None
    reason: str
    at: datetime
    actor: str | None


def _move(move: Move) -> MoveOut:
    return MoveOut(
        from_release=move.from_release.name if move.from_release else None,
        to_release=move.to_release.name if move.to_release else None,
        reason=move.reason,
        at=move.at,
        actor=move.actor.username if move.actor else None,
    )


class CaseInReleaseOut(Schema):
    tracking_id: str
    title: str
    state: str
    severity: str
    ready: bool
    moves: list[MoveOut]


def _case(case: Case) -> CaseInReleaseOut:
    return CaseInReleaseOut(
        tracking_id=case.tracking_id,
        title=case.title,
        state=case.state,
        severity=case.severity,
        ready=case.state == "ready_for_release",
        moves=[_move(m) for m in services.moves_of(case)],
    )


class ReleaseDetailOut(ReleaseOut):
    cases: list[CaseInReleaseOut]
    not_ready: list[str]


def _detail(request: HttpRequest, release: Release) -> ReleaseDetailOut:
    cases = services.cases_in(request.user, release)
    not_ready = services.not_ready(release, request.user)
    return ReleaseDetailOut(
        **_release(release, len(cases)).model_dump(),
        cases=[_case(c) for c in cases],
        not_ready=not_ready,
    )


@router.get("/releases", response=list[ReleaseOut])
def list_releases(request: HttpRequest) -> list[ReleaseOut]:
    user = request.user
    return [_release(r, count) for r, count in services.overview(user)]


@router.get("/releases/{name}", response=ReleaseDetailOut)
def get_release(request: HttpRequest, name: str) -> ReleaseDetailOut:
    return _detail(request, services.get_release(request.user, name))


class OutOfBandIn(Strict):
    release_at: datetime  # ISO 8601 with its offset: 2026-11-23T10:00:00+09:00
    reason: str = Field(max_length=services.MAX_REASON)
    cases: list[str] = Field(default_factory=list, max_length=200)


@router.post("/releases", response={201: ReleaseDetailOut})
def create_out_of_band(request: HttpRequest, body: OutOfBandIn) -> Status[ReleaseDetailOut]:
    release = services.create_out_of_band(
        request.user, release_at=body.release_at, reason=body.reason, tracking_ids=body.cases
    )
    return Status(201, _detail(request, release))


@router.post("/releases/{name}/publish", response=ReleaseDetailOut)
def publish(request: HttpRequest, name: str) -> ReleaseDetailOut:
    return _detail(request, services.publish(request.user, name))


class CaseReleaseIn(Strict):
    release: str = Field(max_length=40)
    reason: str = Field(max_length=services.MAX_REASON)


class CaseReleaseOut(Schema):
    tracking_id: str
    release: str
    moves: list[MoveOut]


@router.put("/cases/{tracking_id}/release", response=CaseReleaseOut)
def assign(request: HttpRequest, tracking_id: str, body: CaseReleaseIn) -> CaseReleaseOut:
    release = services.assign(request.user, tracking_id, body.release, body.reason)
    moved = next(
        c for c in services.cases_in(request.user, release) if c.tracking_id == tracking_id
    )
    return CaseReleaseOut(
        tracking_id=moved.tracking_id,
        release=release.name,
        moves=[_move(m) for m in services.moves_of(moved)],
    )


# Subscribers -----------------------------------------------------------------------------------


class SubscriberOut(Schema):
    id: int
    name: str
    kind: str
    email: str
    url: str
    active: bool
    created_at: datetime


def _subscriber(s: Subscriber) -> SubscriberOut:
    return SubscriberOut(
        id=s.pk,
        name=s.name,
        kind=s.kind,
        email=s.email,
        url=s.url,
        active=s.active,
        created_at=s.created_at,
    )


class NewSubscriberOut(SubscriberOut):
    secret: str  # a webhook's signing secret: returned this once, never again


class SubscriberIn(Strict):
    name: str = Field(max_length=200)
    email: str = Field("", max_length=254)
    url: str = Field("", max_length=500)


@router.get("/subscribers", response=list[SubscriberOut])
def list_subscribers(request: HttpRequest) -> list[SubscriberOut]:
    return [_subscriber(s) for s in notify.subscribers(request.user)]


@router.post("/subscribers", response={201: NewSubscriberOut})
def add_subscriber(request: HttpRequest, body: SubscriberIn) -> Status[NewSubscriberOut]:
    made = notify.add_subscriber(request.user, name=body.name, email=body.email, url=body.url)
    return Status(201, NewSubscriberOut(**_subscriber(made).model_dump(), secret=made.secret))


@router.delete("/subscribers/{subscriber_id}", response={204: None})
def remove_subscriber(request: HttpRequest, subscriber_id: int) -> Status[None]:
    notify.remove_subscriber(request.user, subscriber_id)
    return Status(204, None)
