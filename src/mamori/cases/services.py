"""Cases: the only entry point for views, the API, the CLI and other apps.

Every function takes the acting user first. Which cases a user can see is decided once, in
``visible_cases``; a case outside it is "not found" for that user, whatever they try.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import BooleanField, Prefetch, Q, QuerySet, Value, When
from django.db.models import Case as Case_When
from django.utils import timezone

from mamori.accounts.models import User
from mamori.accounts.services import AnyUser, can, require, role_of
from mamori.cases import gates
from mamori.cases.attachments import store_attachments
from mamori.cases.audit import AuditLog
from mamori.cases.duplicates import rank_later
from mamori.cases.models import (
    FLAG_FIELDS,
    Attachment,
    AuditEntry,
    Case,
    Message,
    MessageKind,
    StateEntry,
    Via,
)
from mamori.cases.numbering import next_tracking_id
from mamori.cases.signals import flag_raised, message_for_reporter, state_changed
from mamori.core.authz import CASE_VISIBILITY, Action, Visibility, allows
from mamori.core.channels import Channel
from mamori.core.priority import Priority
from mamori.core.similarity import Candidate
from mamori.core.tracking import TrackingId
from mamori.core.workflow import (
    FLAGS_ON_ENTRY,
    REPORTER_VIEW,
    CaseFacts,
    Flag,
    ReporterState,
    State,
    Step,
    StepInput,
    check_step,
    find_step,
    steps_from,
)
from mamori.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from mamori.products import services as catalogue

MAX_TEXT = 100_000
SYSTEM = "Mamori"

# Scope ---------------------------------------------------------------------------------------


def visible_cases(user: AnyUser) -> QuerySet[Case]:
    """Every case ``user`` may see. All case queries for a user start here."""
    visibility = CASE_VISIBILITY[role_of(user)]
    cases = Case.objects.all()
    if visibility is Visibility.OWN:
        return cases.filter(reporter_id=user.pk)
    if visibility is Visibility.TEAM:
        teams = catalogue.team_ids_of(user)
        inside = Case.objects.filter(Q(owning_team__in=teams) | Q(products__teams__in=teams))
        return cases.filter(pk__in=inside.values("pk"))
    return cases


def _well_formed(tracking_id: str) -> bool:
    try:
        TrackingId.parse(tracking_id)
    except InvalidInput:
        return False
    return True


def get_case(user: AnyUser, tracking_id: str) -> Case:
    """The case, if ``user`` may see it; ids that cannot exist are not looked up at all."""
    if not _well_formed(tracking_id):
        raise NotFound(f"no case {tracking_id[:40]!r}")
    case = visible_cases(user).filter(tracking_id=tracking_id).first()
    if case is None:
        raise NotFound(f"no case {tracking_id[:40]!r}")
    return case


def _locked(user: AnyUser, tracking_id: str) -> Case:
    """The case, visible to ``user``, locked for the rest of the transaction."""
    pk = get_case(user, tracking_id).pk
    return Case.objects.select_for_update().get(pk=pk)


def lock_case(user: AnyUser, tracking_id: str) -> Case:
    """For other apps' services that change a case: the case, if ``user`` may see it and is
    internal, locked for the rest of the transaction."""
    case = _locked(user, tracking_id)
    if not is_internal(user):
        raise NotFound(f"no case {tracking_id[:40]!r}")
    return case


def is_internal(user: AnyUser) -> bool:
    return can(user, Action.CASE_VIEW_INTERNAL)


# Creating and editing ------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseDraft:
    title: str
    description: str = ""
    source: Channel = Channel.INTERNAL
    products: tuple[str, ...] = ()
    reporter_name: str = ""
    reporter_email: str = ""
    reporter_organisation: str = ""


@dataclass(frozen=True)
class CaseChanges:
    """Fields to change; ``None`` leaves a field as it is."""

    title: str | None = None
    description: str | None = None
    products: tuple[str, ...] | None = None
    owning_team: str | None = None  # team slug, "" to clear
    assignee: str | None = None  # username, "" to clear
    reporter_name: str | None = None
    reporter_email: str | None = None
    reporter_organisation: str | None = None


def clean_text(value: str, name: str, limit: int, *, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput("required", field=name)
    if len(value) > limit:
        raise InvalidInput(f"at most {limit} characters", field=name)
    return value


@transaction.atomic
def create_case(user: AnyUser, draft: CaseDraft) -> Case:
    actor = require(user, Action.CASE_CREATE)
    external = not actor.is_internal
    now = timezone.now()
    case = Case(
        tracking_id=str(next_tracking_id(now)),
        title=clean_text(draft.title, "title", 300, required=True),
        description=clean_text(draft.description, "description", MAX_TEXT),
        source=_source(draft.source, external),
        reporter=actor if external else None,
        reporter_name=clean_text(
            actor.get_full_name() or actor.username if external else draft.reporter_name,
            "reporter_name",
            200,
        ),
        reporter_email=clean_text(actor.email if external else draft.reporter_email, "email", 254),
        reporter_organisation=clean_text(
            actor.organisation if external else draft.reporter_organisation, "organisation", 200
        ),
        state=State.RECEIVED.value,
        state_changed_at=now,
        created_at=now,
        vendor_aware_at=now,
    )
    if external or case.reporter_email:
        case.first_response_due_at = _first_response_due(now)
    products = catalogue.resolve_products(draft.products) if actor.is_internal else []
    case.save()
    case.products.set(products)
    StateEntry.objects.create(case=case, state=case.state, entered_at=now, actor=actor)
    log = AuditLog(case, actor, now)
    log.add("created", "state", "", case.state)
    log.add("flag", "V", "", now.isoformat())
    if products:
        log.add("update", "products", "", slugs_of(products))
    log.save()
    rank_later(case)
    return case


def _first_response_due(received: datetime) -> datetime:
    from mamori.cases.receiving import first_response_due

    return first_response_due(received)


def _responded(case: Case, now: datetime, log: AuditLog) -> None:
    """The first human response to the reporter meets the case's SLA."""
    if case.first_response_at is None:
        case.first_response_at = now
        case.save(update_fields=["first_response_at", "updated_at"])
        log.add("sla", "first_response_at", "", now.isoformat())


