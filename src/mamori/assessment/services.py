"""Assessment: the only entry point for views, the API, the CLI and other apps.

A case's assessment is what the team says (CVSS vectors, impact fields, an override, the
exploitability, the public facts, the SSVC decision points, the affected matrix, the variant
checks) and what Mamori derives from it (the severity by the documented rules, SSVC's release
urgency, the priority with its reasons). ``refresh`` derives everything again from the stored inputs
and the imported KEV and EPSS data, so each change goes through the same path.

Authorization happens here: analysts edit everything (``ASSESSMENT_EDIT``); product engineers edit
the matrix and the variant checks of their own teams' products (``MATRIX_EDIT``, scoped here);
everyone internal who can see the case reads it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mamori.accounts.models import User
from mamori.accounts.services import AnyUser, can, require
from mamori.assessment.models import (
    Assessment,
    CaseCve,
    EpssScore,
    KevEntry,
    MatrixRow,
    ThreatImport,
    VariantCheck,
)
from mamori.cases import services as cases
from mamori.cases.audit import AuditLog
from mamori.cases.models import Case
from mamori.core.authz import Action
from mamori.core.catalogue import SupportStatus
from mamori.core.epss import model_key
from mamori.core.exploitation import Exploitability, PublicFact, ssvc_exploitation
from mamori.core.matrix import (
    Affectedness,
    VariantResult,
    VersionStatus,
    open_investigations,
    parse_row,
)
from mamori.core.priority import Epss, Priority, PriorityInputs, compute
from mamori.core.rating import CvssScore, Severity, parse_cvss
from mamori.core.severity import (
    Impact,
    ImpactFields,
    Mitigation,
    SeverityRating,
    derive_severity,
    parse_impact_fields,
)
from mamori.core.ssvc import (
    Exploitation,
    SupplierDecision,
    Urgency,
    parse_inputs,
    parse_some,
    supplier_decision,
)
from mamori.errors import InvalidInput, NotFound, PermissionDenied
from mamori.products import services as catalogue

CVE_ID = re.compile(r"CVE-\d{4}-\d{4,}\Z")
SSVC_FIELDS = ("automatable", "value_density", "technical_impact", "safety_impact")
MAX_SOURCE = 500
MAX_TEXT = 20_000

# Reading -------------------------------------------------------------------------------------


def assessment_of(case: Case) -> Assessment:
    found, _ = Assessment.objects.get_or_create(case=case)
    return found


@dataclass(frozen=True)
class EpssView:
    """The case's EPSS standing under the current model, or why there is none."""

    current_model: str
    score: Epss | None
    note: str = ""


@dataclass(frozen=True)
class AssessmentView:
    case: Case
    assessment: Assessment
    cves: list[str]
    v3: CvssScore | None
    v4: CvssScore | None
    rating: SeverityRating | None
    exploitation: Exploitation
    decision: SupplierDecision | None
    ssvc_missing: list[str]
    kev: list[KevEntry]
    epss: EpssView
    priority: Priority
    can_edit: bool
    can_edit_matrix: bool
    facts: list[tuple[PublicFact, date | None, str]] = field(default_factory=list)


def view(user: AnyUser, tracking_id: str) -> AssessmentView:
    case = cases.internal_case(user, tracking_id)
    return _view(user, case, assessment_of(case))


def _view(user: AnyUser, case: Case, a: Assessment) -> AssessmentView:
    cves = _cves(case)
    kev = list(KevEntry.objects.filter(cve_id__in=cves))
    exploitation = _exploitation(a, kev)
    decision, missing = _decision(a, exploitation)
    epss = _epss(cves)
    return AssessmentView(
        case=case,
        assessment=a,
        cves=cves,
        v3=parse_cvss(a.cvss_v3_vector) if a.cvss_v3_vector else None,
        v4=parse_cvss(a.cvss_v4_vector) if a.cvss_v4_vector else None,
        rating=derive_severity(_impact_fields(a)) if a.impact else None,
        exploitation=exploitation,
        decision=decision,
        ssvc_missing=missing,
        kev=kev,
        epss=epss,
        priority=_priority(a, decision, kev, epss, case),
        can_edit=can(user, Action.ASSESSMENT_EDIT),
        can_edit_matrix=can(user, Action.MATRIX_EDIT),
        facts=[
            (PublicFact.DISCLOSED, a.disclosed_on, a.disclosed_source),
            (PublicFact.EXPLOIT_PUBLIC, a.exploit_public_on, a.exploit_public_source),
            (PublicFact.EXPLOITED, a.exploited_on, a.exploited_source),
        ],
    )


