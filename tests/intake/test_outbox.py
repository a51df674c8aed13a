"""Outgoing mail survives a dead server: retried with backoff, failures visible, never lost."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import time_machine
from django.utils import timezone

from mamori.config import OutgoingMail
from mamori.intake import outbox
from mamori.intake.models import OutboundMail
from tests.intake.conftest import Sink, free_port


def _queue() -> OutboundMail:
    return outbox.queue(case=None, kind="receipt", to="a@example.net", subject="S", body="B")


def test_a_dead_server_is_retried_with_backoff_until_it_answers(
    intake_settings, sink: Sink, transactional_db: None
) -> None:
    alive = intake_settings.MAMORI_INTAKE.outgoing
    dead = free_port()
    intake_settings.MAMORI_INTAKE = dataclasses.replace(
        intake_settings.MAMORI_INTAKE, outgoing=OutgoingMail("127.0.0.1", dead)
    )
    intake_settings.EMAIL_PORT = dead
    mail = _queue()  # the enqueued send runs at once and fails
    mail.refresh_from_db()
    assert (mail.status, mail.attempts) == ("failed", 1)
    assert "Connection refused" in mail.last_error or "Errno" in mail.last_error
    first_retry = mail.next_attempt_at - timezone.now()
    assert timedelta(seconds=20) < first_retry <= timedelta(seconds=30)

    assert outbox.retry_due() == 0  # not due yet: nothing is tried
    mail.refresh_from_db()
    assert mail.attempts == 1

    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert outbox.retry_due() == 0  # due, tried, failed again: the wait doubles
        mail.refresh_from_db()
        assert mail.attempts == 2
        assert mail.next_attempt_at - timezone.now() > timedelta(seconds=50)

    intake_settings.MAMORI_INTAKE = dataclasses.replace(
        intake_settings.MAMORI_INTAKE, outgoing=alive
    )
    intake_settings.EMAIL_PORT = alive.port  # type: ignore[union-attr]
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert outbox.retry_due() == 1
    mail.refresh_from_db()
    assert mail.status == "sent" and mail.last_error == ""
    assert [m["Subject"] for m in sink.wait_for(1)] == ["S"]


def test_it_gives_up_after_the_last_attempt_and_says_so(
    intake_settings, transactional_db: None
) -> None:
    dead = free_port()
    intake_settings.MAMORI_INTAKE = dataclasses.replace(
        intake_settings.MAMORI_INTAKE, outgoing=OutgoingMail("127.0.0.1", dead)
    )
    intake_settings.EMAIL_PORT = dead
    mail = _queue()
    OutboundMail.objects.filter(pk=mail.pk).update(attempts=outbox.MAX_ATTEMPTS - 1)
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        outbox.send(mail.pk)
    mail.refresh_from_db()
    assert mail.status == "gave_up"
    assert mail.last_error


def test_without_an_outgoing_server_mail_waits_and_says_why(
    intake_settings, transactional_db: None
) -> None:
    intake_settings.MAMORI_INTAKE = dataclasses.replace(
        intake_settings.MAMORI_INTAKE, outgoing=None
    )
    mail = _queue()
    mail.refresh_from_db()
    assert mail.status == "queued" and mail.attempts == 0
    assert "MAMORI_OUTGOING_SMTP_URL" in mail.last_error


def test_sending_twice_sends_once(intake_settings, sink: Sink, transactional_db: None) -> None:
    mail = _queue()
    assert outbox.send(mail.pk) == "sent"  # already sent by its task: nothing more happens
    assert len(sink.wait_for(2, timeout=1.0)) == 1
