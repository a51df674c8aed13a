"""The public report form and the reporter's portal behind a secret tracking link.

What a tracking link shows is decided here, once: the link opens one case, and from it the
reporter sees the state a reporter sees, the description and its files, and the thread. Internal
notes, internal states, the assignee, the team, the severity and the audit trail never leave this
module: pages get ``PortalPage`` values, never a ``Case``.

Abuse controls for the public endpoints live here too: submissions are counted per client address
(``REMOTE_ADDR``; ``X-Forwarded-For`` is not trusted) and per reporter e-mail address.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Prefetch
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mamori.accounts.models import User
from mamori.accounts.services import AnyUser, create_user
from mamori.cases import receiving
from mamori.cases.models import Attachment, Case, Message, MessageKind, Via
from mamori.cases.receiving import IncomingFile, IncomingReport
from mamori.cases.services import reporter_state
from mamori.core.authz import Role
from mamori.core.channels import Channel
from mamori.core.workflow import ReporterState
from mamori.errors import Conflict, InvalidInput, NotFound, RateLimited
from mamori.intake import links, ratelimit, receipts

LANGUAGES = ("en", "ja")

#: The reporter-state labels, in the language of the page.
STATE_LABELS = {
    ReporterState.RECEIVED: gettext_lazy("Received"),
    ReporterState.UNDER_INVESTIGATION: gettext_lazy("Under investigation"),
    ReporterState.INFORMATION_REQUESTED: gettext_lazy("Information requested"),
    ReporterState.FIX_IN_PROGRESS: gettext_lazy("Fix in progress"),
    ReporterState.FIXED: gettext_lazy("Fixed"),
    ReporterState.NOT_A_VULNERABILITY: gettext_lazy("Not a vulnerability"),
    ReporterState.DUPLICATE: gettext_lazy("Duplicate of another report"),
    ReporterState.CLOSED: gettext_lazy("Closed"),
}


# Values the pages get ------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """A report from the public form, already validated by the form."""

    title: str
    description: str
    name: str = ""
    email: str = ""
    organisation: str = ""
    credit: bool = False
    files: tuple[IncomingFile, ...] = ()


@dataclass(frozen=True)
class Submitted:
    tracking_id: str
    token: str  # the secret of the tracking link; shown once


@dataclass(frozen=True)
class PortalFile:
    id: int
    filename: str
    size: int
    content_type: str


@dataclass(frozen=True)
class PortalMessage:
    author_name: str
    from_reporter: bool
    created_at: datetime
    body: str
    files: tuple[PortalFile, ...]


@dataclass(frozen=True)
class PortalPage:
    """Everything the portal shows: only what a reporter may see."""

    tracking_id: str
    title: str
    description: str
    created_at: datetime
    state: ReporterState
    files: tuple[PortalFile, ...]
    thread: tuple[PortalMessage, ...]
    has_account: bool

    @property
    def state_label(self) -> str:
        return str(STATE_LABELS[self.state])


@dataclass(frozen=True)
class NewAccount:
    username: str
    email: str
    password: str  # already checked by Django's password validators


# Helpers ------------------------------------------------------------------------------------


def language(code: str | None = None) -> str:
    """The report language for a language code (the active one by default): en or ja."""
    base = (code or translation.get_language() or "en").split("-")[0].lower()
    return base if base in LANGUAGES else "en"


def incoming_files(uploads: Iterable[UploadedFile[bytes]]) -> tuple[IncomingFile, ...]:
    """Read uploads the form accepted (each within the attachment limit) into memory."""
    return tuple(
        IncomingFile(name=upload.name or "", data=b"".join(upload.chunks())) for upload in uploads
    )


def with_credit_footer(description: str, credit: bool) -> str:
    """The description as stored: the reporter's wish to be credited in a footer (in English,
    for the response team)."""
    return f"{description.strip()}\n\n--\nCredit wanted: {'yes' if credit else 'no'}"


def _limit(key: str, limit: int, message: str) -> None:
    try:
        ratelimit.hit(key, limit)
    except RateLimited as error:
        minutes = error.retry_after // 60 + 1
        raise RateLimited(message % {"minutes": minutes}, retry_after=error.retry_after) from None


def limit_client(client_ip: str) -> None:
    """Count one public submission from ``client_ip``; ``RateLimited`` when over the limit."""
    _limit(
        f"ip:{client_ip or 'unknown'}",
        settings.MAMORI_INTAKE.report_limit_per_ip,
        _(
            "Too many submissions from your network address. "
            "Please try again in %(minutes)s minutes."
        ),
    )


def limit_address(email: str) -> None:
    """Count one report for ``email`` (compared in lower case)."""
    _limit(
        f"email:{email.strip().lower()}",
        settings.MAMORI_INTAKE.report_limit_per_address,
        _("Too many reports for this e-mail address. Please try again in %(minutes)s minutes."),
    )


def _case(token: str) -> Case:
    try:
        return links.case_for(token)
    except NotFound:
        raise NotFound(_("There is no report at this link.")) from None


def _file(attachment: Attachment) -> PortalFile:
    return PortalFile(attachment.pk, attachment.filename, attachment.size, attachment.content_type)


# The public form ----------------------------------------------------------------------------


def submit_report(submission: Submission, *, client_ip: str, user: AnyUser) -> Submitted:
    """Open a case for a report from the public form, in the active language.

    The limits are counted before anything is stored (and stay counted if storing fails). A
    logged-in reporter becomes the case's reporter; anyone else's account is not linked.
    """
    limit_client(client_ip)
    if submission.email:
        limit_address(submission.email)
    reporter = user if isinstance(user, User) and user.role_enum is Role.REPORTER else None
    report = IncomingReport(
        title=submission.title,
        description=with_credit_footer(submission.description, submission.credit),
        source=Channel.WEB,
        reporter_name=submission.name,
        reporter_email=submission.email.strip(),
        reporter_organisation=submission.organisation,
        reporter=reporter,
        language=language(),
        files=submission.files,
    )
    with transaction.atomic():
        case = receiving.receive_report(report)
        token = links.issue(case)
        receipts.send_receipt(case)
    return Submitted(case.tracking_id, token)


# The portal ---------------------------------------------------------------------------------


def open_portal(token: str) -> PortalPage:
    """The reporter's view of the case ``token`` opens; "not found" for anything else."""
    case = _case(token)
    thread = (
        Message.objects.filter(case=case, kind=MessageKind.THREAD)
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("pk")))
        .order_by("created_at", "pk")
    )
    return PortalPage(
        tracking_id=case.tracking_id,
        title=case.title,
        description=case.description,
        created_at=case.created_at,
        state=reporter_state(case),
        files=tuple(_file(a) for a in case.attachments.filter(message=None).order_by("pk")),
        thread=tuple(
            PortalMessage(
                m.author_name,
                m.from_reporter,
                m.created_at,
                m.body,
                tuple(_file(a) for a in m.attachments.all()),
            )
            for m in thread
        ),
        has_account=case.reporter_id is not None,
    )


