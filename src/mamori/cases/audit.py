"""Collects audit entries for one change and writes them together."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from mamori.accounts.models import User
from mamori.cases.models import AuditEntry, Case


class AuditLog:
    def __init__(self, case: Case, actor: User | None, at: datetime | None = None) -> None:
        self.case = case
        self.actor = actor
        self.at = at or timezone.now()
        self.entries: list[AuditEntry] = []

    def add(self, action: str, field: str = "", before: str = "", after: str = "") -> None:
        self.entries.append(
            AuditEntry(
                case=self.case,
                at=self.at,
                actor=self.actor,
                actor_name=self.actor.username if self.actor else "mamori",
                action=action,
                field=field,
                before=before,
                after=after,
            )
        )

    def change(self, field: str, before: object, after: object, *, action: str = "update") -> None:
        """Record ``field`` going from ``before`` to ``after``, if it changed at all."""
        old, new = "" if before is None else str(before), "" if after is None else str(after)
        if old != new:
            self.add(action, field, old, new)

    def save(self) -> None:
        AuditEntry.objects.bulk_create(self.entries)
        self.entries = []
