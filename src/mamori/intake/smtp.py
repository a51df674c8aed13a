"""The SMTP listener of the security mailbox (aiosmtpd).

It accepts mail for the configured security addresses only, refuses messages over the size limit
and messages with an attachment over the attachment limit (552, with the reason, and recorded),
and answers 250 only after the exact bytes are stored and committed — so a message the listener
accepted is never lost, and one it could not store is retried by the sending server (451).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.conf import settings
from django.db import connection

from mamori.intake import services
from mamori.intake.models import InboundChannel, SmtpRefusal

log = logging.getLogger("mamori.intake.smtp")

MIB = 1024 * 1024


def _mib(size: int) -> str:
    return f"{size / MIB:.1f} MiB"


def oversized_attachment(raw: bytes, limit: int) -> tuple[str, int] | None:
    """The first attachment whose decoded size is over ``limit``, as (name, size); else None.

    Only the MIME structure is read; nothing is unpacked. Unreadable structure is not refused
    here — the parser records it and the message is kept.
    """
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        for part in message.walk():
            if part.is_multipart():
                continue
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            if size > limit:
                name = part.get_filename() or part.get_content_type()
                return str(name)[:100], size
    except Exception:
        return None
    return None


def _record_refusal(session: Session, envelope: Envelope, size: int | None, reply: str) -> None:
    try:
        SmtpRefusal.objects.create(
            peer=str(session.peer or "")[:300],
            envelope_from=str(envelope.mail_from or "")[:320],
            envelope_to="\n".join(envelope.rcpt_tos),
            size=size,
            reply=reply[:500],
        )
    finally:
        connection.close()  # executor threads outlive the listener; keep no connection open


def _store(session: Session, envelope: Envelope) -> services.Stored:
    raw = envelope.original_content
    assert isinstance(raw, bytes)
    try:
        return services.store(
            raw,
            channel=InboundChannel.SMTP,
            peer=str(session.peer or ""),
            envelope_from=str(envelope.mail_from or ""),
            envelope_to=list(envelope.rcpt_tos),
        )
    finally:
        connection.close()


class MailboxHandler:
    """aiosmtpd hooks: who may receive, and what happens to a message's bytes."""

    def __init__(self, addresses: frozenset[str], max_attachment_bytes: int) -> None:
        self.addresses = addresses
        self.max_attachment_bytes = max_attachment_bytes

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.strip().lower() not in self.addresses:
            return f"550 5.1.1 <{address[:200]}>: no such mailbox here"
        envelope.rcpt_tos.append(address.strip().lower())
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        assert isinstance(raw, bytes)
        loop = asyncio.get_running_loop()
        big = oversized_attachment(raw, self.max_attachment_bytes)
        if big is not None:
            name, size = big
            reply = (
                f"552 5.3.4 Attachment {name!r} is {_mib(size)}; attachments are limited to "
                f"{_mib(self.max_attachment_bytes)}. Please send large files through "
                f"{settings.MAMORI_INTAKE.public_url}/report/ or ask us for another way."
            )
            await loop.run_in_executor(None, _record_refusal, session, envelope, len(raw), reply)
            return reply
        try:
            stored = await loop.run_in_executor(None, _store, session, envelope)
        except Exception:
            log.exception("storing a message from %s failed", envelope.mail_from)
            return "451 4.3.0 Could not store the message; please try again later"
        return f"250 2.0.0 OK: stored as {stored.inbound.pk}"


class MailboxSMTP(SMTP):
    """aiosmtpd's SMTP, with its size refusals explained to the sender and recorded."""

    async def push(self, status: Any) -> None:
        text = status.decode("ascii", "replace") if isinstance(status, bytes) else str(status)
        if text.startswith("552 Error:"):
            limit = self.data_size_limit or 0
            text = (
                f"552 5.3.4 Message too big: at most {_mib(limit)} are accepted. Please send "
                f"large files through {settings.MAMORI_INTAKE.public_url}/report/."
            )
            envelope = self.envelope or Envelope()
            session = self.session
            loop = asyncio.get_running_loop()
            if session is not None:
                await loop.run_in_executor(None, _record_refusal, session, envelope, None, text)
        await super().push(text)


class MailboxController(Controller):
    def factory(self) -> SMTP:
        return MailboxSMTP(self.handler, **self.SMTP_kwargs)


def controller(host: str = "", port: int = 0) -> MailboxController:
    """A listener for the configured addresses, on ``host:port`` (defaults from settings)."""
    intake = settings.MAMORI_INTAKE
    handler = MailboxHandler(
        frozenset(a.address for a in intake.addresses), int(settings.MAMORI_MAX_ATTACHMENT_BYTES)
    )
    return MailboxController(
        handler,
        hostname=host or intake.smtp_host,
        port=port if port else intake.smtp_port,
        data_size_limit=intake.max_message_bytes,
        server_hostname="mamori",
        ident="Mamori security mailbox",
    )


def serve(host: str, port: int, wait: Callable[[], object]) -> None:
    """Run the listener until ``wait`` returns (the CLI waits for a signal)."""
    recovered = services.recover()
    if recovered:
        log.info("processed %d messages left stored by an earlier run", recovered)
    listener = controller(host, port)
    listener.start()
    log.info("SMTP listener on %s:%s", listener.hostname, listener.port)
    try:
        wait()
    finally:
        listener.stop()
