"""Background work of the intake, run by `mamori worker` (django-tasks, database backend)."""

from __future__ import annotations

from django_tasks import task

from mamori.intake import outbox, services

# Priorities (higher runs first): receipts and replies go out before the next message is
# processed, and processing comes before the slow ranking of possible duplicates.


@task(priority=10)
def process_message(inbound_id: int) -> str:
    """Parse and route one stored message."""
    return services.process(inbound_id)


@task(priority=50)
def send_mail(mail_id: int) -> str:
    """Send one queued message (receipt, notice)."""
    return outbox.send(mail_id)