def _source(source: Channel, external: bool) -> Channel:
    """External reporters cannot claim to be a coordinator or an internal channel."""
    if external and source not in (Channel.WEB, Channel.API):
        return Channel.WEB
    return source


def slugs_of(products: Iterable[object]) -> str:
    return ", ".join(sorted(getattr(p, "slug", str(p)) for p in products))


def _user_display(user: User | None) -> str:
    return "" if user is None else user.username


def _internal_user(username: str) -> User:
    person = User.objects.filter(username=username, is_active=True).first()
    if person is None or not person.is_internal:
        raise InvalidInput(f"no active internal user {username!r}", field="assignee")
    return person


@transaction.atomic
def update_case(user: AnyUser, tracking_id: str, changes: CaseChanges) -> Case:
    actor = require(user, Action.CASE_EDIT)
    case = _locked(actor, tracking_id)
    log = AuditLog(case, actor)
    for name, limit in (
        ("title", 300),
        ("description", MAX_TEXT),
        ("reporter_name", 200),
        ("reporter_email", 254),
        ("reporter_organisation", 200),
    ):
        value = getattr(changes, name)
        if value is not None:
            new = clean_text(value, name, limit, required=name == "title")
            log.change(name, getattr(case, name), new)
            setattr(case, name, new)
    if changes.owning_team is not None:
        team = catalogue.resolve_team(changes.owning_team) if changes.owning_team else None
        log.change("owning_team", getattr(case.owning_team, "slug", ""), getattr(team, "slug", ""))
        case.owning_team = team
    if changes.assignee is not None:
        person = _internal_user(changes.assignee) if changes.assignee else None
        log.change("assignee", _user_display(case.assignee), _user_display(person))
        case.assignee = person
    case.save()
    if changes.products is not None:
        products = catalogue.resolve_products(changes.products)
        log.change("products", slugs_of(case.products.all()), slugs_of(products))
        case.products.set(products)
    log.save()
    return case


def record_rating(
    case: Case,
    *,
    severity: str,
    cvss_score: Decimal | None,
    priority: Priority,
    log: AuditLog,
) -> None:
    """Keep the case's summary of its assessment current: for the assessment app only, which has
    authorised the change and audits its own fields; the summary's changes are audited here."""
    log.change("severity", case.severity, severity)
    log.change("priority", f"P{case.priority}", priority.label)
    case.severity = severity
    case.cvss_score = cvss_score
    case.priority = priority.level
    case.priority_score = priority.score
    case.save(update_fields=["severity", "cvss_score", "priority", "priority_score", "updated_at"])


