"""Cases from reports that arrive without a logged-in user: mail, the public form, feeds.

The intake authenticates the sender its own way (the reporter's address, a secret tracking link,
an API token) and then calls these functions, which act as Mamori itself: the audit trail names
"mamori" as the actor. Everything a logged-in user does goes through ``mamori.cases.services``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from mamori.accounts.models import User
from mamori.cases.attachments import store_attachments
from mamori.cases.audit import AuditLog
from mamori.cases.duplicates import rank_later
from mamori.cases.models import Case, Message, MessageKind, StateEntry, Via
from mamori.cases.numbering import next_tracking_id
from mamori.cases.services import (
    MAX_TEXT,
    SYSTEM,
    clean_text,
    slugs_of,
)
from mamori.core.channels import Channel
from mamori.core.sla import BusinessCalendar
from mamori.core.workflow import State
from mamori.errors import InvalidInput, NotFound
from mamori.products import services as catalogue


@dataclass(frozen=True)
class IncomingFile:
    name: str  # as the sender named it; only ever displayed
    data: bytes


@dataclass(frozen=True)
class IncomingReport:
    title: str
    description: str
    source: Channel
    source_detail: str = ""
    reporter_name: str = ""
    reporter_email: str = ""
    reporter_organisation: str = ""
    reporter: User | None = None
    language: str = "en"
    products: tuple[str, ...] = ()  # slugs matched by the intake (feeds)
    files: tuple[IncomingFile, ...] = ()
    received_at: datetime | None = None


def calendar() -> BusinessCalendar:
    intake = settings.MAMORI_INTAKE
    return BusinessCalendar(ZoneInfo(settings.TIME_ZONE), intake.workdays, intake.holidays)


def first_response_due(received: datetime) -> datetime:
    """When the first human response to a report received at ``received`` is due."""
    return calendar().add_business_days(received, settings.MAMORI_INTAKE.sla_first_response_days)


def _title(text: str) -> str:
    """Titles come from mail subjects and feed items: one line, never empty, never too long."""
    line = " ".join(text.split())
    return (line[:297] + "...") if len(line) > 300 else (line or "(no subject)")


@transaction.atomic
def receive_report(report: IncomingReport) -> Case:
    """Open a case in ``received`` for a report; the actor in the audit trail is Mamori."""
    now = report.received_at or timezone.now()
    has_reporter = bool(report.reporter_email or report.reporter)
    case = Case(
        tracking_id=str(next_tracking_id(now)),
        title=_title(report.title),
        description=clean_text(report.description, "description", MAX_TEXT),
        source=report.source.value,
        source_detail=clean_text(report.source_detail, "source_detail", 300),
        reporter=report.reporter,
        reporter_name=clean_text(report.reporter_name, "reporter_name", 200),
        reporter_email=clean_text(report.reporter_email, "reporter_email", 254),
        reporter_organisation=clean_text(
            report.reporter_organisation, "reporter_organisation", 200
        ),
        language=report.language if report.language in ("en", "ja") else "en",
        state=State.RECEIVED.value,
        state_changed_at=now,
        created_at=now,
        vendor_aware_at=now,
        first_response_due_at=first_response_due(now) if has_reporter else None,
    )
    products = catalogue.resolve_products(report.products)
    case.save()
    case.products.set(products)
    StateEntry.objects.create(case=case, state=case.state, entered_at=now, actor=None)
    log = AuditLog(case, None, now)
    log.add("created", "state", "", case.state)
    log.add("flag", "V", "", now.isoformat())
    if products:
        log.add("update", "products", "", slugs_of(products))
    _store_files(case, None, report.files, log)
    log.save()
    rank_later(case)
    return case


def _store_files(
    case: Case, message: Message | None, incoming: Sequence[IncomingFile], log: AuditLog
) -> None:
    uploads = [SimpleUploadedFile(item.name, item.data) for item in incoming]
    store_attachments(case, message, uploads, None, log)


def case_by_id(case_id: int) -> Case:
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def case_by_tracking_id(tracking_id: str) -> Case | None:
    """For the intake's threading: the case a tracking id names, if it exists."""
    return Case.objects.filter(tracking_id=tracking_id).first()