def reply(token: str, body: str, files: tuple[IncomingFile, ...], *, client_ip: str) -> None:
    """The reporter answers through the portal; the message joins the thread."""
    case = _case(token)
    if not body.strip() and not files:
        raise InvalidInput(_("Write a message or attach a file."), field="body")
    limit_client(client_ip)
    receiving.add_reporter_message(case.pk, body, files, via=Via.PORTAL)


def attachment(token: str, attachment_id: int) -> Attachment:
    """A file of the case ``token`` opens: of the report itself or of a thread message."""
    case = _case(token)
    found = Attachment.objects.select_related("message").filter(case=case, pk=attachment_id).first()
    if found is None or (found.message is not None and found.message.kind != MessageKind.THREAD):
        raise NotFound(_("There is no such file."))
    return found


def create_account(token: str, account: NewAccount, *, client_ip: str) -> tuple[User, str]:
    """A reporter account with the chosen password, owning the case ``token`` opens.

    Returns the new user and the tracking id of the case, now theirs in the normal pages.
    """
    case = _case(token)
    if case.reporter_id is not None:
        raise InvalidInput(
            _("This report already belongs to an account. Log in to follow it."), field="__all__"
        )
    limit_client(client_ip)
    with transaction.atomic():
        try:
            user, _one_time = create_user(
                None,
                username=account.username,
                role=Role.REPORTER,
                email=account.email,
                full_name=case.reporter_name,
                organisation=case.reporter_organisation,
            )
        except Conflict:
            raise InvalidInput(_("This username is taken."), field="username") from None
        user.set_password(account.password)
        user.must_change_password = False
        user.save(update_fields=["password", "must_change_password"])
        receiving.link_reporter_account(case.pk, user)
    return user, case.tracking_id
