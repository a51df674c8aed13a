"""The assessment's JSON API: rating, public facts, the affected matrix, variants, imports."""

from __future__ import annotations

from datetime import date, datetime

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from mamori.assessment import imports, services
from mamori.assessment.models import ThreatImport, VariantCheck

router = Router(tags=["assessment"])


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class CvssOut(Schema):
    vector: str
    version: str
    base_score: float
    base_severity: str
    score: float
    severity: str
    nomenclature: str


class KevOut(Schema):
    cve_id: str
    date_added: date
    due_date: date | None
    due_before_added: bool
    required_action: str
    known_ransomware_use: str
    catalog_version: str


class EpssOut(Schema):
    current_model: str
    probability: float | None
    percentile: float | None
    model_version: str | None
    score_date: date | None
    note: str


class FactOut(Schema):
    fact: str
    on: date | None
    source: str


class SsvcOut(Schema):
    exploitation: str  # read from the public facts and KEV
    automatable: str
    value_density: str
    technical_impact: str
    safety_impact: str
    missing: list[str]
    decision_points: list[tuple[str, str]]
    outcome: str | None
    out_of_band: bool | None
    table: str | None


class OverrideOut(Schema):
    severity: str
    reason: str
    by: str | None
    at: datetime | None


class AssessmentOut(Schema):
    tracking_id: str
    cves: list[str]
    cvss_v3: CvssOut | None
    cvss_v4: CvssOut | None
    impact: str
    user_action_required: bool
    minimal_impact: bool
    mitigation: str
    derived_severity: str
    severity_rules: list[str]
    override: OverrideOut | None
    severity: str
    exploitability: str
    facts: list[FactOut]
    ssvc: SsvcOut
    kev: list[KevOut]
    epss: EpssOut
    priority: int
    priority_label: str
    priority_score: float
    priority_reasons: list[str]


def _cvss(score: object) -> CvssOut | None:
    return CvssOut.model_validate(score, from_attributes=True) if score is not None else None


def _out(v: services.AssessmentView) -> AssessmentOut:
    a = v.assessment
    epss = v.epss.score
    return AssessmentOut(
        tracking_id=v.case.tracking_id,
        cves=v.cves,
        cvss_v3=_cvss(v.v3),
        cvss_v4=_cvss(v.v4),
        impact=a.impact,
        user_action_required=a.user_action_required,
        minimal_impact=a.minimal_impact,
        mitigation=a.mitigation,
        derived_severity=a.derived_severity,
        severity_rules=list(a.severity_rules),
        override=OverrideOut(
            severity=a.severity_override,
            reason=a.override_reason,
            by=a.overridden_by.username if a.overridden_by else None,
            at=a.overridden_at,
        )
        if a.severity_override
        else None,
        severity=a.severity,
        exploitability=a.exploitability,
        facts=[FactOut(fact=f.value, on=on, source=src) for f, on, src in v.facts],
        ssvc=SsvcOut(
            exploitation=v.exploitation.value,
            automatable=a.ssvc_automatable,
            value_density=a.ssvc_value_density,
            technical_impact=a.ssvc_technical_impact,
            safety_impact=a.ssvc_safety_impact,
            missing=v.ssvc_missing,
            decision_points=v.decision.decision_points() if v.decision else [],
            outcome=v.decision.outcome.value if v.decision else None,
            out_of_band=v.decision.outcome.out_of_band if v.decision else None,
            table=v.decision.table if v.decision else None,
        ),
        kev=[KevOut.model_validate(k, from_attributes=True) for k in v.kev],
        epss=EpssOut(
            current_model=v.epss.current_model,
            probability=epss.probability if epss else None,
            percentile=epss.percentile if epss else None,
            model_version=epss.model_version if epss else None,
            score_date=epss.score_date if epss else None,
            note=v.epss.note,
        ),
        priority=v.priority.level,
        priority_label=v.priority.label,
        priority_score=v.priority.score,
        priority_reasons=list(v.priority.reasons),
    )


