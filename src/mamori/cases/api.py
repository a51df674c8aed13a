from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.http import FileResponse, HttpRequest
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import ConfigDict

from mamori.cases import services
from mamori.cases.models import Case, Message
from mamori.core.channels import Channel
from mamori.core.workflow import StepInput
from mamori.web.downloads import attachment_response

router = Router(tags=["cases"])


class CaseIn(Schema):
    title: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=services.MAX_TEXT)
    source: Channel = Channel.API
    products: list[str] = []
    reporter_name: str = Field("", max_length=200)
    reporter_email: str = Field("", max_length=254)
    reporter_organisation: str = Field("", max_length=200)


class CaseUpdate(Schema):
    # Unknown fields are refused, not ignored: the rating moved to /api/cases/{id}/assessment.
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=300)
    description: str | None = Field(None, max_length=services.MAX_TEXT)
    products: list[str] | None = None
    owning_team: str | None = Field(None, max_length=63)
    assignee: str | None = Field(None, max_length=150)
    reporter_name: str | None = Field(None, max_length=200)
    reporter_email: str | None = Field(None, max_length=254)
    reporter_organisation: str | None = Field(None, max_length=200)


class ReporterCaseOut(Schema):
    """What an external reporter sees of their own case."""

    tracking_id: str
    title: str
    description: str
    status: str
    created_at: datetime


class CaseOut(Schema):
    tracking_id: str
    title: str
    description: str
    status: str  # what the reporter sees
    state: str
    state_changed_at: datetime
    source: str
    reporter_name: str
    reporter_email: str
    reporter_organisation: str
    products: list[str]
    owning_team: str | None
    assignee: str | None
    cvss_score: Decimal | None
    severity: str
    priority: int
    priority_score: float
    rework_count: int
    duplicate_of: str | None
    bug_reference: str
    build_reference: str
    release_reference: str
    flags: dict[str, datetime | None]
    created_at: datetime
    updated_at: datetime


class StepIn(Schema):
    target: str = Field(min_length=1, max_length=32)
    reason: str = Field("", max_length=services.MAX_TEXT)
    duplicate_of: str = Field("", max_length=40)
    bug_reference: str = Field("", max_length=300)
    build_reference: str = Field("", max_length=300)
    release_reference: str = Field("", max_length=300)


class StepOut(Schema):
    target: str
    label: str
    permitted: bool
    missing: list[str]
    inputs: list[str]


class MessageIn(Schema):
    body: str = Field(min_length=1, max_length=services.MAX_TEXT)


class AttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str


class MessageOut(Schema):
    id: int
    author: str
    from_reporter: bool
    body: str
    created_at: datetime
    attachments: list[AttachmentOut]


class TimelineOut(Schema):
    state: str
    entered_at: datetime
    actor: str | None
    reason: str


class AuditOut(Schema):
    at: datetime
    actor: str
    action: str
    field: str
    before: str
    after: str


class FlagIn(Schema):
    flag: str = Field(min_length=1, max_length=1)
    at: datetime | None = None


class QueueQuery(Schema):
    state: list[str] = []
    product: str = ""
    team: str = ""
    assignee: str = ""
    severity: str = ""
    include_done: bool = False
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0)


