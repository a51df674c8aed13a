"""The advisories' JSON API: public texts, advisories and revisions, publishing the public site."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from mamori.advisories import services
from mamori.advisories.models import Advisory, PublicText, Revision

router = Router(tags=["advisories"])


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class FaqItem(Strict):
    question_en: str = Field(max_length=services.MAX_TEXT)
    answer_en: str = Field(max_length=services.MAX_TEXT)
    question_ja: str = Field("", max_length=services.MAX_TEXT)
    answer_ja: str = Field("", max_length=services.MAX_TEXT)


class TextOut(Schema):
    tracking_id: str
    title_en: str
    title_ja: str
    summary_en: str
    summary_ja: str
    description_en: str
    description_ja: str
    mitigations_en: str
    mitigations_ja: str
    faq: list[FaqItem]
    cwe_id: str
    cwe_name: str
    fixed_versions: dict[str, str]
    restart_required: bool
    credit: bool
    credit_name: str
    credit_organization: str
    updated_at: datetime
    updated_by: str | None
    missing: list[str]  # what a security bulletin still needs
    needs_early_advisory: bool


def _text(text: PublicText) -> TextOut:
    case = text.case
    return TextOut(
        tracking_id=case.tracking_id,
        **{name: getattr(text, name) for name in _TEXT_FIELDS},
        faq=[FaqItem(**item) for item in text.faq],
        fixed_versions=text.fixed_versions,
        updated_at=text.updated_at,
        updated_by=text.updated_by.username if text.updated_by else None,
        missing=services.missing_for_bulletin(case),
        needs_early_advisory=services.needs_early_advisory(case),
    )


_TEXT_FIELDS = (
    "title_en",
    "title_ja",
    "summary_en",
    "summary_ja",
    "description_en",
    "description_ja",
    "mitigations_en",
    "mitigations_ja",
    "cwe_id",
    "cwe_name",
    "restart_required",
    "credit",
    "credit_name",
    "credit_organization",
)


class TextIn(Strict):
    """Any subset of the public texts; a field left out is not changed."""

    title_en: str | None = Field(None, max_length=300)
    title_ja: str | None = Field(None, max_length=300)
    summary_en: str | None = Field(None, max_length=services.MAX_TEXT)
    summary_ja: str | None = Field(None, max_length=services.MAX_TEXT)
    description_en: str | None = Field(None, max_length=services.MAX_TEXT)
    description_ja: str | None = Field(None, max_length=services.MAX_TEXT)
    mitigations_en: str | None = Field(None, max_length=services.MAX_TEXT)
    mitigations_ja: str | None = Field(None, max_length=services.MAX_TEXT)
    faq: list[FaqItem] | None = Field(None, max_length=services.MAX_FAQ)
    cwe_id: str | None = Field(None, max_length=16)
    cwe_name: str | None = Field(None, max_length=300)
    fixed_versions: dict[str, str] | None = Field(None, max_length=500)
    restart_required: bool | None = None
    credit: bool | None = None
    credit_name: str | None = Field(None, max_length=200)
    credit_organization: str | None = Field(None, max_length=200)


@router.get("/cases/{tracking_id}/advisory-text", response=TextOut)
def get_text(request: HttpRequest, tracking_id: str) -> TextOut:
    return _text(services.public_text(request.user, tracking_id))


@router.put("/cases/{tracking_id}/advisory-text", response=TextOut)
def update_text(request: HttpRequest, tracking_id: str, body: TextIn) -> TextOut:
    given = body.model_dump(exclude_unset=True)
    changes = services.TextChanges(**{k: v for k, v in given.items() if v is not None})
    return _text(services.update_public_text(request.user, tracking_id, changes))


class RevisionOut(Schema):
    advisory_id: str
    number: int
    published_at: datetime
    summary: str
    published_by: str | None
    url: str


def _revision(advisory: Advisory, revision: Revision) -> RevisionOut:
    return RevisionOut(
        advisory_id=advisory.advisory_id,
        number=revision.number,
        published_at=revision.published_at,
        summary=revision.summary,
        published_by=revision.published_by.username if revision.published_by else None,
        url=services.page_url(advisory.advisory_id).removesuffix(".html")
        + f"/v{revision.number}.html",
    )


class AdvisoryOut(Schema):
    advisory_id: str
    tracking_id: str
    kind: str
    release: str | None
    superseded_by: str | None
    created_at: datetime
    url: str
    revisions: list[RevisionOut]


def _advisory(advisory: Advisory) -> AdvisoryOut:
    return AdvisoryOut(
        advisory_id=advisory.advisory_id,
        tracking_id=advisory.case.tracking_id,
        kind=advisory.kind,
        release=advisory.release.name if advisory.release else None,
        superseded_by=advisory.superseded_by.advisory_id if advisory.superseded_by else None,
        created_at=advisory.created_at,
        url=services.page_url(advisory.advisory_id),
        revisions=[_revision(advisory, r) for r in advisory.revisions.all()],
    )


@router.get("/cases/{tracking_id}/advisories", response=list[AdvisoryOut])
def list_advisories(request: HttpRequest, tracking_id: str) -> list[AdvisoryOut]:
    return [_advisory(a) for a in services.advisories_of(request.user, tracking_id)]


@router.post("/cases/{tracking_id}/early-advisory", response={201: RevisionOut})
def publish_early(request: HttpRequest, tracking_id: str) -> Status[RevisionOut]:
    revision = services.publish_early_advisory(request.user, tracking_id)
    return Status(201, _revision(revision.advisory, revision))


class ReissueIn(Strict):
    summary: str = Field(max_length=500)


@router.post("/advisories/{advisory_id}/revisions", response={201: RevisionOut})
def reissue(request: HttpRequest, advisory_id: str, body: ReissueIn) -> Status[RevisionOut]:
    revision = services.reissue(request.user, advisory_id, body.summary)
    return Status(201, _revision(revision.advisory, revision))


class SiteBuildOut(Schema):
    digest: str
    changed: bool
    files: int
    at: datetime


@router.post("/site/publish", response=SiteBuildOut)
def publish_site(request: HttpRequest) -> SiteBuildOut:
    """Rebuild the public tree from the issued revisions and swap it in (release managers)."""
    build = services.republish(request.user)
    return SiteBuildOut(digest=build.digest, changed=build.changed, files=build.files, at=build.at)
