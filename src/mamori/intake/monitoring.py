"""Monitoring public sources: feeds and OSV records read on a schedule, matched to the catalogue.

An item that mentions a catalogued product (name, alias or package URL) opens a case in
``received`` with source "public" and the item linked. Every item read is remembered by its
upstream id (unique), so the same upstream item never opens two cases — not when a source is
read again, and not when two sources carry it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from mamori.accounts.services import AnyUser, require
from mamori.cases import receiving
from mamori.core.authz import Action
from mamori.core.channels import Channel
from mamori.core.feeds import (
    CatalogueTerms,
    FeedItem,
    ProductTerms,
    matching_products,
    parse_feed,
    parse_osv,
)
from mamori.errors import Conflict, Error, InvalidInput
from mamori.intake import sources
from mamori.intake.models import FeedItemSeen, FeedSource
from mamori.products import services as catalogue

log = logging.getLogger("mamori.intake.monitoring")


@dataclass(frozen=True)
class CheckResult:
    source: str
    items: int  # items read
    new: int  # items not seen before
    cases: tuple[str, ...]  # tracking ids opened
    error: str = ""


def list_sources(user: AnyUser | None) -> QuerySet[FeedSource]:
    """The watched sources; ``user`` is None for the operator's command line."""
    if user is not None:
        require(user, Action.CASE_VIEW_INTERNAL)
    return FeedSource.objects.all()


@transaction.atomic
def add_source(
    user: AnyUser | None, name: str, location: str, interval_minutes: int = 60
) -> FeedSource:
    """Watch a public source: an http(s) feed or OSV URL, a file or a directory of OSV files."""
    if user is not None:
        require(user, Action.CATALOGUE_MANAGE)
    name, location = name.strip(), location.strip()
    if not name or len(name) > 200:
        raise InvalidInput("required, at most 200 characters", field="name")
    if not location or len(location) > 1000:
        raise InvalidInput("required, at most 1000 characters", field="location")
    if not 1 <= interval_minutes <= 7 * 24 * 60:
        raise InvalidInput("between 1 minute and a week", field="interval_minutes")
    try:
        with transaction.atomic():
            return FeedSource.objects.create(
                name=name, location=location, interval_minutes=interval_minutes
            )
    except IntegrityError:
        raise Conflict(f"{location!r} is watched already") from None


def _terms() -> CatalogueTerms:
    return CatalogueTerms(
        tuple(ProductTerms(slug, names, purls) for slug, names, purls in catalogue.product_terms())
    )


def _items(source: FeedSource) -> list[FeedItem]:
    """Every item the source holds now; a broken document is reported, the others kept."""
    items: list[FeedItem] = []
    problems: list[str] = []
    for name, data in sources.fetch(source.location):
        try:
            if sources.kind_of(name, data) == "osv":
                items.append(parse_osv(data))
            else:
                items.extend(parse_feed(data))
        except InvalidInput as error:
            problems.append(f"{name}: {error.message}")
    if problems and not items:
        raise InvalidInput("; ".join(problems[:5]), field="location")
    for problem in problems:
        log.warning("source %s: %s", source.name, problem)
    return items


def check(source: FeedSource) -> CheckResult:
    """Read a source now and open a case for each new item about a catalogued product."""
    now = timezone.now()
    try:
        items = _items(source)
    except Error as error:
        FeedSource.objects.filter(pk=source.pk).update(
            last_checked_at=now, last_error=error.message
        )
        return CheckResult(source.name, 0, 0, (), error.message)
    terms = _terms()
    seen = set(
        FeedItemSeen.objects.filter(upstream_id__in=[i.upstream_id for i in items]).values_list(
            "upstream_id", flat=True
        )
    )
    new, opened = 0, []
    for item in items:
        if item.upstream_id in seen or item.withdrawn is not None:
            continue
        new += 1
        tracking_id = _remember(source, item, matching_products(item, terms))
        if tracking_id:
            opened.append(tracking_id)
    FeedSource.objects.filter(pk=source.pk).update(last_checked_at=now, last_error="")
    return CheckResult(source.name, len(items), new, tuple(opened))


def _remember(source: FeedSource, item: FeedItem, products: tuple[str, ...]) -> str:
    """Record the item (once, ever) and open a case if it is about our products."""
    try:
        with transaction.atomic():
            seen = FeedItemSeen.objects.create(
                upstream_id=item.upstream_id,
                source=source,
                title=item.title[:300],
                url=item.url[:2000],
                products=",".join(products)[:1000],
            )
            if not products:
                return ""
            case = receiving.receive_report(
                receiving.IncomingReport(
                    title=item.title,
                    description=_description(item),
                    source=Channel.PUBLIC,
                    source_detail=(item.url or item.upstream_id)[:300],
                    reporter_name=source.name,
                    products=products,
                )
            )
            seen.case = case
            seen.save(update_fields=["case"])
            return case.tracking_id
    except IntegrityError:  # another worker recorded it at the same moment
        return ""


def _description(item: FeedItem) -> str:
    lines = [item.summary.strip(), ""]
    if item.url:
        lines.append(f"Source: {item.url}")
    lines.append(f"Upstream id: {item.upstream_id}")
    if item.published:
        lines.append(f"Published: {item.published:%Y-%m-%d %H:%M %Z}")
    if item.aliases:
        lines.append(f"Aliases: {', '.join(item.aliases)}")
    if item.purls:
        lines.append(f"Packages: {', '.join(item.purls)}")
    return "\n".join(lines).strip()


def check_all() -> list[CheckResult]:
    """Read every enabled source now (``mamori intake feed check``)."""
    return [check(source) for source in FeedSource.objects.filter(enabled=True)]


def check_due() -> list[CheckResult]:
    """Check every enabled source whose interval has passed (the worker's clock calls this)."""
    now = timezone.now()
    results = []
    for source in FeedSource.objects.filter(enabled=True):
        due = (
            source.last_checked_at is None
            or source.last_checked_at + timedelta(minutes=source.interval_minutes) <= now
        )
        if due:
            results.append(check(source))
    return results