class ImpactIn(Strict):
    impact: str = Field("", max_length=40)
    user_action_required: bool = False
    minimal_impact: bool = False
    mitigation: str = Field("none", max_length=40)


class SsvcIn(Strict):
    automatable: str | None = Field(None, max_length=40)
    value_density: str | None = Field(None, max_length=40)
    technical_impact: str | None = Field(None, max_length=40)
    safety_impact: str | None = Field(None, max_length=40)


class AssessmentIn(Strict):
    cvss_v3: str | None = Field(None, max_length=300)
    cvss_v4: str | None = Field(None, max_length=400)
    impact: ImpactIn | None = None
    severity_override: str | None = Field(None, max_length=16)
    override_reason: str | None = Field(None, max_length=services.MAX_TEXT)
    exploitability: str | None = Field(None, max_length=16)
    cves: list[str] | None = Field(None, max_length=50)
    ssvc: SsvcIn | None = None


@router.get("/cases/{tracking_id}/assessment", response=AssessmentOut)
def get_assessment(request: HttpRequest, tracking_id: str) -> AssessmentOut:
    return _out(services.view(request.user, tracking_id))


@router.patch("/cases/{tracking_id}/assessment", response=AssessmentOut)
def update_assessment(request: HttpRequest, tracking_id: str, body: AssessmentIn) -> AssessmentOut:
    given = body.model_dump(exclude_unset=True)
    changes = services.RatingChanges(
        cvss_v3=given.get("cvss_v3"),
        cvss_v4=given.get("cvss_v4"),
        impact=given.get("impact"),
        severity_override=given.get("severity_override"),
        override_reason=given.get("override_reason"),
        exploitability=given.get("exploitability"),
        cves=tuple(given["cves"]) if given.get("cves") is not None else None,
        ssvc={k: v for k, v in given["ssvc"].items() if v is not None}
        if given.get("ssvc") is not None
        else None,
    )
    return _out(services.update_rating(request.user, tracking_id, changes))


class FactIn(Strict):
    on: date | None
    source: str = Field("", max_length=services.MAX_SOURCE)


@router.put("/cases/{tracking_id}/facts/{fact}", response=AssessmentOut)
def record_fact(request: HttpRequest, tracking_id: str, fact: str, body: FactIn) -> AssessmentOut:
    return _out(services.record_fact(request.user, tracking_id, fact, body.on, body.source))


class MatrixRowOut(Schema):
    product: str
    version: str
    support_status: str
    reported: bool
    status: str
    justification: str
    resolution: str
    note: str
    cvss_v3: str
    cvss_v4: str
    updated_by: str | None
    updated_at: datetime | None
    editable: bool


def _line(line: services.MatrixLine) -> MatrixRowOut:
    row = line.row
    return MatrixRowOut(
        product=line.product_slug,
        version=line.version_name,
        support_status=line.support_status,
        reported=line.reported,
        status=line.status.value,
        justification=row.justification if row else "",
        resolution=row.resolution if row else "",
        note=row.note if row else "",
        cvss_v3=row.cvss_v3_vector if row else "",
        cvss_v4=row.cvss_v4_vector if row else "",
        updated_by=row.updated_by.username if row and row.updated_by else None,
        updated_at=row.updated_at if row else None,
        editable=line.editable,
    )


class MatrixOut(Schema):
    rows: list[MatrixRowOut]
    open_investigations: list[str]


@router.get("/cases/{tracking_id}/matrix", response=MatrixOut)
def get_matrix(request: HttpRequest, tracking_id: str) -> MatrixOut:
    lines = services.matrix(request.user, tracking_id)
    open_ = services.open_investigations_in(lines)
    return MatrixOut(rows=[_line(line) for line in lines], open_investigations=open_)


class MatrixRowIn(Strict):
    status: str = Field(max_length=24)
    justification: str = Field("", max_length=64)
    resolution: str = Field("", max_length=16)
    note: str = Field("", max_length=services.MAX_TEXT)
    cvss_v3: str = Field("", max_length=300)
    cvss_v4: str = Field("", max_length=400)


