from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from mamori.core.authz import Role


class User(AbstractUser):
    """A person using Mamori. Exactly one role; product engineers also belong to teams."""

    role = models.CharField(
        max_length=32, choices=[(r.value, r.label) for r in Role], default=Role.REPORTER.value
    )
    organisation = models.CharField(max_length=200, blank=True)
    must_change_password = models.BooleanField(default=False)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def is_internal(self) -> bool:
        return self.role_enum.is_internal

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only a SHA-256 of the token is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Reports submitted with this token are recorded as coming from this channel (coordinator,
    # support, public, customer); set by an administrator, never chosen by the submitter.
    intake_source = models.CharField(max_length=16, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
