"""Secret tracking links: how a reporter without an account follows and answers their report.

A link holds 32 random bytes; only their SHA-256 is stored, so the database alone does not open
any report. A link that is unknown, revoked or malformed is "not found", like any other case.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from django.conf import settings
from django.utils import timezone

from mamori.cases.models import Case
from mamori.errors import NotFound
from mamori.intake.models import PortalAccess

_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def issue(case: Case) -> str:
    """A new secret link token for ``case`` (shown once: in the receipt or the form's answer)."""
    token = secrets.token_urlsafe(32)
    PortalAccess.objects.create(case=case, digest=_digest(token))
    return token


def url(token: str) -> str:
    return f"{settings.MAMORI_INTAKE.public_url}/report/{token}/"


def case_for(token: str) -> Case:
    """The case a tracking link opens; anything else is "not found"."""
    if not _TOKEN.fullmatch(token):
        raise NotFound("no such tracking link")
    access = (
        PortalAccess.objects.select_related("case")
        .filter(digest=_digest(token), revoked_at__isnull=True)
        .first()
    )
    if access is None:
        raise NotFound("no such tracking link")
    PortalAccess.objects.filter(pk=access.pk).update(last_used_at=timezone.now())
    return access.case