def _cves(case: Case) -> list[str]:
    return list(CaseCve.objects.filter(case=case).values_list("cve_id", flat=True))


def _impact_fields(a: Assessment) -> ImpactFields:
    return ImpactFields(
        Impact(a.impact), a.user_action_required, a.minimal_impact, Mitigation(a.mitigation)
    )


def _exploitation(a: Assessment, kev: list[KevEntry]) -> Exploitation:
    return ssvc_exploitation(
        exploitability=Exploitability(a.exploitability) if a.exploitability else None,
        exploited=a.exploited_on is not None or a.case.attacks_observed_at is not None,
        exploit_public=a.exploit_public_on is not None or a.case.exploit_public_at is not None,
        in_kev=bool(kev),
    )


def _decision(
    a: Assessment, exploitation: Exploitation
) -> tuple[SupplierDecision | None, list[str]]:
    given = {name: getattr(a, f"ssvc_{name}") for name in SSVC_FIELDS}
    missing = [name.replace("_", " ") for name, value in given.items() if not value]
    if missing:
        return None, missing
    return supplier_decision(parse_inputs({"exploitation": exploitation.value, **given})), []


def current_epss_model() -> str:
    """The newest EPSS model whose scores were imported: the only model whose scores count."""
    versions = set(
        ThreatImport.objects.filter(kind=ThreatImport.Kind.EPSS, outcome__startswith="imported")
        .exclude(version="")
        .values_list("version", flat=True)
    )
    return max(versions, key=model_key, default="")


def _epss(cves: list[str]) -> EpssView:
    model = current_epss_model()
    if not cves:
        return EpssView(model, None, "the case has no CVE id")
    if not model:
        return EpssView(model, None, "no EPSS scores imported")
    best = (
        EpssScore.objects.filter(cve_id__in=cves, model_version=model)
        .order_by("-probability")
        .first()
    )
    if best is None:
        older = EpssScore.objects.filter(cve_id__in=cves).exclude(model_version=model).first()
        note = (
            f"no score under the current model {model}; the score under {older.model_version} "
            "is not comparable and is not used"
            if older
            else f"no score under the current model {model}"
        )
        return EpssView(model, None, note)
    return EpssView(
        model, Epss(best.probability, best.percentile, best.model_version, best.score_date)
    )


def _priority(
    a: Assessment,
    decision: SupplierDecision | None,
    kev: list[KevEntry],
    epss: EpssView,
    case: Case,
) -> Priority:
    return compute(
        PriorityInputs(
            urgency=decision.outcome if decision else None,
            severity=Severity(a.severity) if a.severity else None,
            kev_added=min((k.date_added for k in kev), default=None),
            attacks_observed=case.attacks_observed_at is not None,
            epss=epss.score,
            epss_threshold=settings.MAMORI_THREAT_FEEDS.epss_threshold,
        )
    )


# Deriving ------------------------------------------------------------------------------------


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


