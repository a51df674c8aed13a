from __future__ import annotations

from django.conf import settings
from django.db import models

from mamori.core.catalogue import SupportStatus


class Team(models.Model):
    """A product team: owns products and fixes their vulnerabilities."""

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    teams = models.ManyToManyField(Team, related_name="products", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProductVersion(models.Model):
    """A version or branch of a product, with its support status."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="versions")
    name = models.CharField(max_length=100)
    support_status = models.CharField(
        max_length=16,
        choices=[(s.value, s.label) for s in SupportStatus],
        default=SupportStatus.SUPPORTED.value,
    )
    support_ends_on = models.DateField(null=True, blank=True)
    released_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["product", "name"]
        constraints = [
            models.UniqueConstraint(fields=["product", "name"], name="uniq_product_version"),
            models.CheckConstraint(
                condition=~models.Q(support_status="end_of_life")
                | models.Q(support_ends_on__isnull=False),
                name="eol_needs_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} {self.name}"


class Component(models.Model):
    """A component of a product, identified by a package URL."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="components")
    purl = models.CharField(max_length=500)
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["purl"]
        constraints = [
            models.UniqueConstraint(fields=["product", "purl"], name="uniq_product_purl"),
        ]

    def __str__(self) -> str:
        return self.purl


class ProductAlias(models.Model):
    """Another name a product goes by in reports (matched case- and width-insensitively)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=200)
    normalised = models.CharField(max_length=200, unique=True)

    class Meta:
        ordering = ["alias"]

    def __str__(self) -> str:
        return self.alias
