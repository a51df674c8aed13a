"""Issuing tracking ids from a locked per-year sequence, inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from mamori.cases.models import TrackingSequence
from mamori.core.tracking import TrackingId


def next_tracking_id(now: datetime) -> TrackingId:
    prefix = settings.MAMORI_TRACKING_PREFIX
    year = timezone.localtime(now).year
    return TrackingId(prefix, year, next_number(prefix, year))


def next_number(prefix: str, year: int) -> int:
    """The next number of ``prefix``'s sequence for ``year`` (case ids, advisory ids)."""
    TrackingSequence.objects.get_or_create(prefix=prefix, year=year)
    sequence = TrackingSequence.objects.select_for_update().get(prefix=prefix, year=year)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    return sequence.last_number