def refresh(case: Case, log: AuditLog) -> Assessment:
    """Derive severity, exploitation facts from KEV, the SSVC urgency and the priority again,
    and keep the case's summary current. Idempotent: only changes are written and audited."""
    a = assessment_of(case)
    a.case = case
    kev = list(KevEntry.objects.filter(cve_id__in=_cves(case)))
    if kev:
        listed = min(kev, key=lambda k: k.date_added)
        if a.exploited_on is None or listed.date_added < a.exploited_on:
            log.change("exploited_on", a.exploited_on, listed.date_added)
            a.exploited_on = listed.date_added
            a.exploited_source = f"CISA KEV catalog ({listed.cve_id}, {listed.catalog_version})"
        for flag in (PublicFact.EXPLOITED.flag, PublicFact.DISCLOSED.flag):
            cases.raise_flag(case, flag, _start_of(listed.date_added), log)
    rating = derive_severity(_impact_fields(a)) if a.impact else None
    derived = rating.severity.value if rating else ""
    log.change("derived_severity", a.derived_severity, derived)
    a.derived_severity = derived
    a.severity_rules = list(rating.rules) if rating else []
    exploitation = _exploitation(a, kev)
    decision, _ = _decision(a, exploitation)
    urgency = decision.outcome.value if decision else ""
    log.change("urgency", a.urgency, urgency)
    a.urgency = urgency
    priority = _priority(a, decision, kev, _epss(_cves(case)), case)
    a.priority_reasons = list(priority.reasons)
    a.save()
    headline = a.cvss_v4_score if a.cvss_v4_score is not None else a.cvss_v3_score
    cases.record_rating(case, severity=a.severity, cvss_score=headline, priority=priority, log=log)
    return a


def refresh_cases(case_ids: Iterable[int], actor: User | None = None) -> list[str]:
    """Refresh several cases (after an import); returns the tracking ids whose priority changed."""
    changed = []
    for case in Case.objects.filter(pk__in=list(case_ids)):
        with transaction.atomic():
            locked = Case.objects.select_for_update().get(pk=case.pk)
            before = (locked.priority, locked.priority_score)
            log = AuditLog(locked, actor)
            refresh(locked, log)
            log.save()
            if (locked.priority, locked.priority_score) != before:
                changed.append(locked.tracking_id)
    return changed


# Editing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatingChanges:
    """Assessment inputs to change; ``None`` leaves a field as it is, "" clears it."""

    cvss_v3: str | None = None
    cvss_v4: str | None = None
    impact: Mapping[str, object] | None = None  # impact, user_action_required, minimal_impact,
    # mitigation; an empty impact clears the impact fields
    severity_override: str | None = None
    override_reason: str | None = None
    exploitability: str | None = None
    cves: tuple[str, ...] | None = None
    ssvc: Mapping[str, str] | None = None  # automatable, value_density, technical_impact,
    # safety_impact; "" clears one


def _vector(value: str, version: str, name: str) -> CvssScore | None:
    if not value.strip():
        return None
    try:
        score = parse_cvss(value)
    except InvalidInput as error:
        raise InvalidInput(error.problems.get("cvss_vector", error.message), field=name) from None
    if not score.version.startswith(version):
        prefixes = "CVSS:4.0/" if version == "4.0" else "CVSS:3.1/ (or CVSS:3.0/)"
        raise InvalidInput(f"a CVSS v{version} vector starts with {prefixes}", field=name)
    return score


def _cve_ids(values: Iterable[str]) -> list[str]:
    found: list[str] = []
    bad = []
    for value in values:
        text = value.strip().upper()
        if not text:
            continue
        if not CVE_ID.match(text):
            bad.append(value[:40])
        elif text not in found:
            found.append(text)
    if bad:
        raise InvalidInput(f"not CVE ids: {', '.join(bad)} (CVE-YYYY-NNNN)", field="cves")
    return found


