"""Release trains: the monthly calendar, out-of-band releases, assignment, the cut-off, publishing.

- The calendar (``ensure_calendar``) keeps the next 12 monthly releases, generated from the rule
  in ``MAMORI_RELEASE_*`` (``mamori.core.calendar``).
- A case handed to its product team is assigned to a release (``auto_assign``): Scheduled cases to
  the next monthly train whose code-freeze cut-off has not passed; an Immediate case needs an
  out-of-band release and is left for the release manager, who is told so on the releases page;
  an Out-of-Cycle case goes to the monthly train, with an out-of-band release suggested.
- At the cut-off (``roll_over``), cases that are not ready for release move to the next train,
  with the reason recorded.
- ``publish`` releases every case of a release at once, and refuses while any is not ready.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from mamori.accounts.models import User
from mamori.accounts.services import AnyUser, can, require
from mamori.assessment import services as assessment
from mamori.cases import services as cases
from mamori.cases.audit import AuditLog
from mamori.cases.models import Case
from mamori.core.authz import Action
from mamori.core.calendar import Train, open_train, upcoming
from mamori.core.sla import BusinessCalendar
from mamori.core.ssvc import Urgency
from mamori.core.workflow import State, StepInput
from mamori.errors import Conflict, GateRefused, InvalidInput, NotFound
from mamori.releases.models import Assignment, Move, Release

log = logging.getLogger(__name__)

MONTHS_AHEAD = 12
MAX_REASON = 2_000
#: States from which a case can still make a release (the others are finished or not fixes).
_FIXING = (State.CONFIRMED, State.IN_DEVELOPMENT, State.IN_TESTING, State.READY_FOR_RELEASE)


def business_calendar() -> BusinessCalendar:
    intake = settings.MAMORI_INTAKE
    rule = settings.MAMORI_PUBLISHING.release_rule
    return BusinessCalendar(rule.zone, intake.workdays, intake.holidays)


# The calendar ---------------------------------------------------------------------------------


def ensure_calendar(now: datetime | None = None) -> list[Release]:
    """Create the monthly releases of the next 12 months that do not exist yet (idempotent).

    An existing planned release keeps its dates unless the rule changed them, in which case the
    dates are updated; a published release is never touched.
    """
    now = now or timezone.now()
    trains = upcoming(settings.MAMORI_PUBLISHING.release_rule, now, business_calendar())
    made = []
    with transaction.atomic():
        for train in trains:
            release, created = Release.objects.get_or_create(
                name=train.name,
                defaults={
                    "kind": Release.Kind.MONTHLY,
                    "release_at": train.release_at,
                    "cutoff_at": train.cutoff_at,
                    "notify_at": train.notify_at,
                },
            )
            if not created and release.is_monthly and not release.is_published:
                _follow_rule(release, train)
            made.append(release)
    return made


def _follow_rule(release: Release, train: Train) -> None:
    dates = {
        "release_at": train.release_at,
        "cutoff_at": train.cutoff_at,
        "notify_at": train.notify_at,
    }
    if any(getattr(release, name) != value for name, value in dates.items()):
        for name, value in dates.items():
            setattr(release, name, value)
        release.save(update_fields=list(dates))


def next_open_train(now: datetime | None = None) -> Release:
    """The monthly release whose code-freeze cut-off has not passed yet."""
    now = now or timezone.now()
    ensure_calendar(now)
    planned = list(
        Release.objects.filter(
            kind=Release.Kind.MONTHLY, state=Release.State.PLANNED, cutoff_at__gt=now
        ).order_by("cutoff_at")
    )
    trains = [
        Train(r.name, r.release_at, r.cutoff_at, r.notify_at)  # type: ignore[arg-type]
        for r in planned
    ]
    found = open_train(trains, now)
    if found is None:  # cannot happen with 12 months generated; guard anyway
        raise NotFound("no monthly release is open")
    return next(r for r in planned if r.name == found.name)


# Reading ---------------------------------------------------------------------------------------


def _readable(user: AnyUser) -> User:
    return require(user, Action.CASE_VIEW_INTERNAL)


def releases(user: AnyUser, *, include_published: bool = True) -> QuerySet[Release]:
    _readable(user)
    ensure_calendar()
    found = Release.objects.all()
    if not include_published:
        found = found.filter(state=Release.State.PLANNED)
    return found


def get_release(user: AnyUser, name: str) -> Release:
    _readable(user)
    if not Release.objects.filter(
        kind=Release.Kind.MONTHLY, release_at__gt=timezone.now()
    ).exists():
        ensure_calendar()
    try:
        return Release.objects.get(name=name)
    except Release.DoesNotExist:
        raise NotFound(f"no release {name[:40]!r}") from None


def overview(user: AnyUser) -> list[tuple[Release, int]]:
    """Every release with the number of its cases ``user`` may see, in one query."""
    visible = cases.visible_cases(user).values("pk")
    counted = releases(user).annotate(
        visible_cases=Count("assignments", filter=Q(assignments__case__in=visible))
    )
    return [(release, release.visible_cases) for release in counted]


def cases_in(user: AnyUser, release: Release) -> list[Case]:
    """The cases of ``release`` that ``user`` may see (engineers: their teams' cases)."""
    visible = cases.visible_cases(user)
    return list(visible.filter(release_slot__release=release).order_by("tracking_id"))


def release_of(case: Case) -> Release | None:
    slot = Assignment.objects.filter(case=case).select_related("release").first()
    return slot.release if slot else None


def moves_of(case: Case) -> list[Move]:
    return list(Move.objects.filter(case=case).select_related("from_release", "to_release"))


def effective_urgency(case: Case) -> Urgency | None:
    """The SSVC urgency, raised to Out-of-Cycle while a case is public before its fix ships."""
    urgency = assessment.urgency_of(case)
    public_before_fix = case.public_aware_at is not None and case.state_enum in _FIXING
    if public_before_fix and (urgency is None or urgency.rank > Urgency.OUT_OF_CYCLE.rank):
        return Urgency.OUT_OF_CYCLE
    return urgency


@dataclass(frozen=True)
class Suggestion:
    case: Case
    urgency: Urgency | None
    release: Release | None
    message: str


def out_of_band_suggestions(user: AnyUser) -> list[Suggestion]:
    """Cases whose urgency calls for an out-of-band release and that are not in one yet."""
    _readable(user)
    found = []
    for case in cases.visible_cases(user).filter(state__in=[s.value for s in _FIXING]):
        urgency = effective_urgency(case)
        if urgency is None or not urgency.out_of_band:
            continue
        release = release_of(case)
        if release is not None and not release.is_monthly:
            continue
        if urgency is Urgency.IMMEDIATE:
            message = "Immediate: an out-of-band release is required"
        else:
            message = "Out-of-Cycle: an out-of-band release is suggested"
        found.append(Suggestion(case, urgency, release, message))
    return found


# Assigning and moving -------------------------------------------------------------------------


def _reason(text: str) -> str:
    reason = " ".join(text.split())[:MAX_REASON]
    if not reason:
        raise InvalidInput("give a reason", field="reason")
    return reason


def _place(case: Case, release: Release, actor: User | None, reason: str) -> None:
    if release.is_published:
        raise Conflict(f"release {release.name} is already published")
    slot = Assignment.objects.filter(case=case).select_related("release").first()
    before = slot.release if slot else None
    if before is not None and before.pk == release.pk:
        return
    if before is not None and before.is_published:
        raise Conflict(f"case {case.tracking_id} already shipped in {before.name}")
    if slot is None:
        Assignment.objects.create(case=case, release=release, assigned_by=actor)
    else:
        slot.release = release
        slot.assigned_by = actor
        slot.assigned_at = timezone.now()
        slot.save()
    Move.objects.create(
        case=case, from_release=before, to_release=release, reason=reason, actor=actor
    )
    audit = AuditLog(case, actor)
    audit.change("release", before.name if before else "", release.name, action="release")
    audit.save()


def auto_assign(case: Case, actor: User | None) -> Release | None:
    """Put a case handed to its product team into the right train; ``None`` if left to a person.

    Immediate cases need an out-of-band release, which a release manager creates.
    """
    if Assignment.objects.filter(case=case).exists():
        return None
    urgency = effective_urgency(case)
    if urgency is Urgency.IMMEDIATE:
        return None
    release = next_open_train()
    label = urgency.label if urgency is not None else "no SSVC decision yet"
    _place(case, release, actor, f"assigned to the next open monthly release ({label})")
    return release


@transaction.atomic
def assign(user: AnyUser, tracking_id: str, release_name: str, reason: str) -> Release:
    """Put a case into a release (or move it to another one), with a reason."""
    actor = require(user, Action.CASE_RELEASE)
    case = cases.lock_case(actor, tracking_id)
    if case.state_enum not in _FIXING:
        raise Conflict(f"case {case.tracking_id} is {case.state_enum.label.lower()}: no fix ships")
    release = get_release(actor, release_name)
    if release.is_monthly and release.cutoff_at and release.cutoff_at <= timezone.now():
        raise Conflict(f"the code-freeze cut-off of {release.name} has passed")
    if release.is_monthly and effective_urgency(case) is Urgency.IMMEDIATE:
        raise Conflict(
            f"case {case.tracking_id} is Immediate: it must ship in an out-of-band release"
        )
    _place(case, release, actor, _reason(reason))
    return release


@transaction.atomic
def create_out_of_band(
    user: AnyUser, *, release_at: datetime, reason: str, tracking_ids: Sequence[str] = ()
) -> Release:
    """An out-of-band release, optionally with the cases it ships (moved out of their trains)."""
    actor = require(user, Action.CASE_RELEASE)
    if release_at.tzinfo is None:
        raise InvalidInput("give the release time with its time zone", field="release_at")
    why = _reason(reason)
    local = timezone.localtime(release_at, ZoneInfo(settings.TIME_ZONE))
    stem = f"OOB-{local:%Y-%m-%d}"
    taken = Release.objects.filter(name__startswith=stem).count()
    for number in range(taken + 1, taken + 20):  # two managers at once: the next number
        try:
            with transaction.atomic():
                release = Release.objects.create(
                    name=f"{stem}-{number}",
                    kind=Release.Kind.OUT_OF_BAND,
                    release_at=release_at,
                    reason=why,
                    created_by=actor,
                )
            break
        except IntegrityError:
            continue
    else:
        raise Conflict("could not name the out-of-band release; try again")
    for tracking_id in tracking_ids:
        case = cases.lock_case(actor, tracking_id)
        if case.state_enum not in _FIXING:
            raise Conflict(f"case {case.tracking_id} is not being fixed")
        _place(case, release, actor, f"out-of-band release: {why}")
    return release


def roll_over(now: datetime | None = None) -> list[tuple[str, str, str]]:
    """At each passed cut-off, move the cases that are not ready to the next open train.

    Returns (case, from, to) for every move. Runs from the worker's clock; idempotent.
    """
    now = now or timezone.now()
    moved = []
    frozen = Release.objects.filter(
        kind=Release.Kind.MONTHLY, state=Release.State.PLANNED, cutoff_at__lte=now
    )
    for release in frozen:
        late = Assignment.objects.filter(release=release).exclude(
            case__state=State.READY_FOR_RELEASE.value
        )
        for slot in late.select_related("case"):
            with transaction.atomic():
                case = Case.objects.select_for_update().get(pk=slot.case_id)
                target = next_open_train(now)
                reason = (
                    f"missed the code-freeze cut-off of {release.name} "
                    f"({timezone.localtime(release.cutoff_at):%Y-%m-%d %H:%M %Z}) while "
                    f"{case.state_enum.label.lower()}"
                )
                _place(case, target, None, reason)
                moved.append((case.tracking_id, release.name, target.name))
    for tracking_id, old, new in moved:
        log.info("case %s missed the cut-off of %s: moved to %s", tracking_id, old, new)
    return moved


# Publishing ------------------------------------------------------------------------------------


def not_ready(release: Release, user: AnyUser | None = None) -> list[str]:
    """What stops ``release`` from being published, one line per case (only the cases ``user``
    may see, when a user is given: an engineer never learns another team's tracking ids)."""
    found = []
    slots = Assignment.objects.filter(release=release).select_related("case")
    if user is not None:
        slots = slots.filter(case__in=cases.visible_cases(user))
    for slot in slots:
        case = slot.case
        if case.state_enum is not State.READY_FOR_RELEASE:
            found.append(f"{case.tracking_id} is {case.state_enum.label.lower()}")
    return sorted(found)


def publish(user: AnyUser, name: str) -> Release:
    """Release every case of ``name``: advisories issued, cases released, the public tree swapped.

    Refused, changing nothing, while any case is not ready for release or anything an advisory
    needs is missing; a document that fails validation is never written.
    """
    from mamori.advisories import services as advisories  # advisories depend on releases

    actor = require(user, Action.CASE_RELEASE)
    with transaction.atomic():
        release = Release.objects.select_for_update().filter(name=name).first()
        if release is None:
            raise NotFound(f"no release {name[:40]!r}")
        if release.is_published:
            raise Conflict(f"release {release.name} is already published")
        slots = list(Assignment.objects.filter(release=release).select_related("case"))
        if not slots:
            raise Conflict(f"release {release.name} has no cases to publish")
        blocking = not_ready(release)
        if blocking:
            raise GateRefused("published", [f"every case ready for release: {b}" for b in blocking])
        now = timezone.now()
        problems = []
        for slot in slots:
            problems += advisories.missing_for_bulletin(slot.case)
        if problems:
            raise GateRefused("published", problems)
        for slot in slots:
            advisories.issue_bulletin(actor, slot.case, release, now)
            cases.transition(
                actor,
                slot.case.tracking_id,
                State.RELEASED.value,
                StepInput(release_reference=release.name),
            )
        release.state = Release.State.PUBLISHED
        release.published_at = now
        release.published_by = actor
        release.save()
        advisories.publish_site(actor, f"release {release.name}")
    return release


def may_publish(user: AnyUser) -> bool:
    return can(user, Action.CASE_RELEASE)
