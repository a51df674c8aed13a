"""Mail intake: store the raw bytes first, then parse, thread and acknowledge.

``store`` is all the SMTP listener and the IMAP poller do before they answer or move on: the exact
bytes go to storage and a row records them, in that order, before anything parses them. ``process``
(run by the worker) parses the stored bytes and routes the message:

- a message naming an existing case (its tracking id in the subject, or In-Reply-To/References
  pointing at a message of that case) from the case's reporter joins the case's thread;
- the same from anyone else is *held* for an analyst, with a note on the case;
- anything else opens a new case in ``received`` and the reporter gets a receipt.

Processing never loses a message: if it fails, the message still becomes a case with the raw
message attached and the error in a note. ``recover`` processes whatever a crash left stored.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from mamori.accounts.services import AnyUser, require
from mamori.cases import receiving
from mamori.cases import services as cases
from mamori.cases.models import Case, Via
from mamori.core.authz import Action
from mamori.core.channels import Channel
from mamori.core.mail import ParsedMail, header_message_id, parse
from mamori.core.pgp import Pgp
from mamori.errors import Conflict, InvalidInput, NotFound
from mamori.intake import links, receipts
from mamori.intake.models import (
    InboundChannel,
    InboundMessage,
    InboundStatus,
    MailboxCursor,
    OutboundMail,
)

log = logging.getLogger("mamori.intake")

EMPTY = "(the message has no text)"
CLAIM = timedelta(minutes=10)  # a message being processed is not taken up again before this
_TRACKING = re.compile(r"\b([A-Z][A-Z0-9]{1,15}-[0-9]{4}-[0-9]{4,9})\b")


# Storing -------------------------------------------------------------------------------------


def _dedupe_key(raw: bytes, message_id: str) -> str:
    basis = b"message-id:" + message_id.encode("utf-8", "replace") if message_id else raw
    return hashlib.sha256(basis).hexdigest()


@dataclass(frozen=True)
class Stored:
    inbound: InboundMessage
    created: bool  # False: the same message (by Message-ID) was stored before


def store(
    raw: bytes,
    *,
    channel: str,
    peer: str = "",
    envelope_from: str = "",
    envelope_to: Sequence[str] = (),
) -> Stored:
    """Keep the exact bytes and record them; idempotent by Message-ID (or by content)."""
    message_id = header_message_id(raw)
    key = _dedupe_key(raw, message_id)
    existing = InboundMessage.objects.filter(dedupe_key=key).first()
    if existing is not None:
        return Stored(existing, created=False)
    inbound = InboundMessage(
        channel=channel,
        peer=peer[:300],
        envelope_from=envelope_from[:320],
        envelope_to="\n".join(envelope_to),
        message_id=message_id[:998],
        dedupe_key=key,
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
    )
    inbound.raw.save("raw.eml", ContentFile(raw), save=False)
    try:
        with transaction.atomic():
            inbound.save()
    except IntegrityError:  # stored concurrently by another listener or poller
        if inbound.raw.name:
            inbound.raw.storage.delete(inbound.raw.name)
        return Stored(InboundMessage.objects.get(dedupe_key=key), created=False)
    transaction.on_commit(lambda: _enqueue(inbound.pk))
    return Stored(inbound, created=True)


def _enqueue(inbound_id: int) -> None:
    from mamori.intake.tasks import process_message

    process_message.enqueue(inbound_id)


# Processing ----------------------------------------------------------------------------------


def _pgp() -> Pgp | None:
    intake = settings.MAMORI_INTAKE
    home = intake.gnupg_home
    if not home.is_dir():
        return None
    from mamori.intake.gpg import GnuPG

    return GnuPG(home, passphrase=intake.gpg_passphrase or None)


def _raw_bytes(inbound: InboundMessage) -> bytes:
    with inbound.raw.open("rb") as handle:
        return bytes(handle.read())


def process(inbound_id: int) -> str:
    """Parse and route one stored message; a message already processed is left alone."""
    now = timezone.now()
    with transaction.atomic():
        inbound = InboundMessage.objects.select_for_update().filter(pk=inbound_id).first()
        if inbound is None or inbound.status != InboundStatus.STORED:
            return inbound.status if inbound else "missing"
        if inbound.claimed_at is not None and inbound.claimed_at > now - CLAIM:
            return "claimed"  # another processor is at work on it
        inbound.attempts += 1
        inbound.claimed_at = now
        inbound.save(update_fields=["attempts", "claimed_at"])
    raw = _raw_bytes(inbound)
    try:
        parsed = parse(
            raw, pgp=_pgp(), max_attachment_bytes=int(settings.MAMORI_MAX_ATTACHMENT_BYTES)
        )
        with transaction.atomic():
            _record_parse(inbound, parsed)
            _route(inbound, parsed, raw)
    except Exception as error:  # never drop a message: it becomes a case with the raw bytes
        log.exception("processing inbound message %s failed", inbound_id)
        _unreadable(inbound, raw, f"{type(error).__name__}: {error}")
    return str(InboundMessage.objects.get(pk=inbound_id).status)


def recover(*, older_than: timedelta = timedelta(0), limit: int | None = None) -> int:
    """Process every message a crash left stored but unprocessed. Returns how many.

    Run when the listener starts and by the worker's clock (for messages stored longer than a
    minute, in case their processing task was lost with a crash right after the commit).
    """
    now = timezone.now()
    pending = list(
        InboundMessage.objects.filter(
            status=InboundStatus.STORED, received_at__lte=now - older_than
        )
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in pending:
        process(pk)
    return len(pending)


def _record_parse(inbound: InboundMessage, parsed: ParsedMail) -> None:
    inbound.subject = parsed.subject[:300]
    inbound.from_name = parsed.from_name[:200]
    inbound.from_address = parsed.from_address[:320]
    inbound.encryption = parsed.encryption.value
    inbound.signature = parsed.verification.signature.value
    inbound.signer_fingerprint = parsed.verification.fingerprint[:64]
    inbound.pgp_detail = parsed.pgp_detail
    inbound.problems = list(parsed.problems)


def _sender(inbound: InboundMessage, parsed: ParsedMail) -> str:
    return (parsed.from_address or parseaddr(inbound.envelope_from)[1]).strip().lower()


def _referenced_case(parsed: ParsedMail) -> Case | None:
    """The case a message refers to: a tracking id in the subject, or a known Message-ID."""
    for tracking_id in _TRACKING.findall(parsed.subject):
        case = receiving.case_by_tracking_id(tracking_id)
        if case is not None:
            return case
    ids = [i for i in (parsed.in_reply_to, *parsed.references) if i]
    if not ids:
        return None
    ours = OutboundMail.objects.filter(message_id__in=ids, case__isnull=False).first()
    if ours is not None:
        return ours.case
    theirs = InboundMessage.objects.filter(
        message_id__in=ids, case__isnull=False, status=InboundStatus.PROCESSED
    ).first()
    return theirs.case if theirs is not None else None


def _is_reporter(case: Case, sender: str) -> bool:
    known = {case.reporter_email.lower()}
    if case.reporter is not None and case.reporter.email:
        known.add(case.reporter.email.lower())
    return bool(sender) and sender in known


def _files(parsed: ParsedMail, raw: bytes = b"") -> tuple[receiving.IncomingFile, ...]:
    """The message's attachments; with ``raw``, the raw message too when parsing had problems,
    and the whole text when it is too long for a case."""
    found = [
        receiving.IncomingFile(a.filename, a.data) for a in parsed.attachments if not a.refused
    ]
    if raw and parsed.problems:
        found.append(receiving.IncomingFile("message.eml", raw))
    if len(parsed.text) > cases.MAX_TEXT:
        found.append(receiving.IncomingFile("message.txt", parsed.text.encode("utf-8")))
    return tuple(f for f in found if _fits(f.data))


def _fits(data: bytes) -> bool:
    """Files over the attachment limit stay out of the case; the raw message keeps them."""
    return len(data) <= int(settings.MAMORI_MAX_ATTACHMENT_BYTES)


_CUT = "\n\n[The text is longer than a case holds; the whole text is attached as message.txt.]"


def _text(parsed: ParsedMail) -> str:
    """The text a case or a thread message holds: all of it, or its start and a pointer."""
    if len(parsed.text) <= cases.MAX_TEXT:
        return parsed.text or EMPTY
    return parsed.text[: cases.MAX_TEXT - len(_CUT)] + _CUT


def _findings(parsed: ParsedMail) -> str:
    """What an analyst should know about how the message arrived."""
    lines = []
    if parsed.encryption.value != "none":
        lines.append(f"OpenPGP: {parsed.encryption.value}. {parsed.pgp_detail}".strip())
    if parsed.verification.signature.value != "none":
        who = parsed.verification.signer or parsed.verification.fingerprint
        lines.append(f"Signature: {parsed.verification.signature.value} {who}".strip())
    lines += [
        f"Attachment refused: {a.filename}: {a.refused}" for a in parsed.attachments if a.refused
    ]
    lines += [f"Parse problem: {problem}" for problem in parsed.problems]
    if parsed.html_converted:
        lines.append("The message had no plain-text part; its HTML was converted to text.")
    return "\n".join(lines)


def _route(inbound: InboundMessage, parsed: ParsedMail, raw: bytes) -> None:
    sender = _sender(inbound, parsed)
    case = _referenced_case(parsed)
    now = timezone.now()
    if case is not None and _is_reporter(case, sender):
        message = receiving.add_reporter_message(
            case.pk,
            _text(parsed),
            _files(parsed, raw),
            via=Via.EMAIL,
            author_name=parsed.from_name,
        )
        inbound.thread_message = message
        inbound.status = InboundStatus.PROCESSED
    elif case is not None:
        inbound.status = InboundStatus.HELD
        who = sender or "an unknown sender"
        inbound.held_reason = f"{who} wrote about {case.tracking_id} but is not its reporter"
        receiving.post_system_note(
            case.pk,
            f"A message from {sender or 'an unknown sender'} that refers to this case is held "
            f"for an analyst: “{parsed.subject}”. Review it under “Received mail”.",
        )
    else:
        case = receiving.receive_report(
            receiving.IncomingReport(
                title=parsed.subject,
                description=_text(parsed),
                source=Channel.EMAIL,
                source_detail=", ".join(inbound.envelope_to.split("\n"))[:300],
                reporter_name=parsed.from_name,
                reporter_email=sender,
                language=_language(inbound, parsed),
                files=_files(parsed, raw),
                received_at=inbound.received_at,
            )
        )
        inbound.status = InboundStatus.PROCESSED
        if not parsed.auto_submitted and sender:
            receipts.send_receipt(case, in_reply_to=parsed.message_id)
    findings = _findings(parsed)
    if findings and inbound.status == InboundStatus.PROCESSED:
        receiving.post_system_note(
            case.pk, f"About the message received {now:%Y-%m-%d %H:%M}:\n{findings}"
        )
    inbound.case = case
    inbound.processed_at = now
    inbound.save()


def _language(inbound: InboundMessage, parsed: ParsedMail) -> str:
    recipients = set(inbound.envelope_to.lower().split("\n"))
    for address in settings.MAMORI_INTAKE.addresses:
        if address.address in recipients and address.language == "ja":
            return "ja"
    return parsed.language


def _unreadable(inbound: InboundMessage, raw: bytes, error: str) -> None:
    """The last resort: a case in ``received`` with the raw message attached and the error."""
    with transaction.atomic():
        inbound = InboundMessage.objects.select_for_update().get(pk=inbound.pk)
        if inbound.status != InboundStatus.STORED:
            return
        sender = parseaddr(inbound.envelope_from)[1].lower()
        case = receiving.receive_report(
            receiving.IncomingReport(
                title=f"Unreadable message from {sender or 'an unknown sender'}",
                description="This message could not be read; the raw message is attached.",
                source=Channel.EMAIL,
                reporter_email=sender,
                files=(receiving.IncomingFile("message.eml", raw),) if _fits(raw) else (),
                received_at=inbound.received_at,
            )
        )
        receiving.post_system_note(case.pk, f"Parse error: {error}")
        if sender:
            receipts.send_receipt(case)
        inbound.status = InboundStatus.PROCESSED
        inbound.error = error[:5000]
        inbound.case = case
        inbound.processed_at = timezone.now()
        inbound.save()


# For analysts --------------------------------------------------------------------------------


def received_mail(user: AnyUser, tracking_id: str) -> QuerySet[InboundMessage]:
    """Every stored message of a case, held ones included (internal users only)."""
    case = cases.internal_case(user, tracking_id)
    return InboundMessage.objects.filter(case=case).order_by("received_at", "pk")


def held(user: AnyUser) -> QuerySet[InboundMessage]:
    cases.ensure_internal(user)
    visible = cases.visible_cases(user).values("pk")
    return InboundMessage.objects.filter(
        Q(status=InboundStatus.HELD) & Q(case__in=visible)
    ).select_related("case")


def raw_message(user: AnyUser, tracking_id: str, inbound_id: int) -> InboundMessage:
    found = received_mail(user, tracking_id).filter(pk=inbound_id).first()
    if found is None:
        raise NotFound(f"no received message {inbound_id} on {tracking_id}")
    return found


@transaction.atomic
def release_held(user: AnyUser, tracking_id: str, inbound_id: int, *, into_thread: bool) -> None:
    """An analyst decides about a held message: into the thread (as the reporter's) or discard."""

    actor = require(user, Action.CASE_TRIAGE)
    inbound = raw_message(actor, tracking_id, inbound_id)
    inbound = InboundMessage.objects.select_for_update().get(pk=inbound.pk)
    if inbound.status != InboundStatus.HELD:
        raise Conflict("this message is not held")
    if into_thread:
        parsed = parse(_raw_bytes(inbound), pgp=_pgp())
        message = receiving.add_reporter_message(
            inbound.case_id or 0,
            _text(parsed),
            _files(parsed),
            via=Via.EMAIL,
            author_name=parsed.from_name or parsed.from_address,
        )
        inbound.thread_message = message
        inbound.status = InboundStatus.RELEASED
    else:
        inbound.status = InboundStatus.DISCARDED
    inbound.held_reason += (
        f"\n{actor.username}: {'added to the thread' if into_thread else 'discarded'}"
    )
    inbound.save()


# The IMAP poller's storage side -------------------------------------------------------------


class DatabaseCursor:
    """Where the IMAP poller stopped, per mailbox (``mamori.intake.imap.Cursor``)."""

    def load(self, key: str) -> tuple[int, int] | None:
        row = MailboxCursor.objects.filter(key=key).first()
        return None if row is None else (row.uidvalidity, row.last_uid)

    def save(self, key: str, uidvalidity: int, last_uid: int) -> None:
        MailboxCursor.objects.update_or_create(
            key=key, defaults={"uidvalidity": uidvalidity, "last_uid": last_uid}
        )


def imap_delivery(mailbox: str) -> Callable[[bytes], Stored]:
    """The poller's ``deliver``: store the bytes (idempotent by Message-ID) and commit."""

    def deliver(raw: bytes) -> Stored:
        return store(raw, channel=InboundChannel.IMAP, peer=mailbox)

    return deliver


# Reports through the API (coordinators, support engineers, monitoring tools) -----------------


@dataclass(frozen=True)
class ApiReport:
    title: str
    description: str
    source: str = ""  # chosen by internal users only; others get their token's channel
    source_detail: str = ""  # the coordinator's case number, the list's name, ...
    reporter_name: str = ""
    reporter_email: str = ""
    reporter_organisation: str = ""
    language: str = "en"


_API_SOURCES = {c.value for c in Channel} - {Channel.INTERNAL.value}


def submit_report(user: AnyUser, token_source: str, report: ApiReport) -> tuple[Case, str]:
    """Open a case from an API submission; returns the case and its secret tracking link.

    Internal users may name the source and the reporter they submit for. Everyone else is
    recorded as themselves, on their token's channel (coordinator, support, ...) or "api".
    """

    actor = require(user, Action.CASE_CREATE)
    if actor.is_internal:
        source = report.source or token_source or Channel.API.value
        if source not in _API_SOURCES:
            raise InvalidInput(f"must be one of {', '.join(sorted(_API_SOURCES))}", field="source")
        name, email, organisation = (
            report.reporter_name,
            report.reporter_email,
            report.reporter_organisation,
        )
    else:
        if report.source and report.source != (token_source or Channel.API.value):
            raise InvalidInput("the source is set by your token", field="source")
        source = token_source or Channel.API.value
        name = actor.get_full_name() or actor.username
        email, organisation = actor.email, actor.organisation
    with transaction.atomic():
        case = receiving.receive_report(
            receiving.IncomingReport(
                title=report.title,
                description=report.description,
                source=Channel(source),
                source_detail=report.source_detail,
                reporter_name=name,
                reporter_email=email,
                reporter_organisation=organisation,
                reporter=None if actor.is_internal else actor,
                language=report.language,
            )
        )
        token = links.issue(case)
        if email and not actor.is_internal:
            receipts.send_receipt(case)
    return case, links.url(token)
