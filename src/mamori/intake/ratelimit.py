"""Fixed-window rate limits on public submissions, counted in the database.

The counter row is created or incremented atomically, so several web processes share the limit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from mamori.errors import RateLimited
from mamori.intake.models import RateCounter

WINDOW = timedelta(hours=1)


def _window_start(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def hit(key: str, limit: int, *, now: datetime | None = None) -> None:
    """Count one submission for ``key``; raise ``RateLimited`` when it is over ``limit``."""
    now = now or timezone.now()
    start = _window_start(now)
    key = key[:200]
    with transaction.atomic():
        updated = RateCounter.objects.filter(key=key, window_start=start).update(
            count=F("count") + 1
        )
        if not updated:
            try:
                with transaction.atomic():
                    RateCounter.objects.create(key=key, window_start=start, count=1)
            except IntegrityError:  # another process created it first
                RateCounter.objects.filter(key=key, window_start=start).update(count=F("count") + 1)
        count = RateCounter.objects.get(key=key, window_start=start).count
    if count > limit:
        retry = int((start + WINDOW - now).total_seconds()) + 1
        raise RateLimited(
            f"too many reports from this {key.split(':', 1)[0]}; try again in "
            f"{retry // 60 + 1} minutes",
            retry_after=retry,
        )


def prune(now: datetime | None = None) -> int:
    """Forget windows that ended more than a day ago."""
    cutoff = _window_start(now or timezone.now()) - timedelta(days=1)
    deleted, _ = RateCounter.objects.filter(window_start__lt=cutoff).delete()
    return deleted
