"""A mailbox on another server (a real dovecot, IMAPS) read into cases, idempotently."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from mamori.cases.models import Case
from mamori.intake import services
from mamori.intake.imap import ImapPoller, ImapSettings
from mamori.intake.models import InboundMessage, MailboxCursor
from tests.integration.dovecot import Dovecot

pytestmark = pytest.mark.integration


def _report(subject: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Taro <taro@example.jp>"
    message["To"] = "security@example.org"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.jp")
    message.set_content("報告です。", charset="iso-2022-jp")
    return bytes(message)


def _poller(dovecot: Dovecot, mailbox: str) -> ImapPoller:
    settings = ImapSettings(
        host=dovecot.host,
        port=dovecot.port_imaps,
        username=dovecot.username,
        password=dovecot.password,
        mailbox=mailbox,
        ca_file=dovecot.ca_file,
        timeout=10.0,
    )
    key = f"imap:{settings.username}@{settings.host}:{settings.port}/{mailbox}"
    return ImapPoller(settings, services.imap_delivery(key), services.DatabaseCursor())


def test_mail_on_another_server_becomes_cases_once_across_restarts(
    dovecot: Dovecot, transactional_db: None
) -> None:
    mailbox = f"security-{uuid.uuid4().hex[:10]}"
    dovecot.create_mailbox(mailbox)
    reports = [_report("First report"), _report("Second report"), _report("Third report")]
    dovecot.append(reports[0], mailbox)
    dovecot.append(reports[1], mailbox)

    poller = _poller(dovecot, mailbox)
    try:
        assert poller.poll_once() == 2
        assert poller.poll_once() == 0
    finally:
        poller.close()
    assert sorted(Case.objects.values_list("title", flat=True)) == [
        "First report",
        "Second report",
    ]
    assert {c.description.strip() for c in Case.objects.all()} == {"報告です。"}
    assert MailboxCursor.objects.get().last_uid == 2

    # A restart: a new poller with the cursor from the database delivers nothing old ...
    restarted = _poller(dovecot, mailbox)
    try:
        assert restarted.poll_once() == 0
        dovecot.append(reports[2], mailbox)
        assert restarted.poll_once() == 1
    finally:
        restarted.close()
    # ... and when the mailbox is rebuilt (a new UIDVALIDITY), everything is delivered again,
    # but the same messages (by Message-ID) open no new case.
    old = MailboxCursor.objects.get().uidvalidity
    assert dovecot.recreate_mailbox(mailbox) != old
    for raw in reports:
        dovecot.append(raw, mailbox)
    again = _poller(dovecot, mailbox)
    try:
        assert again.poll_once() == 3
    finally:
        again.close()
    assert Case.objects.count() == 3
    assert InboundMessage.objects.filter(channel="imap").count() == 3
