from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from mamori.core.channels import Channel
from mamori.core.priority import UNASSESSED
from mamori.core.rating import Severity
from mamori.core.workflow import Flag, State

_STATE_CHOICES = [(s.value, s.label) for s in State]


class TrackingSequence(models.Model):
    """The last tracking number issued per prefix and year; numbers are never reused."""

    prefix = models.CharField(max_length=16)
    year = models.PositiveIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prefix", "year"], name="uniq_tracking_sequence")
        ]

    def __str__(self) -> str:
        return f"{self.prefix}-{self.year}: {self.last_number}"


class Case(models.Model):
    tracking_id = models.CharField(max_length=40, unique=True)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=[(c.value, c.label) for c in Channel])
    # Who or what brought it: the coordinator's organisation, the mailing list, the feed item.
    source_detail = models.CharField(max_length=300, blank=True)
    language = models.CharField(max_length=8, default="en")  # the reporter's: en or ja

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reported_cases",
    )
    reporter_name = models.CharField(max_length=200, blank=True)
    reporter_email = models.EmailField(blank=True)
    reporter_organisation = models.CharField(max_length=200, blank=True)

    products = models.ManyToManyField("products.Product", related_name="cases", blank=True)
    owning_team = models.ForeignKey(
        "products.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="cases"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_cases",
    )

    state = models.CharField(max_length=24, choices=_STATE_CHOICES, default=State.RECEIVED.value)
    state_changed_at = models.DateTimeField(default=timezone.now)
    rework_count = models.PositiveIntegerField(default=0)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="duplicates"
    )
    bug_reference = models.CharField(max_length=300, blank=True)
    build_reference = models.CharField(max_length=300, blank=True)
    release_reference = models.CharField(max_length=300, blank=True)

    # Summaries of the assessment, kept here for lists and the queue's order; only the assessment
    # app writes them (``record_rating``). The full rating lives in ``assessment``.
    cvss_score = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)
    severity = models.CharField(
        max_length=16, blank=True, choices=[(s.value, s.label) for s in Severity]
    )
    priority = models.PositiveSmallIntegerField(default=UNASSESSED, db_index=True)  # P1..P5
    priority_score = models.FloatField(default=0.0)  # order within a level, higher first

    # Coordinated-disclosure flags: the time each became true (DESIGN.md §2).
    vendor_aware_at = models.DateTimeField(null=True, blank=True)
    fix_ready_at = models.DateTimeField(null=True, blank=True)
    fix_deployed_at = models.DateTimeField(null=True, blank=True)
    public_aware_at = models.DateTimeField(null=True, blank=True)
    exploit_public_at = models.DateTimeField(null=True, blank=True)
    attacks_observed_at = models.DateTimeField(null=True, blank=True)

    # The SLA: the first human response to the reporter is due by ``first_response_due_at``.
    first_response_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    first_response_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "created_at"]
        indexes = [models.Index(fields=["state", "priority", "created_at"])]

    def __str__(self) -> str:
        return f"{self.tracking_id} {self.title}"

    @property
    def state_enum(self) -> State:
        return State(self.state)

    @property
    def sla_overdue(self) -> bool:
        """The first response to the reporter is due and has not been given."""
        return (
            self.first_response_at is None
            and self.first_response_due_at is not None
            and self.first_response_due_at < timezone.now()
            and self.state_enum.owes_response
        )


FLAG_FIELDS: dict[Flag, str] = {
    Flag.V: "vendor_aware_at",
    Flag.F: "fix_ready_at",
    Flag.D: "fix_deployed_at",
    Flag.P: "public_aware_at",
    Flag.X: "exploit_public_at",
    Flag.A: "attacks_observed_at",
}


class StateEntry(models.Model):
    """The case entered ``state`` at ``entered_at``: the timeline, and the input of metrics."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="state_entries")
    state = models.CharField(max_length=24, choices=_STATE_CHOICES)
    entered_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["entered_at", "pk"]

    def __str__(self) -> str:
        return f"{self.state} at {self.entered_at:%Y-%m-%d %H:%M}"


class AppendOnlyError(Exception):
    pass


class AuditQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("the audit trail is append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("the audit trail is append-only")


class AuditEntry(models.Model):
    """One change to a case: who, when, what, before → after. Never updated or deleted."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="audit_entries")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_name = models.CharField(max_length=200)
    action = models.CharField(max_length=32)
    field = models.CharField(max_length=64, blank=True)
    before = models.TextField(blank=True)
    after = models.TextField(blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.field}".strip()

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("the audit trail is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("the audit trail is append-only")


class MessageKind(models.TextChoices):
    THREAD = "thread", "Message (reporter sees it)"
    NOTE = "note", "Internal note"


class Via(models.TextChoices):
    """How a message reached the thread."""

    WEB = "web", "Web"
    EMAIL = "email", "E-mail"
    PORTAL = "portal", "Tracking link"
    API = "api", "API"
    SYSTEM = "system", "Mamori"


class Message(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=8, choices=MessageKind.choices)
    via = models.CharField(max_length=8, choices=Via.choices, default=Via.WEB)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    author_name = models.CharField(max_length=200)
    from_reporter = models.BooleanField(default=False)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["case", "kind", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} by {self.author_name}"


def _attachment_path(_instance: Attachment, _filename: str) -> str:
    """Stored names never derive from the uploaded filename."""
    today = timezone.now()
    return f"attachments/{today:%Y/%m}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        Message, null=True, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(upload_to=_attachment_path, max_length=200)
    filename = models.CharField(max_length=255)  # for display and downloads only
    content_type = models.CharField(max_length=127)  # sniffed from the bytes
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.filename


class DuplicateCandidate(models.Model):
    """An open case that may describe the same vulnerability, ranked when the case arrived."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="duplicate_candidates")
    candidate = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()
    reasons = models.JSONField(default=list)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-score", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["case", "candidate"], name="uniq_duplicate_candidate")
        ]

    def __str__(self) -> str:
        return f"{self.case_id} ~ {self.candidate_id} ({self.score:.2f})"
