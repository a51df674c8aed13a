"""Outgoing mail: queued in the transaction that causes it, sent by the worker, retried.

A message is a row first (``OutboundMail``), so nothing is sent for a change that rolled back and
nothing is lost when the outgoing server is down: the worker retries with backoff and the failure
stays visible. Without ``MAMORI_OUTGOING_SMTP_URL`` mail stays queued.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone

from mamori.cases.models import Case
from mamori.intake.models import OutboundMail, OutboundStatus

log = logging.getLogger("mamori.intake.outbox")

MAX_ATTEMPTS = 12  # with doubling backoff from 30 s: about a day and a half of trying
_FIRST_RETRY = timedelta(seconds=30)
_LEASE = timedelta(minutes=10)  # a claimed message is not claimed again before this


def _domain() -> str:
    return str(settings.MAMORI_INTAKE.mail_from).rsplit("@", 1)[-1]


def _one_line(text: str) -> str:
    """Header values never carry line breaks (no header injection through case data)."""
    return " ".join(text.split())[:300]


def queue(
    *,
    case: Case | None,
    kind: str,
    to: str,
    subject: str,
    body: str,
    in_reply_to: str = "",
) -> OutboundMail:
    """Queue a message; it is handed to the worker when the surrounding transaction commits."""
    mail = OutboundMail.objects.create(
        case=case,
        kind=kind,
        message_id=make_msgid(domain=_domain()),
        in_reply_to=_one_line(in_reply_to),
        to=_one_line(to),
        subject=_one_line(subject),
        body=body,
    )
    transaction.on_commit(lambda: _enqueue(mail.pk))
    return mail


def _enqueue(mail_id: int) -> None:
    from mamori.intake.tasks import send_mail

    send_mail.enqueue(mail_id)


def _message(mail: OutboundMail) -> EmailMessage:
    headers = {
        "Message-ID": mail.message_id,
        "Auto-Submitted": "auto-replied" if mail.kind == "receipt" else "auto-generated",
    }
    if mail.in_reply_to:
        headers["In-Reply-To"] = mail.in_reply_to
        headers["References"] = mail.in_reply_to
    return EmailMessage(
        subject=mail.subject,
        body=mail.body,
        from_email=settings.MAMORI_INTAKE.mail_from,
        to=[mail.to],
        headers=headers,
    )


def send(mail_id: int) -> str:
    """Try to send one message now, if it is due; returns its status. Safe to call twice.

    The row is claimed in a short transaction (its next attempt pushed past a lease), and the
    SMTP conversation happens outside any transaction, so a slow server never holds a lock.
    """
    now = timezone.now()
    with transaction.atomic():
        mail = OutboundMail.objects.select_for_update().filter(pk=mail_id).first()
        if mail is None:
            return "missing"
        if (
            mail.status in (OutboundStatus.SENT, OutboundStatus.GAVE_UP)
            or mail.next_attempt_at > now
        ):
            return str(mail.status)
        if settings.MAMORI_INTAKE.outgoing is None:
            mail.last_error = "no outgoing mail server is configured (MAMORI_OUTGOING_SMTP_URL)"
            mail.save(update_fields=["last_error"])
            return str(mail.status)
        mail.attempts += 1
        mail.next_attempt_at = now + _LEASE
        mail.save(update_fields=["attempts", "next_attempt_at"])
    try:
        with get_connection(fail_silently=False) as connection:
            connection.send_messages([_message(mail)])
    except (smtplib.SMTPException, OSError) as error:
        _failed(mail, f"{type(error).__name__}: {error}")
    else:
        mail.status = OutboundStatus.SENT
        mail.sent_at = timezone.now()
        mail.last_error = ""
    mail.save(update_fields=["status", "sent_at", "last_error", "next_attempt_at"])
    return str(mail.status)


def _failed(mail: OutboundMail, reason: str) -> None:
    log.warning(
        "sending %s to %s failed (attempt %d): %s", mail.kind, mail.to, mail.attempts, reason
    )
    mail.last_error = reason[:2000]
    if mail.attempts >= MAX_ATTEMPTS:
        mail.status = OutboundStatus.GAVE_UP
        return
    mail.status = OutboundStatus.FAILED
    mail.next_attempt_at = timezone.now() + _FIRST_RETRY * (2 ** (mail.attempts - 1))


def retry_due() -> int:
    """Send every queued or failed message whose time has come (run by the worker's clock)."""
    due = OutboundMail.objects.filter(
        status__in=[OutboundStatus.QUEUED, OutboundStatus.FAILED],
        next_attempt_at__lte=timezone.now(),
    ).values_list("pk", flat=True)
    return sum(1 for pk in list(due[:500]) if send(pk) == OutboundStatus.SENT)
