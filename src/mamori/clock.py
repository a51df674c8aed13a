"""The worker's clock: periodic jobs, each idempotent, so several workers may run it safely."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import close_old_connections

log = logging.getLogger("mamori.clock")


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    run: Callable[[], object]


def _retry_mail() -> object:
    from mamori.intake import outbox

    return outbox.retry_due()


def _recover_mail() -> object:
    from mamori.intake import services

    return services.recover(older_than=timedelta(minutes=1), limit=50)  # a tick stays short


def _check_feeds() -> object:
    from mamori.intake.monitoring import check_due

    return check_due()


def _close_unanswered() -> object:
    from django.conf import settings

    from mamori.cases import receiving

    return receiving.close_unanswered(settings.MAMORI_INTAKE.needs_info_close_days)


def _prune_rate_counters() -> object:
    from mamori.intake import ratelimit

    return ratelimit.prune()


def _import_threat_feeds() -> object:
    from mamori.assessment import imports

    return imports.import_due()


def _release_calendar() -> object:
    from mamori.releases import services

    return services.ensure_calendar()


def _cut_off() -> object:
    from mamori.releases import services

    return services.roll_over()


def _advance_notices() -> object:
    from mamori.releases import notify

    return notify.send_advance_notices()


def _webhooks() -> object:
    from mamori.releases import notify

    return notify.deliver_due()


def _refresh_site() -> object:
    """security.txt's Expires moves on monthly; an unchanged tree is not rewritten."""
    from mamori.advisories import services
    from mamori.advisories.models import Advisory

    if not Advisory.objects.exists():
        return None
    return services.publish_site(None, "daily refresh")


def _refresh_update_repository() -> object:
    from mamori.updates import services

    return services.refresh()


JOBS: tuple[Job, ...] = (
    Job("retry outgoing mail", timedelta(seconds=15), _retry_mail),
    Job("recover stored mail", timedelta(minutes=1), _recover_mail),
    Job("check public sources", timedelta(minutes=1), _check_feeds),
    Job("close unanswered requests for information", timedelta(hours=1), _close_unanswered),
    Job("prune rate counters", timedelta(hours=1), _prune_rate_counters),
    # Each feed is fetched when its last import is older than MAMORI_THREAT_IMPORT_HOURS.
    Job("import CISA KEV and FIRST EPSS", timedelta(minutes=30), _import_threat_feeds),
    Job("generate the release calendar", timedelta(hours=6), _release_calendar),
    Job("move cases that missed a code-freeze cut-off", timedelta(minutes=5), _cut_off),
    Job("send advance notifications", timedelta(minutes=5), _advance_notices),
    Job("deliver webhooks", timedelta(minutes=1), _webhooks),
    Job("refresh the public tree", timedelta(hours=24), _refresh_site),
    # timestamp.json lives a day: it is re-signed once half of that is left.
    Job(
        "re-sign the update repository before it expires",
        timedelta(hours=1),
        _refresh_update_repository,
    ),
)


def run(stop: threading.Event, jobs: tuple[Job, ...] = JOBS) -> None:
    """Run each job when it is due until ``stop`` is set; a failing job is logged, not fatal."""
    last: dict[str, float] = {}
    while not stop.is_set():
        for job in jobs:
            now = time.monotonic()
            if now - last.get(job.name, -1e12) < job.every.total_seconds():
                continue
            last[job.name] = now
            try:
                close_old_connections()
                job.run()
            except Exception:
                log.exception("periodic job %r failed", job.name)
        stop.wait(1.0)