def raise_flag(case: Case, flag: Flag, at: datetime, log: AuditLog) -> bool:
    """Make ``flag`` true since ``at``, or since earlier than recorded: for other apps' services,
    which have authorised the change (the assessment's public facts set P, X and A)."""
    name = FLAG_FIELDS[flag]
    current = getattr(case, name)
    if current is not None and current <= at:
        return False
    setattr(case, name, at)
    case.save(update_fields=[name, "updated_at"])
    log.add("flag", flag.value, current.isoformat() if current else "", at.isoformat())
    return True


# The workflow --------------------------------------------------------------------------------


def facts(case: Case) -> CaseFacts:
    """What the gates see: the case's own fields and what other apps contribute (``gates``)."""
    base: dict[str, object] = {
        "state": case.state_enum,
        "product_count": case.products.count(),
        "severity": case.severity,
        "owning_team": str(case.owning_team_id or ""),
        "assignee": str(case.assignee_id or ""),
    }
    return CaseFacts(**(base | gates.contributed(case)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class StepOption:
    """A step offered from the case's state, whether this user may take it, what it lacks."""

    step: Step
    permitted: bool
    missing: tuple[str, ...]  # requirements on the case itself that are not yet met
    inputs: tuple[str, ...]  # what the user must supply with the step


def step_options(user: AnyUser, case: Case) -> list[StepOption]:
    role = role_of(user)
    if not allows(role, Action.CASE_VIEW_INTERNAL):
        return []
    snapshot = facts(case)
    options = []
    for step in steps_from(snapshot.state):
        lacking = [r for r in step.missing(snapshot, StepInput()) if r.key not in step.inputs]
        options.append(
            StepOption(
                step,
                allows(role, step.action),
                tuple(r.describe(snapshot) for r in lacking),
                step.inputs,
            )
        )
    return options


@transaction.atomic
def transition(user: AnyUser, tracking_id: str, target: str, given: StepInput) -> Case:
    """Move a case one step; refused steps raise and change nothing.

    Users who may not see internal state are refused (403, the same for every target) before the
    workflow is consulted, so the answer tells them nothing about the state; cases they cannot
    see are "not found" as everywhere.
    """
    case = _locked(user, tracking_id)
    if not is_internal(user):
        raise PermissionDenied("your role may not move cases through the workflow")
    try:
        goal = State(target)
    except ValueError:
        raise InvalidInput(f"unknown state {target[:40]!r}", field="target") from None
    step = find_step(case.state_enum, goal)
    actor = require(user, step.action)
    check_step(facts(case), goal, given)
    original = _original(actor, case, given) if goal is State.DUPLICATE else None
    _apply(case, step, actor, given, original)
    return case


def _original(actor: User, case: Case, given: StepInput) -> Case:
    wanted = given.duplicate_of.strip()
    original = (
        visible_cases(actor).filter(tracking_id=wanted).first() if _well_formed(wanted) else None
    )
    if original is None:
        raise InvalidInput(f"no case {given.duplicate_of[:40]!r}", field="duplicate_of")
    if original.pk == case.pk:
        raise InvalidInput("a case cannot duplicate itself", field="duplicate_of")
    return original


def _apply(case: Case, step: Step, actor: User, given: StepInput, original: Case | None) -> None:
    now = timezone.now()
    log = AuditLog(case, actor, now)
    log.change("state", case.state, step.target.value, action="transition")
    case.state = step.target.value
    case.state_changed_at = now
    if step.is_rework:
        log.change("rework_count", str(case.rework_count), str(case.rework_count + 1))
        case.rework_count += 1
    for name in ("bug_reference", "build_reference", "release_reference"):
        value = clean_text(getattr(given, name), name, 300)
        if name in step.inputs:
            log.change(name, getattr(case, name), value)
            setattr(case, name, value)
    if original is not None:
        log.change("duplicate_of", "", original.tracking_id)
        case.duplicate_of = original
    for flag in sorted(FLAGS_ON_ENTRY.get(step.target, ())):
        if getattr(case, FLAG_FIELDS[flag]) is None:
            setattr(case, FLAG_FIELDS[flag], now)
            log.add("flag", flag.value, "", now.isoformat())
    case.save()
    reason = clean_text(given.reason, "reason", MAX_TEXT)
    StateEntry.objects.create(
        case=case, state=case.state, entered_at=now, actor=actor, reason=reason
    )
    if _tell_reporter(case, step, reason, original, now):
        _responded(case, now, log)
    log.save()
    state_changed.send(sender=Case, case=case, step=step, actor=actor)


def _tell_reporter(
    case: Case, step: Step, reason: str, original: Case | None, now: datetime
) -> bool:
    if step.target is State.NEEDS_INFO:
        body = f"We need more information to continue:\n\n{reason}"
    elif step.target is State.DUPLICATE and original is not None:
        body = (
            "Thank you. This report describes a vulnerability that was already reported to us; "
            "we are tracking it together with the earlier report."
        )
    else:
        return False
    notice = Message.objects.create(
        case=case,
        kind=MessageKind.THREAD,
        via=Via.SYSTEM,
        author=None,
        author_name=SYSTEM,
        body=body,
        created_at=now,
    )
    message_for_reporter.send(sender=Message, case=case, message=notice)
    return True


@transaction.atomic
def set_flag(user: AnyUser, tracking_id: str, flag: str, at: datetime | None = None) -> Case:
    actor = require(user, Action.CASE_SET_FLAG)
    case = _locked(actor, tracking_id)
    try:
        which = Flag(flag)
    except ValueError:
        raise InvalidInput("must be one of V, F, D, P, X, A", field="flag") from None
    now = timezone.now()
    when = at or now
    if when > now:
        raise InvalidInput("cannot be in the future", field="at")
    current = getattr(case, FLAG_FIELDS[which])
    if current is not None:
        raise Conflict(f"{which.value} ({which.label}) is already true since {current:%Y-%m-%d}")
    setattr(case, FLAG_FIELDS[which], when)
    case.save(update_fields=[FLAG_FIELDS[which], "updated_at"])
    log = AuditLog(case, actor, now)
    log.add("flag", which.value, "", when.isoformat())
    log.save()
    flag_raised.send(sender=Case, case=case, flag=which, actor=actor)
    return case


def flags(case: Case) -> list[tuple[Flag, datetime | None]]:
    return [(flag, getattr(case, name)) for flag, name in FLAG_FIELDS.items()]


def reporter_state(case: Case) -> ReporterState:
    return REPORTER_VIEW[case.state_enum]


# Messages, notes and attachments -------------------------------------------------------------


@transaction.atomic
def post_message(
    user: AnyUser,
    tracking_id: str,
    body: str,
    uploads: Sequence[UploadedFile[bytes]] = (),
    *,
    internal_note: bool = False,
) -> Message:
    """Add to the thread with the reporter, or (``internal_note``) an internal note."""
    actor = require(user, Action.NOTE_POST if internal_note else Action.MESSAGE_POST)
    case = _locked(actor, tracking_id)
    text = clean_text(body, "body", MAX_TEXT, required=not uploads)
    now = timezone.now()
    message = Message.objects.create(
        case=case,
        kind=MessageKind.NOTE if internal_note else MessageKind.THREAD,
        author=actor,
        author_name=str(actor),
        from_reporter=not actor.is_internal,
        body=text,
        created_at=now,
    )
    log = AuditLog(case, actor, now)
    log.add("note" if internal_note else "message", "", "", f"#{message.pk}")
    if actor.is_internal and not internal_note:
        _responded(case, now, log)
    store_attachments(case, message, uploads, actor, log)
    log.save()
    if actor.is_internal and not internal_note:
        message_for_reporter.send(sender=Message, case=case, message=message)
    return message


def get_attachment(user: AnyUser, tracking_id: str, attachment_id: int) -> Attachment:
    """An attachment the user may download; notes' attachments are internal."""
    case = get_case(user, tracking_id)
    found = case.attachments.select_related("message").filter(pk=attachment_id).first()
    internal = found is not None and found.message is not None and found.message.kind == "note"
    if found is None or (internal and not is_internal(user)):
        raise NotFound(f"no attachment {attachment_id} on {tracking_id}")
    return found


# Reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    states: tuple[str, ...] = ()
    product: str = ""
    team: str = ""
    assignee: str = ""
    severity: str = ""
    include_done: bool = False


def queue(user: AnyUser, filters: QueueFilter = QueueFilter()) -> QuerySet[Case]:
    """Cases for a list, in the documented priority order (``mamori.core.priority``): level,
    overdue first response, score, then age (oldest first).

    External users get their own cases, newest first, whatever their state: every filter and the
    priority order would reveal internal fields, so filters are refused for them.
    """
    cases = visible_cases(user)
    if not is_internal(user):
        if filters != QueueFilter() and filters != QueueFilter(include_done=True):
            raise InvalidInput("filters are for the response team", field="filters")
        return cases.order_by("-created_at", "-pk")
    unknown = [s for s in filters.states if s not in State._value2member_map_]
    if unknown:
        raise InvalidInput(f"unknown states: {', '.join(unknown)}", field="state")
    if filters.states:
        cases = cases.filter(state__in=filters.states)
    elif not filters.include_done:
        cases = cases.exclude(state__in=[State.CLOSED.value])
    if filters.product:
        cases = cases.filter(products__slug=filters.product)
    if filters.team:
        cases = cases.filter(owning_team__slug=filters.team)
    if filters.assignee:
        cases = cases.filter(assignee__username=filters.assignee)
    if filters.severity:
        cases = cases.filter(severity=filters.severity)
    return (
        # The assessment (another app's model, reached by its reverse relation) carries each
        # row's priority reasons, which the queue shows.
        cases.select_related("owning_team", "assignee", "assessment")
        .prefetch_related("products")
        .annotate(overdue=_overdue(timezone.now()))
        .order_by("priority", "-overdue", "-priority_score", "created_at", "pk")
        .distinct()
    )


def _overdue(now: datetime) -> Case_When:
    """``Case.sla_overdue`` in SQL, so the queue can put overdue cases first within a level."""
    owing = [state.value for state in State if state.owes_response]
    return Case_When(
        When(
            first_response_at__isnull=True,
            first_response_due_at__lt=now,
            state__in=owing,
            then=Value(True),
        ),
        default=Value(False),
        output_field=BooleanField(),
    )


@dataclass(frozen=True)
class CasePage:
    """Everything a case page shows, already filtered for the user who asks."""

    case: Case
    internal: bool
    reporter_state: ReporterState
    thread: list[Message]
    notes: list[Message] = field(default_factory=list)
    timeline: list[StateEntry] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    steps: list[StepOption] = field(default_factory=list)
    flags: list[tuple[Flag, datetime | None]] = field(default_factory=list)


def _messages(case: Case, kind: MessageKind) -> list[Message]:
    return list(
        case.messages.filter(kind=kind)
        .select_related("author")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("pk")))
    )


