"""Private builds of a fix and the test runs that decide whether it ships."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


def _build_path(_instance: PrivateBuild, _filename: str) -> str:
    """Stored names never derive from the uploaded filename; storage has no public URL."""
    today = timezone.now()
    return f"builds/{today:%Y/%m}/{uuid.uuid4().hex}"


def _evidence_path(_instance: TestResult, _filename: str) -> str:
    today = timezone.now()
    return f"evidence/{today:%Y/%m}/{uuid.uuid4().hex}"


class PrivateBuild(models.Model):
    """A build of the fix made for testing: an uploaded artifact or a link to one, never both."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="builds")
    number = models.PositiveIntegerField()  # 1, 2, … per case
    artifact = models.FileField(upload_to=_build_path, max_length=200, blank=True)
    url = models.CharField(max_length=2000, blank=True)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(null=True, blank=True)  # unknown for links
    filename = models.CharField(max_length=255)  # for display and downloads only
    content_type = models.CharField(max_length=127, blank=True)  # sniffed from uploaded bytes
    versions = models.ManyToManyField("products.ProductVersion", related_name="+", blank=True)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["case", "number"]
        constraints = [
            models.UniqueConstraint(fields=["case", "number"], name="uniq_build_number"),
            models.CheckConstraint(
                condition=(models.Q(artifact="") & ~models.Q(url=""))
                | (~models.Q(artifact="") & models.Q(url="")),
                name="build_artifact_xor_url",
            ),
        ]

    def __str__(self) -> str:
        return f"build {self.number}"

    @property
    def reference(self) -> str:
        """How the case's build reference names this build."""
        return f"build {self.number} (sha256:{self.sha256[:12]}…)"


class RunState(models.TextChoices):
    OPEN = "open", "Open"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    BLOCKED = "blocked", "Blocked"


class Outcome(models.TextChoices):
    PENDING = "pending", "Pending"
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    BLOCKED = "blocked", "Blocked"


class TestRun(models.Model):
    """One pass through a test plan against one build."""

    __test__ = False  # not a pytest test class

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="test_runs")
    build = models.ForeignKey(PrivateBuild, on_delete=models.PROTECT, related_name="runs")
    number = models.PositiveIntegerField()  # 1, 2, … per case
    state = models.CharField(max_length=8, choices=RunState.choices, default=RunState.OPEN)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    summary = models.TextField(blank=True)

    class Meta:
        ordering = ["case", "number"]
        constraints = [
            models.UniqueConstraint(fields=["case", "number"], name="uniq_test_run_number"),
        ]

    def __str__(self) -> str:
        return f"test run {self.number} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state == RunState.OPEN


class TestResult(models.Model):
    """An item of a run's test plan and what testing it showed."""

    __test__ = False

    run = models.ForeignKey(TestRun, on_delete=models.CASCADE, related_name="results")
    position = models.PositiveIntegerField()  # 1, 2, … within the run
    name = models.CharField(max_length=200)
    result = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.PENDING)
    evidence = models.TextField(blank=True)
    evidence_file = models.FileField(upload_to=_evidence_path, max_length=200, blank=True)
    evidence_filename = models.CharField(max_length=255, blank=True)
    evidence_content_type = models.CharField(max_length=127, blank=True)
    evidence_size = models.PositiveBigIntegerField(null=True, blank=True)
    evidence_sha256 = models.CharField(max_length=64, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="uniq_test_result_position"),
            models.UniqueConstraint(fields=["run", "name"], name="uniq_test_result_name"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}: {self.result}"
