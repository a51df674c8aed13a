"""Importing CISA's KEV catalog and FIRST's EPSS scores: on demand and on a schedule.

Every file is stored as it arrived, with its SHA-256, before it is parsed; a file already imported
is recognised by its digest and changes nothing (imports are idempotent). A file that fails to
parse is kept too, with the reason, and refused again with the same reason.

EPSS scores are kept per model version. Only the newest model's scores count for priorities:
scores of different model versions are never compared (FIRST re-scales every score when a model
changes), and a file from an older model is stored but does not replace anything.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from mamori.accounts.models import User
from mamori.accounts.services import AnyUser, require
from mamori.assessment import services
from mamori.assessment.models import CaseCve, EpssScore, KevEntry, ThreatImport
from mamori.core.authz import Action
from mamori.core.epss import MAX_EPSS_BYTES as MAX_EPSS_BYTES
from mamori.core.epss import EpssFile, model_key, parse_epss
from mamori.core.kev import MAX_KEV_BYTES as MAX_KEV_BYTES
from mamori.core.kev import KevCatalog, parse_kev
from mamori.errors import InvalidInput, PayloadTooLarge

log = logging.getLogger("mamori.assessment")

BATCH = 5_000
FETCH_TIMEOUT = 60


@dataclass(frozen=True)
class ImportResult:
    kind: str
    version: str
    entries: int
    new: bool  # False: this exact file was imported before; nothing changed
    warnings: tuple[str, ...]
    cases_changed: tuple[str, ...]
    message: str


def _store(kind: str, data: bytes, source: str, by: str) -> tuple[ThreatImport, bool]:
    """Keep the raw file first, in its own transaction; return it and whether it is new."""
    digest = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        found = ThreatImport.objects.filter(kind=kind, sha256=digest).first()
        if found is not None:
            return found, False
        record = ThreatImport(
            kind=kind,
            source=source[:1000],
            sha256=digest,
            size=len(data),
            imported_by=by[:200],
            outcome="stored, not yet parsed",
        )
        record.raw.save(f"{digest}.{kind}", ContentFile(data), save=False)
        record.save()
        return record, True


def _refuse(record: ThreatImport, error: InvalidInput) -> InvalidInput:
    record.outcome = f"refused: {error.message}"
    record.problems = [[name, problem] for name, problem in error.problems.items()]
    record.save(update_fields=["outcome", "problems"])
    return error


def _again(record: ThreatImport) -> ImportResult:
    record.last_seen_at = timezone.now()
    record.save(update_fields=["last_seen_at"])
    if record.outcome.startswith("refused: "):
        raise InvalidInput({str(name): str(problem) for name, problem in record.problems})
    return ImportResult(
        record.kind,
        record.version,
        record.entries,
        False,
        tuple(record.warnings),
        (),
        f"this file was already imported on {record.imported_at:%Y-%m-%d %H:%M} "
        f"(SHA-256 {record.sha256[:12]}…); nothing changed",
    )


def _size(data: bytes, limit: int, kind: str) -> None:
    if len(data) > limit:
        raise PayloadTooLarge(f"larger than {limit // (1024 * 1024)} MiB", field=kind)


def _affected_cases(cve_ids: set[str]) -> set[int]:
    # Cases are few next to catalog entries: match in Python rather than with a huge IN list.
    pairs = CaseCve.objects.values_list("case_id", "cve_id")
    return {case_id for case_id, cve in pairs if cve in cve_ids}


# KEV -----------------------------------------------------------------------------------------


def import_kev(
    user: AnyUser | None, data: bytes, source: str, *, operator: str = "scheduled"
) -> ImportResult:
    """Import a KEV catalog (JSON). ``user`` None is the machine's operator (the scheduler or
    the command line, named by ``operator``)."""
    actor = require(user, Action.THREAT_IMPORT) if user is not None else None
    _size(data, MAX_KEV_BYTES, "kev")
    by = actor.username if actor else f"mamori ({operator})"
    record, new = _store(ThreatImport.Kind.KEV, data, source, by)
    if not new:
        return _again(record)
    try:
        catalog = parse_kev(data)
    except InvalidInput as error:
        raise _refuse(record, error) from None
    return _apply_kev(record, catalog, actor)


def _apply_kev(record: ThreatImport, catalog: KevCatalog, actor: User | None) -> ImportResult:
    fields = [
        "vendor_project",
        "product",
        "name",
        "date_added",
        "due_date",
        "due_before_added",
        "short_description",
        "required_action",
        "known_ransomware_use",
        "notes",
        "cwes",
        "catalog_version",
    ]
    with transaction.atomic():
        KevEntry.objects.bulk_create(
            [
                KevEntry(
                    cve_id=e.cve_id,
                    vendor_project=e.vendor_project[:300],
                    product=e.product[:300],
                    name=e.name[:500],
                    date_added=e.date_added,
                    due_date=e.due_date,
                    due_before_added=e.due_before_added,
                    short_description=e.short_description,
                    required_action=e.required_action,
                    known_ransomware_use=e.known_ransomware_use[:32],
                    notes=e.notes,
                    cwes=list(e.cwes),
                    catalog_version=catalog.version[:64],
                )
                for e in catalog.entries
            ],
            batch_size=BATCH,
            update_conflicts=True,
            unique_fields=["cve_id"],
            update_fields=fields,
        )
        record.version = catalog.version[:64]
        record.published = catalog.released
        record.entries = len(catalog.entries)
        record.warnings = list(catalog.warnings)
        record.outcome = f"imported {len(catalog.entries)} entries"
        record.save()
    changed = services.refresh_cases(_affected_cases({e.cve_id for e in catalog.entries}), actor)
    flagged = sum(1 for e in catalog.entries if e.due_before_added)
    message = f"KEV catalog {catalog.version}: {len(catalog.entries)} entries"
    if flagged:
        message += f", {flagged} with a due date before the date added (kept, flagged)"
    if changed:
        message += f"; priority changed for {', '.join(changed)}"
    return ImportResult(
        "kev",
        catalog.version,
        len(catalog.entries),
        True,
        catalog.warnings,
        tuple(changed),
        message,
    )


# EPSS ----------------------------------------------------------------------------------------


def import_epss(
    user: AnyUser | None, data: bytes, source: str, *, operator: str = "scheduled"
) -> ImportResult:
    """Import an EPSS score file (CSV, gzipped or not); ``user`` as for ``import_kev``."""
    actor = require(user, Action.THREAT_IMPORT) if user is not None else None
    _size(data, MAX_EPSS_BYTES, "epss")
    by = actor.username if actor else f"mamori ({operator})"
    record, new = _store(ThreatImport.Kind.EPSS, data, source, by)
    if not new:
        return _again(record)
    try:
        scores = parse_epss(data)
    except InvalidInput as error:
        raise _refuse(record, error) from None
    return _apply_epss(record, scores, actor)


def _apply_epss(record: ThreatImport, scores: EpssFile, actor: User | None) -> ImportResult:
    model = scores.model_version
    current = services.current_epss_model()
    same_model = (
        ThreatImport.objects.filter(kind=ThreatImport.Kind.EPSS, version=model, entries__gt=0)
        .order_by("-published")
        .first()
    )
    published = datetime.combine(scores.score_date, time.min, tzinfo=UTC)
    warnings: list[str] = []
    if same_model is not None and same_model.published and same_model.published >= published:
        warnings.append(
            f"scores of {scores.score_date} are not newer than those held for model {model} "
            f"({same_model.published:%Y-%m-%d}); nothing replaced"
        )
        record.version, record.published = model, published
        record.outcome = warnings[0]
        record.warnings = warnings
        record.save()
        return ImportResult("epss", model, 0, True, tuple(warnings), (), warnings[0])
    older_model = bool(current) and current != model and model_key(model) < model_key(current)
    if older_model:
        warnings.append(
            f"model {model} is older than the current model {current}: its scores are kept "
            "but never compared with the current model's and do not affect priorities"
        )
    elif current and current != model:
        warnings.append(
            f"a new EPSS model {model} replaces {current}: only scores under {model} count from "
            "now on; scores under the two models are never compared"
        )
    with transaction.atomic():
        rows = [
            EpssScore(
                cve_id=s.cve_id,
                model_version=model,
                score_date=scores.score_date,
                probability=s.epss,
                percentile=s.percentile,
            )
            for s in scores.scores
        ]
        EpssScore.objects.bulk_create(
            rows,
            batch_size=BATCH,
            update_conflicts=True,
            unique_fields=["model_version", "cve_id"],
            update_fields=["score_date", "probability", "percentile"],
        )
        record.version = model
        record.published = published
        record.entries = len(rows)
        record.warnings = warnings
        record.outcome = f"imported {len(rows)} scores under model {model}"
        record.save()
    changed: list[str] = []
    if not older_model:
        changed = services.refresh_cases(
            _affected_cases({s.cve_id for s in scores.scores}) | _cases_with_scores(), actor
        )
    message = f"EPSS {scores.score_date} (model {model}): {len(rows)} scores"
    if warnings:
        message += "; " + "; ".join(warnings)
    if changed:
        message += f"; priority changed for {', '.join(changed)}"
    return ImportResult("epss", model, len(rows), True, tuple(warnings), tuple(changed), message)


def _cases_with_scores() -> set[int]:
    """Cases whose priority may read an EPSS score (a new model changes which one counts)."""
    return set(CaseCve.objects.values_list("case_id", flat=True))


# Fetching and the schedule -------------------------------------------------------------------


def fetch(url: str, limit: int) -> bytes:
    """Download ``url`` (http or https only), refusing more than ``limit`` bytes."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise InvalidInput("only http and https URLs can be fetched", field="url")
    headers = {"User-Agent": "Mamori threat-feed import"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (scheme checked above)
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
            data: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as error:
        error.close()  # it holds the response's connection open until closed
        raise InvalidInput(f"{url} answered {error.code} {error.reason}", field="url") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise InvalidInput(f"cannot fetch {url}: {reason}", field="url") from None
    if len(data) > limit:
        raise PayloadTooLarge(f"{url} sent more than {limit // (1024 * 1024)} MiB", field="url")
    return data


def import_due(now: datetime | None = None) -> list[str]:
    """The scheduled imports: each feed whose last import from its URL is older than
    ``MAMORI_THREAT_IMPORT_HOURS``. Failures are logged and retried on the next tick."""
    feeds = settings.MAMORI_THREAT_FEEDS
    if feeds.import_hours == 0:
        return []
    now = now or timezone.now()
    done = []
    for kind, url, limit, importer in (
        (ThreatImport.Kind.KEV, feeds.kev_url, MAX_KEV_BYTES, import_kev),
        (ThreatImport.Kind.EPSS, feeds.epss_url, MAX_EPSS_BYTES, import_epss),
    ):
        last = (
            ThreatImport.objects.filter(kind=kind, source=url)
            .order_by("-last_seen_at")
            .values_list("last_seen_at", flat=True)
            .first()
        )
        if last is not None and now - last < timedelta(hours=feeds.import_hours):
            continue
        try:
            result = importer(None, fetch(url, limit), url)
        except InvalidInput as error:
            log.warning("scheduled %s import from %s failed: %s", kind, url, error.message)
            continue
        done.append(result.message)
    return done


def history(user: AnyUser, limit: int = 50) -> list[ThreatImport]:
    require(user, Action.CASE_VIEW_INTERNAL)
    return list(ThreatImport.objects.all()[:limit])
