"""The automatic receipt: the tracking id and the secret link, in the reporter's language."""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from mamori.cases.models import Case, Message
from mamori.intake import links, outbox
from mamori.intake.models import OutboundMail


def receipt_text(case: Case, link: str) -> tuple[str, str]:
    """Subject and body of the receipt for ``case``, in the case's language."""
    with translation.override(case.language):
        subject = _("[%(id)s] We have received your report") % {"id": case.tracking_id}
        body = _(
            "Thank you for your report. We have received it and will look into it.\n"
            "\n"
            "Tracking id: %(id)s\n"
            "Subject: %(title)s\n"
            "\n"
            "You can follow your report, answer us and add files at this private link:\n"
            "%(link)s\n"
            "Keep the link to yourself: anyone who has it can read the conversation.\n"
            "\n"
            "To reply by e-mail, answer this message and keep %(id)s in the subject.\n"
            "A member of the security team will write to you within %(days)s business day(s).\n"
            "\n"
            "-- \n"
            "Security response team\n"
        ) % {
            "id": case.tracking_id,
            "title": case.title,
            "link": link,
            "days": settings.MAMORI_INTAKE.sla_first_response_days or 1,
        }
    return subject, body


def send_receipt(case: Case, *, in_reply_to: str = "") -> OutboundMail | None:
    """Queue the receipt with a new secret link; None when there is nobody to send it to."""
    if not case.reporter_email:
        return None
    subject, body = receipt_text(case, links.url(links.issue(case)))
    return outbox.queue(
        case=case,
        kind="receipt",
        to=case.reporter_email,
        subject=subject,
        body=body,
        in_reply_to=in_reply_to,
    )


def send_reply(case: Case, message: Message) -> OutboundMail | None:
    """Mail a message of the thread to a reporter who can be reached by e-mail.

    The subject carries the tracking id, so the reporter's answer joins the same thread.
    """
    if not case.reporter_email:
        return None
    with translation.override(case.language):
        subject = f"[{case.tracking_id}] {case.title}"
        footer = _(
            "You can answer by replying to this e-mail (keep %(id)s in the subject), or "
            "through the private link in our first message."
        ) % {"id": case.tracking_id}
    return outbox.queue(
        case=case,
        kind="reply",
        to=case.reporter_email,
        subject=subject,
        body=f"{message.body}\n\n-- \n{footer}\n",
    )