def case_page(user: AnyUser, tracking_id: str) -> CasePage:
    if not _well_formed(tracking_id):
        raise NotFound(f"no case {tracking_id[:40]!r}")
    case = (
        visible_cases(user)
        .select_related("owning_team", "assignee", "reporter", "duplicate_of")
        .prefetch_related("products")
        .filter(tracking_id=tracking_id)
        .first()
    )
    if case is None:
        raise NotFound(f"no case {tracking_id[:40]!r}")
    thread = _messages(case, MessageKind.THREAD)
    if not is_internal(user):
        return CasePage(case, False, reporter_state(case), thread)
    return CasePage(
        case,
        True,
        reporter_state(case),
        thread,
        notes=_messages(case, MessageKind.NOTE),
        timeline=list(case.state_entries.select_related("actor")),
        audit=list(case.audit_entries.all()),
        steps=step_options(user, case),
        flags=flags(case),
    )


def duplicate_candidates(user: AnyUser, tracking_id: str) -> list[Candidate]:
    """The possible duplicates ranked when the case arrived, best first, with the reasons;
    only those this user can see."""
    case = internal_case(user, tracking_id)
    visible = visible_cases(user).values("pk")
    return [
        Candidate(row.candidate.tracking_id, row.score, tuple(row.reasons))
        for row in case.duplicate_candidates.filter(candidate__in=visible).select_related(
            "candidate"
        )
    ]


def ensure_internal(user: AnyUser) -> User:
    """For pages that only the response team and product teams see."""
    return require(user, Action.CASE_VIEW_INTERNAL)


def internal_case(user: AnyUser, tracking_id: str) -> Case:
    """A case for internal-only reading (notes, audit, timeline); others get "not found"."""
    case = get_case(user, tracking_id)
    if not is_internal(user):
        raise NotFound(f"no case {tracking_id[:40]!r}")
    return case