@transaction.atomic
def add_reporter_message(
    case_id: int,
    body: str,
    incoming: Sequence[IncomingFile] = (),
    *,
    via: Via,
    author_name: str = "",
    at: datetime | None = None,
) -> Message:
    """A message from the case's reporter (authenticated by the caller) joins the thread."""
    case = Case.objects.select_for_update().get(pk=case_id)
    text = clean_text(body, "body", MAX_TEXT)
    if not text and not incoming:
        raise InvalidInput("required", field="body")
    now = at or timezone.now()
    message = Message.objects.create(
        case=case,
        kind=MessageKind.THREAD,
        via=via,
        author=case.reporter,
        author_name=author_name or case.reporter_name or case.reporter_email or "Reporter",
        from_reporter=True,
        body=text,
        created_at=now,
    )
    log = AuditLog(case, None, now)
    log.add("message", "", "", f"#{message.pk} from the reporter via {via}")
    _store_files(case, message, incoming, log)
    log.save()
    _answered(case, now)
    return message


@transaction.atomic
def post_system_note(case_id: int, body: str) -> Message:
    """An internal note written by Mamori itself (a parse error, a held message, a feed item)."""
    case = Case.objects.get(pk=case_id)
    now = timezone.now()
    note = Message.objects.create(
        case=case,
        kind=MessageKind.NOTE,
        via=Via.SYSTEM,
        author=None,
        author_name=SYSTEM,
        body=clean_text(body, "body", MAX_TEXT, required=True),
        created_at=now,
    )
    log = AuditLog(case, None, now)
    log.add("note", "", "", f"#{note.pk}")
    log.save()
    return note


@transaction.atomic
def link_reporter_account(case_id: int, user: User) -> Case:
    """A reporter who created an account from a tracking link now owns the case in the UI."""
    case = Case.objects.select_for_update().get(pk=case_id)
    if case.reporter_id is not None and case.reporter_id != user.pk:
        raise InvalidInput("this report already belongs to an account", field="account")
    log = AuditLog(case, None)
    log.change("reporter", "", user.username)
    case.reporter = user
    case.save(update_fields=["reporter", "updated_at"])
    log.save()
    return case


@transaction.atomic
def close_unanswered(days: int, *, now: datetime | None = None) -> list[str]:
    """Close cases that waited ``days`` for the reporter's information without an answer."""
    now = now or timezone.now()
    stale = Case.objects.select_for_update().filter(
        state=State.NEEDS_INFO.value, state_changed_at__lte=now - timedelta(days=days)
    )
    closed = []
    for case in stale:
        reason = f"closed automatically: no answer from the reporter within {days} days"
        log = AuditLog(case, None, now)
        log.change("state", case.state, State.CLOSED.value, action="transition")
        case.state = State.CLOSED.value
        case.state_changed_at = now
        case.save(update_fields=["state", "state_changed_at", "updated_at"])
        StateEntry.objects.create(case=case, state=case.state, entered_at=now, reason=reason)
        log.save()
        closed.append(case.tracking_id)
    return closed


def _answered(case: Case, now: datetime) -> None:
    """The reporter answered a request for information: the case goes back to triage."""
    if case.state != State.NEEDS_INFO.value:
        return
    log = AuditLog(case, None, now)
    log.change("state", case.state, State.TRIAGE.value, action="transition")
    case.state = State.TRIAGE.value
    case.state_changed_at = now
    case.save(update_fields=["state", "state_changed_at", "updated_at"])
    StateEntry.objects.create(
        case=case, state=case.state, entered_at=now, reason="the reporter answered"
    )
    log.save()


def overdue_cases(now: datetime | None = None) -> list[Case]:
    """Open cases whose first response to the reporter is overdue, the most overdue first."""
    now = now or timezone.now()
    return list(
        Case.objects.filter(first_response_at__isnull=True, first_response_due_at__lt=now)
        .filter(state__in=[s.value for s in State if s.owes_response])
        .order_by("first_response_due_at", "pk")
    )
