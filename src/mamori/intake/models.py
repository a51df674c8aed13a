"""What arrives, exactly as it arrived; what goes out; and the state of the intake's sources."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


def _raw_path(_instance: InboundMessage, _filename: str) -> str:
    """Raw messages are stored under names of our own, never the sender's."""
    return f"intake/raw/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.eml"


class InboundChannel(models.TextChoices):
    SMTP = "smtp", "SMTP listener"
    IMAP = "imap", "IMAP mailbox"


class InboundStatus(models.TextChoices):
    STORED = "stored", "Stored, not yet processed"
    PROCESSED = "processed", "Processed"
    HELD = "held", "Held for an analyst"
    RELEASED = "released", "Released by an analyst"
    DISCARDED = "discarded", "Discarded by an analyst (raw kept)"


class InboundMessage(models.Model):
    """One message exactly as received. The raw bytes are stored before anything parses them.

    ``status`` starts as ``stored``; processing parses the raw bytes and either opens a case,
    joins a case's thread, or holds the message for an analyst. A crash between storing and
    processing leaves ``stored`` rows, which ``recover`` processes on restart.
    """

    channel = models.CharField(max_length=8, choices=InboundChannel.choices)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    peer = models.CharField(max_length=300, blank=True)  # client address, or the IMAP mailbox
    envelope_from = models.CharField(max_length=320, blank=True)
    envelope_to = models.TextField(blank=True)  # one recipient a line
    message_id = models.TextField(blank=True)  # the Message-ID header, read before parsing
    dedupe_key = models.CharField(max_length=64, unique=True)  # sha256 of the Message-ID or bytes
    raw = models.FileField(upload_to=_raw_path, max_length=200)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)

    status = models.CharField(
        max_length=12, choices=InboundStatus.choices, default=InboundStatus.STORED, db_index=True
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)  # a processor is at work since
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)  # why parsing or processing failed

    # What parsing found (for the analyst; the raw bytes stay the reference).
    subject = models.CharField(max_length=300, blank=True)
    from_name = models.CharField(max_length=200, blank=True)
    from_address = models.CharField(max_length=320, blank=True)
    encryption = models.CharField(max_length=12, default="none")
    signature = models.CharField(max_length=12, default="none")
    signer_fingerprint = models.CharField(max_length=64, blank=True)
    pgp_detail = models.TextField(blank=True)
    problems = models.JSONField(default=list, blank=True)
    held_reason = models.TextField(blank=True)

    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    thread_message = models.ForeignKey(
        "cases.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["received_at", "pk"]
        indexes = [models.Index(fields=["case", "received_at"])]

    def __str__(self) -> str:
        return f"{self.channel} message {self.pk} ({self.status})"


class SmtpRefusal(models.Model):
    """A message the SMTP listener refused, and why; the sender was told the same."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    peer = models.CharField(max_length=300, blank=True)
    envelope_from = models.CharField(max_length=320, blank=True)
    envelope_to = models.TextField(blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    reply = models.CharField(max_length=500)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.envelope_from}: {self.reply}"


class OutboundStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (will retry)"
    GAVE_UP = "gave_up", "Gave up"


class OutboundMail(models.Model):
    """A message Mamori sends (receipts, notices): queued in the transaction that causes it."""

    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=24)  # receipt, reply, notice
    message_id = models.CharField(max_length=300, unique=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    to = models.CharField(max_length=320)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    status = models.CharField(
        max_length=8, choices=OutboundStatus.choices, default=OutboundStatus.QUEUED, db_index=True
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to} ({self.status})"


class PortalAccess(models.Model):
    """A secret tracking link for one case. Only the SHA-256 of the secret is stored."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"tracking link for case {self.case_id}"


class RateCounter(models.Model):
    """Submissions per key (an IP address, an e-mail address) in one fixed window."""

    key = models.CharField(max_length=200)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "window_start"], name="uniq_rate_window")
        ]

    def __str__(self) -> str:
        return f"{self.key} @ {self.window_start:%Y-%m-%d %H:%M}: {self.count}"


class MailboxCursor(models.Model):
    """Where the IMAP poller stopped in a mailbox: survives restarts."""

    key = models.CharField(max_length=300, unique=True)
    uidvalidity = models.PositiveBigIntegerField()
    last_uid = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.uidvalidity}/{self.last_uid}"


class FeedSource(models.Model):
    """A public source watched on a schedule: an RSS/Atom feed, an OSV file or directory."""

    name = models.CharField(max_length=200)
    location = models.CharField(max_length=1000, unique=True)  # http(s) URL, file or directory
    interval_minutes = models.PositiveIntegerField(default=60)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class FeedItemSeen(models.Model):
    """An upstream item already read; the unique id guarantees one case per item at most."""

    upstream_id = models.CharField(max_length=500, unique=True)
    source = models.ForeignKey(FeedSource, on_delete=models.CASCADE, related_name="items")
    title = models.CharField(max_length=300)
    url = models.CharField(max_length=2000, blank=True)
    seen_at = models.DateTimeField(default=timezone.now)
    products = models.CharField(max_length=1000, blank=True)  # matched product slugs
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-seen_at", "-pk"]

    def __str__(self) -> str:
        return self.upstream_id
