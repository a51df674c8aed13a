"""Advance notification of monthly releases: a summary, N business days before, to subscribers.

The summary names the products affected, the highest severity, the number of bulletins and whether
a restart is expected, and nothing else: no case, no CVE, no vulnerability detail. It goes out by
e-mail (through the outbox), by webhook (signed with the subscriber's secret, retried with
backoff), and on the public Atom feed. Deliveries never block a release: they are rows worked
through by the worker's clock, each failure kept on the row for the release manager to see.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mamori.accounts.services import AnyUser, require
from mamori.core.advisory import SEVERITY_ORDER
from mamori.core.authz import Action
from mamori.core.webhooks import MAX_ATTEMPTS, next_attempt
from mamori.errors import InvalidInput, NotFound
from mamori.intake import outbox
from mamori.releases import webhooks
from mamori.releases.models import Assignment, Delivery, Notice, Release, Subscriber

log = logging.getLogger(__name__)

EVENT = "advance_notification"


def summary_of(release: Release) -> dict[str, Any]:
    """What subscribers are told about ``release``: counts and products, no details."""
    from mamori.advisories import services as advisories

    products: set[str] = set()
    severities: list[str] = []
    restart = False
    slots = Assignment.objects.filter(release=release).select_related("case")
    for slot in slots:
        case = slot.case
        products.update(p.name for p in case.products.all())
        if case.severity:
            severities.append(case.severity.capitalize())
        restart = restart or advisories.restart_required(case)
    ranked = [s for s in severities if s in SEVERITY_ORDER]
    return {
        "release": release.name,
        "release_date": release.release_at.isoformat(),
        "bulletins": len(slots),
        "highest_severity": min(ranked, key=SEVERITY_ORDER.index) if ranked else "",
        "products": sorted(products),
        "restart_required": restart,
    }


def due_releases(now: datetime) -> list[Release]:
    return list(
        Release.objects.filter(
            kind=Release.Kind.MONTHLY,
            state=Release.State.PLANNED,
            notify_at__lte=now,
            release_at__gt=now,
            notice__isnull=True,
        )
    )


def send_advance_notices(now: datetime | None = None) -> list[Notice]:
    """Send the notification of every monthly release whose notice day has come (idempotent)."""
    from mamori.advisories import services as advisories

    now = now or timezone.now()
    sent = []
    for release in due_releases(now):
        with transaction.atomic():
            locked = Release.objects.select_for_update().get(pk=release.pk)
            if Notice.objects.filter(release=locked).exists():
                continue
            notice = Notice.objects.create(release=locked, summary=summary_of(locked), sent_at=now)
            for subscriber in Subscriber.objects.filter(active=True):
                delivery = Delivery.objects.create(
                    notice=notice, subscriber=subscriber, next_attempt_at=now
                )
                if subscriber.kind == Subscriber.Kind.EMAIL:
                    _mail(notice, subscriber)
                    delivery.state = Delivery.State.SENT
                    delivery.attempts = 1
                    delivery.delivered_at = now
                    delivery.save()
            sent.append(notice)
    if sent:
        advisories.publish_site(None, "advance notification")
        deliver_due(now)
    return sent


def _mail(notice: Notice, subscriber: Subscriber) -> None:
    s = notice.summary
    lines = [
        f"Advance notification: security release {s['release']}",
        "",
        f"Release date: {s['release_date']}",
        f"Bulletins: {s['bulletins']}",
        f"Highest severity: {s['highest_severity'] or 'not rated'}",
        f"Restart required: {'yes' if s['restart_required'] else 'no'}",
        "Products affected:",
        *[f"  - {name}" for name in s["products"]],
        "",
        "Details are published with the release.",
        f"Feed: {settings.MAMORI_PUBLISHING.site_url}/security/advance-notifications.atom",
    ]
    outbox.queue(
        case=None,
        kind="advance_notice",
        to=subscriber.email,
        subject=f"Advance notification: security release {s['release']}",
        body="\n".join(lines) + "\n",
    )


def payload(notice: Notice) -> bytes:
    return json.dumps({"event": EVENT, **notice.summary}, sort_keys=True).encode()


def deliver_due(now: datetime | None = None) -> int:
    """Try every webhook delivery whose time has come; returns how many were attempted."""
    now = now or timezone.now()
    due = Delivery.objects.filter(
        state=Delivery.State.PENDING,
        next_attempt_at__lte=now,
        subscriber__kind=Subscriber.Kind.WEBHOOK,
    ).select_related("notice", "subscriber")
    tried = 0
    for delivery in due:
        tried += 1
        sub = delivery.subscriber
        result = webhooks.deliver(
            sub.url,
            payload(delivery.notice),
            sub.secret.encode(),
            event=EVENT,
            delivery_id=f"{delivery.notice_id}-{delivery.pk}-{delivery.attempts + 1}",
            timeout=10.0,
            now=int(now.timestamp()),
        )
        delivery.attempts += 1
        delivery.last_status = result.status
        if result.ok:
            delivery.state = Delivery.State.SENT
            delivery.delivered_at = now
            delivery.last_error = ""
            delivery.next_attempt_at = None
        else:
            delivery.last_error = result.error
            later = next_attempt(delivery.attempts, now)
            if later is None or delivery.attempts >= MAX_ATTEMPTS:
                delivery.state = Delivery.State.FAILED
                delivery.next_attempt_at = None
                log.warning("gave up on webhook %s: %s", sub.url, result.error)
            else:
                delivery.next_attempt_at = later
        delivery.save()
    return tried


# Subscribers -----------------------------------------------------------------------------------


def subscribers(user: AnyUser) -> list[Subscriber]:
    require(user, Action.CASE_RELEASE)
    return list(Subscriber.objects.all())


def add_subscriber(user: AnyUser, *, name: str, email: str = "", url: str = "") -> Subscriber:
    """An e-mail or webhook subscriber; a webhook gets a fresh secret to verify signatures."""
    require(user, Action.CASE_RELEASE)
    name = " ".join(name.split())[:200]
    if not name:
        raise InvalidInput("give the subscriber a name", field="name")
    if bool(email) == bool(url):
        raise InvalidInput("give either an e-mail address or a webhook URL", field="url")
    if email:
        from django.core.exceptions import ValidationError
        from django.core.validators import validate_email

        try:
            validate_email(email)
        except ValidationError:
            raise InvalidInput("not an e-mail address", field="email") from None
        return Subscriber.objects.create(name=name, kind=Subscriber.Kind.EMAIL, email=email)
    if not url.startswith(("https://", "http://")) or len(url) > 500:
        raise InvalidInput("a webhook URL must be http(s)", field="url")
    return Subscriber.objects.create(
        name=name, kind=Subscriber.Kind.WEBHOOK, url=url, secret=secrets.token_urlsafe(32)
    )


def remove_subscriber(user: AnyUser, subscriber_id: int) -> None:
    require(user, Action.CASE_RELEASE)
    updated = Subscriber.objects.filter(pk=subscriber_id).update(active=False)
    if not updated:
        raise NotFound("no such subscriber")


def notice_of(user: AnyUser, release: Release) -> Notice | None:
    """The advance notification sent for ``release``, if any (no case details: internal read)."""
    require(user, Action.CASE_VIEW_INTERNAL)
    return Notice.objects.filter(release=release).first()


def deliveries(user: AnyUser, release: Release) -> list[Delivery]:
    require(user, Action.CASE_RELEASE)
    return list(Delivery.objects.filter(notice__release=release).select_related("subscriber"))
