"""What the team knows about a case's severity, exploitation, urgency and reach."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from mamori.core.exploitation import Exploitability
from mamori.core.matrix import Affectedness, Justification, Resolution, VariantResult
from mamori.core.rating import Severity
from mamori.core.severity import Impact, Mitigation
from mamori.core.ssvc import (
    Automatable,
    SafetyImpact,
    TechnicalImpact,
    Urgency,
    ValueDensity,
)


def _choices(enum: Iterable[Any]) -> list[tuple[str, str]]:
    return [(member.value, member.label) for member in enum]


class Assessment(models.Model):
    """One per case: the inputs the team gave and what Mamori derived from them."""

    case = models.OneToOneField("cases.Case", on_delete=models.CASCADE, related_name="assessment")

    cvss_v3_vector = models.CharField(max_length=300, blank=True)
    cvss_v3_score = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)
    cvss_v4_vector = models.CharField(max_length=400, blank=True)
    cvss_v4_score = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)

    # The impact fields the severity rules read (mamori.core.severity).
    impact = models.CharField(max_length=32, blank=True, choices=_choices(Impact))
    user_action_required = models.BooleanField(default=False)
    minimal_impact = models.BooleanField(default=False)
    mitigation = models.CharField(
        max_length=32, choices=_choices(Mitigation), default=Mitigation.NONE.value
    )
    derived_severity = models.CharField(max_length=16, blank=True, choices=_choices(Severity))
    severity_rules = models.JSONField(default=list, blank=True)
    severity_override = models.CharField(max_length=16, blank=True, choices=_choices(Severity))
    override_reason = models.TextField(blank=True)
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    overridden_at = models.DateTimeField(null=True, blank=True)

    exploitability = models.CharField(max_length=16, blank=True, choices=_choices(Exploitability))
    disclosed_on = models.DateField(null=True, blank=True)
    disclosed_source = models.CharField(max_length=500, blank=True)
    exploit_public_on = models.DateField(null=True, blank=True)
    exploit_public_source = models.CharField(max_length=500, blank=True)
    exploited_on = models.DateField(null=True, blank=True)
    exploited_source = models.CharField(max_length=500, blank=True)

    # SSVC supplier decision points the team answers; Exploitation is read from the facts.
    ssvc_automatable = models.CharField(max_length=16, blank=True, choices=_choices(Automatable))
    ssvc_value_density = models.CharField(max_length=16, blank=True, choices=_choices(ValueDensity))
    ssvc_technical_impact = models.CharField(
        max_length=16, blank=True, choices=_choices(TechnicalImpact)
    )
    ssvc_safety_impact = models.CharField(max_length=16, blank=True, choices=_choices(SafetyImpact))
    urgency = models.CharField(max_length=16, blank=True, choices=_choices(Urgency))

    priority_reasons = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"assessment of case {self.case_id}"

    @property
    def severity(self) -> str:
        """The severity in force: the analyst's override, else the derived one."""
        return self.severity_override or self.derived_severity


class CaseCve(models.Model):
    """A CVE id a case carries; KEV and EPSS data are matched through these."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="cves")
    cve_id = models.CharField(max_length=32, db_index=True)

    class Meta:
        ordering = ["cve_id"]
        constraints = [models.UniqueConstraint(fields=["case", "cve_id"], name="uniq_case_cve")]

    def __str__(self) -> str:
        return self.cve_id


class MatrixRow(models.Model):
    """The answer for one product version. A version without a row is under investigation."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="matrix_rows")
    version = models.ForeignKey(
        "products.ProductVersion", on_delete=models.PROTECT, related_name="matrix_rows"
    )
    status = models.CharField(max_length=24, choices=_choices(Affectedness))
    justification = models.CharField(max_length=64, blank=True, choices=_choices(Justification))
    resolution = models.CharField(max_length=16, blank=True, choices=_choices(Resolution))
    note = models.TextField(blank=True)
    # Where this version's vectors differ from the case's.
    cvss_v3_vector = models.CharField(max_length=300, blank=True)
    cvss_v4_vector = models.CharField(max_length=400, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["version__product__name", "version__name"]
        constraints = [
            models.UniqueConstraint(fields=["case", "version"], name="uniq_matrix_row"),
            models.CheckConstraint(
                condition=~models.Q(status="not_affected") | ~models.Q(justification=""),
                name="not_affected_needs_justification",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.version_id}: {self.status}"


class VariantCheck(models.Model):
    """An item of the variant investigation: another product or version to check, and the result."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="variant_checks")
    product = models.ForeignKey("products.Product", on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey(
        "products.ProductVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    why = models.TextField(blank=True)  # why it might share the flaw
    result = models.CharField(
        max_length=16, choices=_choices(VariantResult), default=VariantResult.PENDING.value
    )
    notes = models.TextField(blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["added_at", "pk"]

    def __str__(self) -> str:
        return f"variant check {self.pk}: {self.result}"


def _import_path(instance: ThreatImport, _filename: str) -> str:
    today = timezone.now()
    return f"imports/{instance.kind}/{today:%Y/%m}/{uuid.uuid4().hex}"


class ThreatImport(models.Model):
    """One import of a KEV catalog or an EPSS file; the raw file is kept as it arrived."""

    class Kind(models.TextChoices):
        KEV = "kev", "CISA KEV"
        EPSS = "epss", "FIRST EPSS"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    source = models.CharField(max_length=1000)
    raw = models.FileField(upload_to=_import_path, max_length=200)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    version = models.CharField(max_length=64, blank=True)  # catalogVersion / model_version
    published = models.DateTimeField(null=True, blank=True)  # dateReleased / score_date
    entries = models.PositiveIntegerField(default=0)
    warnings = models.JSONField(default=list, blank=True)
    # Why a refused file was refused: [field, problem] pairs, in order (jsonb reorders objects).
    problems = models.JSONField(default=list, blank=True)
    outcome = models.TextField(blank=True)
    imported_by = models.CharField(max_length=200)
    imported_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)  # fetched or given again

    class Meta:
        ordering = ["-imported_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "sha256"], name="uniq_threat_import")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.version} ({self.imported_at:%Y-%m-%d})"


class KevEntry(models.Model):
    cve_id = models.CharField(max_length=32, unique=True)
    vendor_project = models.CharField(max_length=300)
    product = models.CharField(max_length=300)
    name = models.CharField(max_length=500)
    date_added = models.DateField()
    due_date = models.DateField(null=True, blank=True)
    due_before_added = models.BooleanField(default=False)  # real catalog entries do this
    short_description = models.TextField(blank=True)
    required_action = models.TextField(blank=True)
    known_ransomware_use = models.CharField(max_length=32, blank=True)
    notes = models.TextField(blank=True)
    cwes = models.JSONField(default=list, blank=True)
    catalog_version = models.CharField(max_length=64)

    class Meta:
        ordering = ["-date_added", "cve_id"]

    def __str__(self) -> str:
        return self.cve_id


class EpssScore(models.Model):
    """The latest score of a CVE under one EPSS model version; other models are never compared."""

    cve_id = models.CharField(max_length=32)
    model_version = models.CharField(max_length=32)
    score_date = models.DateField()
    probability = models.FloatField()
    percentile = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_version", "cve_id"], name="uniq_epss_score")
        ]
        indexes = [models.Index(fields=["cve_id", "model_version"])]

    def __str__(self) -> str:
        return f"{self.cve_id} {self.probability} ({self.model_version})"