@router.put("/cases/{tracking_id}/matrix/{product}/{version}", response=MatrixRowOut)
def set_matrix_row(
    request: HttpRequest, tracking_id: str, product: str, version: str, body: MatrixRowIn
) -> MatrixRowOut:
    services.set_matrix_row(
        request.user, tracking_id, product, version, services.RowChanges(**body.model_dump())
    )
    line = next(
        line
        for line in services.matrix(request.user, tracking_id)
        if line.product_slug == product and line.version_name == version
    )
    return _line(line)


class VariantOut(Schema):
    id: int
    product: str
    version: str | None
    why: str
    result: str
    notes: str
    added_by: str | None
    added_at: datetime
    checked_by: str | None
    checked_at: datetime | None


def _variant(check: VariantCheck) -> VariantOut:
    return VariantOut(
        id=check.pk,
        product=check.product.slug,
        version=check.version.name if check.version else None,
        why=check.why,
        result=check.result,
        notes=check.notes,
        added_by=check.added_by.username if check.added_by else None,
        added_at=check.added_at,
        checked_by=check.checked_by.username if check.checked_by else None,
        checked_at=check.checked_at,
    )


@router.get("/cases/{tracking_id}/variants", response=list[VariantOut])
def list_variants(request: HttpRequest, tracking_id: str) -> list[VariantOut]:
    return [_variant(c) for c in services.variant_checks(request.user, tracking_id)]


class VariantIn(Strict):
    product: str = Field(max_length=63)
    version: str = Field("", max_length=100)
    why: str = Field("", max_length=services.MAX_TEXT)


@router.post("/cases/{tracking_id}/variants", response={201: VariantOut})
def add_variant(request: HttpRequest, tracking_id: str, body: VariantIn) -> Status[VariantOut]:
    check = services.add_variant_check(
        request.user, tracking_id, body.product, body.version, body.why
    )
    return Status(201, _variant(check))


class VariantResultIn(Strict):
    result: str = Field(max_length=16)
    notes: str = Field("", max_length=services.MAX_TEXT)


@router.put("/cases/{tracking_id}/variants/{check_id}", response=VariantOut)
def record_variant(
    request: HttpRequest, tracking_id: str, check_id: int, body: VariantResultIn
) -> VariantOut:
    check = services.record_variant_result(
        request.user, tracking_id, check_id, body.result, body.notes
    )
    return _variant(check)


class ImportOut(Schema):
    kind: str
    version: str
    entries: int
    new: bool
    warnings: list[str]
    cases_changed: list[str]
    message: str


class ImportRecordOut(Schema):
    kind: str
    source: str
    sha256: str
    size: int
    version: str
    published: datetime | None
    entries: int
    warnings: list[str]
    outcome: str
    imported_by: str
    imported_at: datetime


def _result(result: imports.ImportResult) -> ImportOut:
    return ImportOut(
        kind=result.kind,
        version=result.version,
        entries=result.entries,
        new=result.new,
        warnings=list(result.warnings),
        cases_changed=list(result.cases_changed),
        message=result.message,
    )


@router.post("/threat-intel/kev", response=ImportOut)
def import_kev(request: HttpRequest) -> ImportOut:
    """The request body is the catalog's JSON, as CISA publishes it."""
    return _result(imports.import_kev(request.user, request.body, "API upload"))


@router.post("/threat-intel/epss", response=ImportOut)
def import_epss(request: HttpRequest) -> ImportOut:
    """The request body is an EPSS file (CSV, gzipped or not). Bodies are limited by
    MAMORI_MAX_BODY_BYTES; a full daily file goes through ``mamori assess import-epss``."""
    return _result(imports.import_epss(request.user, request.body, "API upload"))


@router.get("/threat-intel/imports", response=list[ImportRecordOut])
def list_imports(request: HttpRequest) -> list[ThreatImport]:
    return imports.history(request.user)