def _case(case: Case, internal: bool) -> CaseOut | ReporterCaseOut:
    status = services.reporter_state(case).value
    if not internal:
        return ReporterCaseOut(
            tracking_id=case.tracking_id,
            title=case.title,
            description=case.description,
            status=status,
            created_at=case.created_at,
        )
    return CaseOut(
        tracking_id=case.tracking_id,
        title=case.title,
        description=case.description,
        status=status,
        state=case.state,
        state_changed_at=case.state_changed_at,
        source=case.source,
        reporter_name=case.reporter_name,
        reporter_email=case.reporter_email,
        reporter_organisation=case.reporter_organisation,
        products=sorted(p.slug for p in case.products.all()),
        owning_team=case.owning_team.slug if case.owning_team else None,
        assignee=case.assignee.username if case.assignee else None,
        cvss_score=case.cvss_score,
        severity=case.severity,
        priority=case.priority,
        priority_score=case.priority_score,
        rework_count=case.rework_count,
        duplicate_of=case.duplicate_of.tracking_id if case.duplicate_of else None,
        bug_reference=case.bug_reference,
        build_reference=case.build_reference,
        release_reference=case.release_reference,
        flags={flag.value: at for flag, at in services.flags(case)},
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


def _message(m: Message) -> MessageOut:
    return MessageOut(
        id=m.pk,
        author=m.author_name,
        from_reporter=m.from_reporter,
        body=m.body,
        created_at=m.created_at,
        attachments=[
            AttachmentOut(
                id=a.pk,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                sha256=a.sha256,
            )
            for a in m.attachments.all()
        ],
    )


def _show(request: HttpRequest, tracking_id: str) -> CaseOut | ReporterCaseOut:
    page = services.case_page(request.user, tracking_id)
    return _case(page.case, page.internal)


@router.get("/cases", response=list[CaseOut | ReporterCaseOut])
def list_cases(request: HttpRequest, q: Query[QueueQuery]) -> list[CaseOut | ReporterCaseOut]:
    filters = services.QueueFilter(
        tuple(q.state), q.product, q.team, q.assignee, q.severity, q.include_done
    )
    internal = services.is_internal(request.user)
    cases = services.queue(request.user, filters)[q.offset : q.offset + q.limit]
    return [_case(c, internal) for c in cases.select_related("duplicate_of")]


@router.post("/cases", response={201: CaseOut | ReporterCaseOut})
def create_case(request: HttpRequest, body: CaseIn) -> Status[CaseOut | ReporterCaseOut]:
    draft = services.CaseDraft(
        title=body.title,
        description=body.description,
        source=body.source,
        products=tuple(body.products),
        reporter_name=body.reporter_name,
        reporter_email=body.reporter_email,
        reporter_organisation=body.reporter_organisation,
    )
    case = services.create_case(request.user, draft)
    return Status(201, _show(request, case.tracking_id))


@router.get("/cases/{tracking_id}", response=CaseOut | ReporterCaseOut)
def get_case(request: HttpRequest, tracking_id: str) -> CaseOut | ReporterCaseOut:
    return _show(request, tracking_id)


@router.patch("/cases/{tracking_id}", response=CaseOut)
def update_case(request: HttpRequest, tracking_id: str, body: CaseUpdate) -> CaseOut:
    changes = services.CaseChanges(
        **{**body.model_dump(exclude_unset=True), "products": _tuple(body.products)}
    )
    services.update_case(request.user, tracking_id, changes)
    return _show(request, tracking_id)  # type: ignore[return-value]


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


@router.get("/cases/{tracking_id}/steps", response=list[StepOut])
def list_steps(request: HttpRequest, tracking_id: str) -> list[StepOut]:
    case = services.internal_case(request.user, tracking_id)
    return [
        StepOut(
            target=o.step.target.value,
            label=o.step.label,
            permitted=o.permitted,
            missing=list(o.missing),
            inputs=list(o.inputs),
        )
        for o in services.step_options(request.user, case)
    ]


@router.post("/cases/{tracking_id}/transitions", response=CaseOut)
def transition(request: HttpRequest, tracking_id: str, body: StepIn) -> CaseOut:
    given = StepInput(
        reason=body.reason,
        duplicate_of=body.duplicate_of,
        bug_reference=body.bug_reference,
        build_reference=body.build_reference,
        release_reference=body.release_reference,
    )
    services.transition(request.user, tracking_id, body.target, given)
    return _show(request, tracking_id)  # type: ignore[return-value]


@router.get("/cases/{tracking_id}/messages", response=list[MessageOut])
def list_messages(request: HttpRequest, tracking_id: str) -> list[MessageOut]:
    return [_message(m) for m in services.case_page(request.user, tracking_id).thread]


@router.post("/cases/{tracking_id}/messages", response={201: MessageOut})
def post_message(request: HttpRequest, tracking_id: str, body: MessageIn) -> Status[MessageOut]:
    return Status(201, _message(services.post_message(request.user, tracking_id, body.body)))


@router.get("/cases/{tracking_id}/notes", response=list[MessageOut])
def list_notes(request: HttpRequest, tracking_id: str) -> list[MessageOut]:
    services.internal_case(request.user, tracking_id)
    return [_message(m) for m in services.case_page(request.user, tracking_id).notes]


@router.post("/cases/{tracking_id}/notes", response={201: MessageOut})
def post_note(request: HttpRequest, tracking_id: str, body: MessageIn) -> Status[MessageOut]:
    message = services.post_message(request.user, tracking_id, body.body, internal_note=True)
    return Status(201, _message(message))


@router.post("/cases/{tracking_id}/attachments", response={201: MessageOut})
def upload(
    request: HttpRequest,
    tracking_id: str,
    files: File[list[UploadedFile]],
    body: Form[str] = "",
    note: Form[bool] = False,
) -> Status[MessageOut]:
    """Upload files (multipart) as a new message, or with ``note=true`` an internal note."""
    message = services.post_message(request.user, tracking_id, body, files, internal_note=note)
    return Status(201, _message(message))


@router.get("/cases/{tracking_id}/attachments/{attachment_id}")
def download(request: HttpRequest, tracking_id: str, attachment_id: int) -> FileResponse:
    attachment = services.get_attachment(request.user, tracking_id, attachment_id)
    return attachment_response(attachment)


@router.get("/cases/{tracking_id}/timeline", response=list[TimelineOut])
def timeline(request: HttpRequest, tracking_id: str) -> list[TimelineOut]:
    services.internal_case(request.user, tracking_id)
    return [
        TimelineOut(
            state=e.state,
            entered_at=e.entered_at,
            actor=e.actor.username if e.actor else None,
            reason=e.reason,
        )
        for e in services.case_page(request.user, tracking_id).timeline
    ]


@router.get("/cases/{tracking_id}/audit", response=list[AuditOut])
def audit(request: HttpRequest, tracking_id: str) -> list[AuditOut]:
    services.internal_case(request.user, tracking_id)
    return [
        AuditOut(
            at=e.at,
            actor=e.actor_name,
            action=e.action,
            field=e.field,
            before=e.before,
            after=e.after,
        )
        for e in services.case_page(request.user, tracking_id).audit
    ]


@router.post("/cases/{tracking_id}/flags", response=CaseOut)
def set_flag(request: HttpRequest, tracking_id: str, body: FlagIn) -> CaseOut:
    services.set_flag(request.user, tracking_id, body.flag, body.at)
    return _show(request, tracking_id)  # type: ignore[return-value]
