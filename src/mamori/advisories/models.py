"""Advisories: the public texts the team writes for a case, and every published revision.

Everything else in an advisory (products and versions, severity, CVSS, CVE ids, exploitation,
the release, the reporter's credit) is read from the case when a revision is issued; a revision
keeps the advisory exactly as issued (``snapshot``) together with the documents generated from it,
so the public tree can be rebuilt byte for byte and earlier revisions stay available.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class PublicText(models.Model):
    """What the team writes for the public about a case (English, and Japanese where given)."""

    case = models.OneToOneField("cases.Case", on_delete=models.CASCADE, related_name="public_text")
    title_en = models.CharField(max_length=300, blank=True)
    title_ja = models.CharField(max_length=300, blank=True)
    summary_en = models.TextField(blank=True)
    summary_ja = models.TextField(blank=True)
    description_en = models.TextField(blank=True)
    description_ja = models.TextField(blank=True)
    mitigations_en = models.TextField(blank=True)  # mitigating factors and workarounds
    mitigations_ja = models.TextField(blank=True)
    # [{"question_en", "question_ja", "answer_en", "answer_ja"}, ...]
    faq = models.JSONField(default=list, blank=True)
    cwe_id = models.CharField(max_length=16, blank=True)  # "CWE-79"
    cwe_name = models.CharField(max_length=300, blank=True)
    # {"<product slug> <version>": "<fixed version>"}: what each affected version updates to.
    fixed_versions = models.JSONField(default=dict, blank=True)
    restart_required = models.BooleanField(default=False)
    credit = models.BooleanField(default=False)  # the reporter agreed to be credited
    credit_name = models.CharField(max_length=200, blank=True)
    credit_organization = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"public text of case {self.case_id}"


class Advisory(models.Model):
    class Kind(models.TextChoices):
        BULLETIN = "bulletin", "Security bulletin"
        EARLY_MITIGATION = "early_mitigation", "Early mitigation advisory"

    advisory_id = models.CharField(max_length=40, unique=True)  # "MSA-2026-0001"
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="advisories")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    release = models.ForeignKey(
        "releases.Release",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="advisories",
    )
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="supersedes"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["advisory_id"]

    def __str__(self) -> str:
        return self.advisory_id


class Revision(models.Model):
    advisory = models.ForeignKey(Advisory, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField()
    published_at = models.DateTimeField()
    summary = models.CharField(max_length=500)
    snapshot = models.JSONField()  # mamori.core.advisory.to_data of the advisory as issued
    csaf = models.JSONField()
    cve = models.JSONField(default=list)  # CVE JSON 5.1 records
    osv = models.JSONField(default=list)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["advisory", "number"]
        constraints = [
            models.UniqueConstraint(fields=["advisory", "number"], name="uniq_advisory_revision")
        ]

    def __str__(self) -> str:
        return f"{self.advisory_id} v{self.number}"


class SiteBuild(models.Model):
    """Each time the public tree was published: its digest and whether anything changed."""

    at = models.DateTimeField(default=timezone.now)
    digest = models.CharField(max_length=64)
    changed = models.BooleanField()
    files = models.PositiveIntegerField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=300)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.digest[:12]} at {self.at:%Y-%m-%d %H:%M}"
