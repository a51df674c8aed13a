"""Release trains and the advance notification of monthly releases.

A monthly release is generated from the calendar rule (``mamori.core.calendar``); an out-of-band
release is created on demand. A case belongs to at most one release at a time (``Assignment``);
every move between releases is kept with its reason (``Move``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Release(models.Model):
    class Kind(models.TextChoices):
        MONTHLY = "monthly", "Monthly"
        OUT_OF_BAND = "out_of_band", "Out of band"

    class State(models.TextChoices):
        PLANNED = "planned", "Planned"
        PUBLISHED = "published", "Published"

    name = models.CharField(max_length=40, unique=True)  # "2026-12", "OOB-2026-11-23-1"
    kind = models.CharField(max_length=16, choices=Kind.choices)
    release_at = models.DateTimeField(db_index=True)
    cutoff_at = models.DateTimeField(null=True, blank=True)  # monthly only: code freeze
    notify_at = models.DateTimeField(null=True, blank=True)  # monthly only: advance notice
    state = models.CharField(max_length=16, choices=State.choices, default=State.PLANNED)
    reason = models.TextField(blank=True)  # why an out-of-band release
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["release_at", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_monthly(self) -> bool:
        return self.kind == self.Kind.MONTHLY

    @property
    def is_published(self) -> bool:
        return self.state == self.State.PUBLISHED


class Assignment(models.Model):
    """The release a case ships in."""

    case = models.OneToOneField("cases.Case", on_delete=models.CASCADE, related_name="release_slot")
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="assignments")
    assigned_at = models.DateTimeField(default=timezone.now)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"case {self.case_id} in {self.release_id}"


class Move(models.Model):
    """A case entering a release or moving to another one, with the reason: the history."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="release_moves")
    from_release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField()
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(  # None: Mamori itself (the cut-off)
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"case {self.case_id}: {self.from_release_id} → {self.to_release_id}"


class Subscriber(models.Model):
    """Who receives advance notifications: an e-mail address or a signed webhook."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    email = models.EmailField(blank=True)
    url = models.URLField(max_length=500, blank=True)
    secret = models.CharField(max_length=128, blank=True)  # HMAC key of a webhook
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                name="subscriber_has_its_address",
                condition=(models.Q(kind="email") & ~models.Q(email=""))
                | (models.Q(kind="webhook") & ~models.Q(url="") & ~models.Q(secret="")),
            )
        ]

    def __str__(self) -> str:
        return self.name


class Notice(models.Model):
    """The advance notification of one monthly release, frozen as sent."""

    release = models.OneToOneField(Release, on_delete=models.PROTECT, related_name="notice")
    summary = models.JSONField()  # what subscribers got: no vulnerability details
    sent_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"advance notification of {self.release_id}"


class Delivery(models.Model):
    """One notification to one subscriber; webhooks are retried with backoff."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"  # gave up after the last attempt

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["notice", "subscriber"], name="one_delivery_each")
        ]

    def __str__(self) -> str:
        return f"{self.notice_id} → {self.subscriber_id}: {self.state}"