def _ssvc(values: Mapping[str, object]) -> dict[str, str]:
    """The given decision points, each checked against the table's values ("" clears one).
    Exploitation is not among them: it is read from the public facts."""
    unknown = set(values) - set(SSVC_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown decision points: {', '.join(sorted(unknown))}", field="ssvc")
    return parse_some(values)


@transaction.atomic
def update_rating(user: AnyUser, tracking_id: str, changes: RatingChanges) -> AssessmentView:
    actor = require(user, Action.ASSESSMENT_EDIT)
    case = cases.lock_case(actor, tracking_id)
    a = assessment_of(case)
    log = AuditLog(case, actor)
    problems: dict[str, str] = {}

    def attempt(step: Callable[[], None]) -> None:
        try:
            step()
        except InvalidInput as error:
            problems.update(error.problems)

    def vectors() -> None:
        for name, version in (("cvss_v3", "3"), ("cvss_v4", "4.0")):
            value = getattr(changes, name)
            if value is None:
                continue
            score = _vector(value, version, name)
            log.change(
                f"{name}_vector", getattr(a, f"{name}_vector"), score.vector if score else ""
            )
            setattr(a, f"{name}_vector", score.vector if score else "")
            setattr(a, f"{name}_score", Decimal(str(score.score)) if score else None)

    def impact() -> None:
        if changes.impact is None:
            return
        if not str(changes.impact.get("impact") or "").strip():
            fields = None
        else:
            fields = parse_impact_fields(changes.impact)
        for name, value in (
            ("impact", fields.impact.value if fields else ""),
            ("user_action_required", fields.user_action_required if fields else False),
            ("minimal_impact", fields.minimal_impact if fields else False),
            ("mitigation", fields.mitigation.value if fields else Mitigation.NONE.value),
        ):
            log.change(name, getattr(a, name), value)
            setattr(a, name, value)

    def override() -> None:
        if changes.severity_override is None:
            return
        text = changes.severity_override.strip().lower()
        if not text:
            if a.severity_override:
                log.change("severity_override", a.severity_override, "")
            a.severity_override, a.override_reason = "", ""
            a.overridden_by, a.overridden_at = None, None
            return
        if text not in Severity._value2member_map_:
            allowed = ", ".join(s.value for s in Severity)
            raise InvalidInput(f"must be one of {allowed}", field="severity_override")
        reason = (changes.override_reason or "").strip()
        if not reason:
            raise InvalidInput(
                "say why the derived severity is overridden", field="override_reason"
            )
        if len(reason) > MAX_TEXT:
            raise InvalidInput(f"at most {MAX_TEXT} characters", field="override_reason")
        log.change("severity_override", a.severity_override, text)
        log.change("override_reason", a.override_reason, reason)
        a.severity_override, a.override_reason = text, reason
        a.overridden_by, a.overridden_at = actor, timezone.now()

    def exploitability() -> None:
        if changes.exploitability is None:
            return
        text = changes.exploitability.strip().lower()
        if text and text not in Exploitability._value2member_map_:
            allowed = ", ".join(e.value for e in Exploitability)
            raise InvalidInput(f"must be one of {allowed}", field="exploitability")
        log.change("exploitability", a.exploitability, text)
        a.exploitability = text

    def ssvc() -> None:
        if changes.ssvc is None:
            return
        for name, value in _ssvc(changes.ssvc).items():
            log.change(f"ssvc_{name}", getattr(a, f"ssvc_{name}"), value)
            setattr(a, f"ssvc_{name}", value)

    def cve_list() -> None:
        if changes.cves is None:
            return
        wanted = _cve_ids(changes.cves)
        current = _cves(case)
        log.change("cves", " ".join(current), " ".join(wanted))
        CaseCve.objects.filter(case=case).exclude(cve_id__in=wanted).delete()
        CaseCve.objects.bulk_create(
            [CaseCve(case=case, cve_id=c) for c in wanted if c not in current]
        )

    for step in (vectors, impact, override, exploitability, ssvc, cve_list):
        attempt(step)
    if problems:
        raise InvalidInput(problems)
    a.save()
    a = refresh(case, log)
    log.save()
    return _view(actor, case, a)


@transaction.atomic
def record_fact(
    user: AnyUser, tracking_id: str, fact: str, on: date | None, source: str = ""
) -> AssessmentView:
    """Record a public fact with its date and source; it sets the matching disclosure flag.

    Clearing a fact (``on=None``) keeps the flag: a flag records that something became true.
    """
    actor = require(user, Action.ASSESSMENT_EDIT)
    case = cases.lock_case(actor, tracking_id)
    try:
        which = PublicFact(fact)
    except ValueError:
        allowed = ", ".join(f.value for f in PublicFact)
        raise InvalidInput(f"must be one of {allowed}", field="fact") from None
    source = source.strip()
    if on is not None:
        if on > timezone.localdate():
            raise InvalidInput("cannot be in the future", field="on")
        if not source:
            raise InvalidInput(
                "say where it was made public (a URL or a reference)", field="source"
            )
    if len(source) > MAX_SOURCE:
        raise InvalidInput(f"at most {MAX_SOURCE} characters", field="source")
    a = assessment_of(case)
    log = AuditLog(case, actor)
    prefix = {
        PublicFact.DISCLOSED: "disclosed",
        PublicFact.EXPLOIT_PUBLIC: "exploit_public",
        PublicFact.EXPLOITED: "exploited",
    }[which]
    log.change(f"{prefix}_on", getattr(a, f"{prefix}_on"), on)
    log.change(f"{prefix}_source", getattr(a, f"{prefix}_source"), source if on else "")
    setattr(a, f"{prefix}_on", on)
    setattr(a, f"{prefix}_source", source if on else "")
    if on is not None and which is PublicFact.EXPLOITED and not a.exploitability:
        a.exploitability = Exploitability.DETECTED.value
        log.change("exploitability", "", a.exploitability)
    a.save()
    if on is not None:
        cases.raise_flag(case, which.flag, _start_of(on), log)
    a = refresh(case, log)
    log.save()
    return _view(actor, case, a)


# The affected matrix -------------------------------------------------------------------------


@dataclass(frozen=True)
class MatrixLine:
    product_slug: str
    product_name: str
    version_name: str
    support_status: str
    reported: bool  # a version of one of the case's products
    row: MatrixRow | None
    editable: bool

    @property
    def status(self) -> Affectedness:
        return Affectedness(self.row.status) if self.row else Affectedness.UNDER_INVESTIGATION

    @property
    def supported(self) -> bool:
        return self.support_status != SupportStatus.END_OF_LIFE.value


def _editable_products(user: AnyUser) -> set[int] | None:
    """The products whose matrix ``user`` may edit; ``None`` for every product."""
    if can(user, Action.ASSESSMENT_EDIT):
        return None
    if can(user, Action.MATRIX_EDIT):
        return catalogue.product_ids_of(user)
    return set()


def _lines(case: Case, editable: set[int] | None) -> list[MatrixLine]:
    reported = list(case.products.all())
    reported_ids = {p.pk for p in reported}
    rows = {
        r.version_id: r
        for r in MatrixRow.objects.filter(case=case).select_related(
            "version__product", "updated_by"
        )
    }
    versions = {v.pk: v for v in catalogue.versions_of(reported)}
    versions.update({pk: row.version for pk, row in rows.items() if pk not in versions})
    lines = [
        MatrixLine(
            v.product.slug,
            v.product.name,
            v.name,
            v.support_status,
            v.product_id in reported_ids,
            rows.get(pk),
            editable is None or v.product_id in editable,
        )
        for pk, v in versions.items()
    ]
    return sorted(lines, key=lambda line: (not line.reported, line.product_name, line.version_name))


def matrix(user: AnyUser, tracking_id: str) -> list[MatrixLine]:
    case = cases.internal_case(user, tracking_id)
    return _lines(case, _editable_products(user))


def matrix_of(case: Case) -> list[MatrixLine]:
    """The affected matrix of ``case`` for a caller that already checked access (publishing)."""
    return _lines(case, set())


def cves_of(case: Case) -> list[str]:
    return _cves(case)


def open_investigations_in(lines: Iterable[MatrixLine]) -> list[str]:
    """Supported versions of the reported products with no answer yet (the gate's list)."""
    return open_investigations(
        VersionStatus(f"{line.product_name} {line.version_name}", line.supported, line.status)
        for line in lines
        if line.reported
    )


def open_investigations_of(case: Case) -> list[str]:
    return open_investigations_in(_lines(case, set()))


@dataclass(frozen=True)
class RowChanges:
    status: str
    justification: str = ""
    resolution: str = ""
    note: str = ""
    cvss_v3: str = ""
    cvss_v4: str = ""


def _may_edit(user: User, product_id: int) -> None:
    editable = _editable_products(user)
    if editable is not None and product_id not in editable:
        raise PermissionDenied("product engineers edit the matrix of their own teams' products")


@transaction.atomic
def set_matrix_row(
    user: AnyUser, tracking_id: str, product: str, version: str, changes: RowChanges
) -> MatrixRow:
    actor = require(user, Action.MATRIX_EDIT)
    case = cases.lock_case(actor, tracking_id)
    target = catalogue.resolve_version(product, version)
    _may_edit(actor, target.product_id)
    problems: dict[str, str] = {}
    try:
        row_input = parse_row(changes.status, changes.justification, changes.resolution)
    except InvalidInput as error:
        problems.update(error.problems)
    vectors: dict[str, str] = {}
    for name, v in (("cvss_v3", "3"), ("cvss_v4", "4.0")):
        try:
            score = _vector(getattr(changes, name), v, name)
            vectors[name] = score.vector if score else ""
        except InvalidInput as error:
            problems.update(error.problems)
    note = changes.note.strip()
    if len(note) > MAX_TEXT:
        problems["note"] = f"at most {MAX_TEXT} characters"
    if problems:
        raise InvalidInput(problems)
    row = MatrixRow.objects.filter(case=case, version=target).first()
    before = _describe(row) if row else "under_investigation"
    row = row or MatrixRow(case=case, version=target)
    row.status = row_input.status.value
    row.justification = row_input.justification.value if row_input.justification else ""
    row.resolution = row_input.resolution.value if row_input.resolution else ""
    row.note = note
    row.cvss_v3_vector = vectors["cvss_v3"]
    row.cvss_v4_vector = vectors["cvss_v4"]
    row.updated_by = actor
    row.updated_at = timezone.now()
    row.save()
    log = AuditLog(case, actor)
    log.change(f"matrix {target.product.slug} {target.name}", before, _describe(row))
    log.save()
    return row


def _describe(row: MatrixRow) -> str:
    parts = [row.status, row.justification, row.resolution]
    return " / ".join(p for p in parts if p)


# Variant investigation -----------------------------------------------------------------------


def variant_checks(user: AnyUser, tracking_id: str) -> list[VariantCheck]:
    case = cases.internal_case(user, tracking_id)
    return list(
        VariantCheck.objects.filter(case=case).select_related(
            "product", "version", "added_by", "checked_by"
        )
    )


@transaction.atomic
def add_variant_check(
    user: AnyUser, tracking_id: str, product: str, version: str = "", why: str = ""
) -> VariantCheck:
    actor = require(user, Action.MATRIX_EDIT)
    case = cases.lock_case(actor, tracking_id)
    target_product = catalogue.resolve_product(product)
    target_version = catalogue.resolve_version(product, version) if version.strip() else None
    _may_edit(actor, target_product.pk)
    why = why.strip()
    if len(why) > MAX_TEXT:
        raise InvalidInput(f"at most {MAX_TEXT} characters", field="why")
    check = VariantCheck.objects.create(
        case=case, product=target_product, version=target_version, why=why, added_by=actor
    )
    log = AuditLog(case, actor)
    what = f"{target_product.slug} {target_version.name if target_version else '(all versions)'}"
    log.add("variant", "variant_check", "", f"#{check.pk} {what}: pending")
    log.save()
    return check


@transaction.atomic
def record_variant_result(
    user: AnyUser, tracking_id: str, check_id: int, result: str, notes: str = ""
) -> VariantCheck:
    actor = require(user, Action.MATRIX_EDIT)
    case = cases.lock_case(actor, tracking_id)
    check = VariantCheck.objects.filter(case=case, pk=check_id).first()
    if check is None:
        raise NotFound(f"no variant check {check_id} on this case")
    _may_edit(actor, check.product_id)
    text = result.strip().lower()
    if text not in VariantResult._value2member_map_ or text == VariantResult.PENDING.value:
        allowed = ", ".join(r.value for r in VariantResult if r is not VariantResult.PENDING)
        raise InvalidInput(f"must be one of {allowed}", field="result")
    notes = notes.strip()
    if len(notes) > MAX_TEXT:
        raise InvalidInput(f"at most {MAX_TEXT} characters", field="notes")
    log = AuditLog(case, actor)
    log.change(f"variant_check #{check.pk}", check.result, text)
    check.result, check.notes = text, notes
    check.checked_by, check.checked_at = actor, timezone.now()
    check.save()
    log.save()
    return check


def urgency_of(case: Case) -> Urgency | None:
    """The case's release urgency (SSVC), for release trains."""
    value = Assessment.objects.filter(case=case).values_list("urgency", flat=True).first()
    return Urgency(value) if value else None
