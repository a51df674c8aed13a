"""Background work of the intake, run by `mamori worker` (django-tasks, database backend)."""

from __future__ import annotations

from django_tasks import task

from mamori.intake import outbox, services


@task()
def process_message(inbound_id: int) -> str:
    """Parse and route one stored message."""
    return services.process(inbound_id)


@task()
def send_mail(mail_id: int) -> str:
    """Send one queued message (receipt, notice)."""
    return outbox.send(mail_id)
