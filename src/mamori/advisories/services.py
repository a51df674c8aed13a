"""Advisories: composed from case data, issued as revisions, published as one static tree.

``compose`` reads everything an advisory says from the case — the public texts the team wrote
(``PublicText``), the affected matrix, the assessment (severity, CVSS, CVEs, exploitation), the
release, the reporter's credit — into a ``mamori.core.advisory.Advisory``. Every format (CSAF,
CVE, OSV, the bulletin and KB pages) is generated from that one value, so nothing is typed twice.

Issuing a revision generates and validates every document first; a document that fails its
schema or a CSAF mandatory test is never stored, and the whole list of problems is raised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mamori import __version__
from mamori.accounts.models import User
from mamori.accounts.services import AnyUser, can, require
from mamori.advisories.models import Advisory, PublicText, Revision, SiteBuild
from mamori.assessment import services as assessment
from mamori.cases import services as cases
from mamori.cases.audit import AuditLog
from mamori.cases.models import Case
from mamori.cases.numbering import next_number
from mamori.core import advisory as model
from mamori.core import csaf, cve, osv
from mamori.core.advisory import (
    Acknowledgment,
    Kind,
    Note,
    ProductVersion,
    Publisher,
    Reference,
    Remediation,
    RemediationCategory,
    Score,
    Status,
    Text,
    Vulnerability,
)
from mamori.core.authz import Action
from mamori.core.matrix import Affectedness
from mamori.core.rating import Severity, parse_cvss
from mamori.core.workflow import State
from mamori.errors import Conflict, GateRefused, InvalidInput, NotFound
from mamori.products import services as catalogue

MAX_TEXT = 20_000
MAX_FAQ = 30
CWE_ID = re.compile(r"CWE-[1-9][0-9]{0,5}\Z")
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")


# Public texts ---------------------------------------------------------------------------------


def text_of(case: Case) -> PublicText:
    found, created = PublicText.objects.get_or_create(case=case)
    if created and case.reporter_name:
        found.credit_name = case.reporter_name
        found.credit_organization = case.reporter_organisation
        found.save(update_fields=["credit_name", "credit_organization"])
    return found


def public_text(user: AnyUser, tracking_id: str) -> PublicText:
    return text_of(cases.internal_case(user, tracking_id))


@dataclass(frozen=True)
class TextChanges:
    """The public texts; a field left ``None`` is not changed."""

    title_en: str | None = None
    title_ja: str | None = None
    summary_en: str | None = None
    summary_ja: str | None = None
    description_en: str | None = None
    description_ja: str | None = None
    mitigations_en: str | None = None
    mitigations_ja: str | None = None
    faq: list[dict[str, str]] | None = None
    cwe_id: str | None = None
    cwe_name: str | None = None
    fixed_versions: dict[str, str] | None = None
    restart_required: bool | None = None
    credit: bool | None = None
    credit_name: str | None = None
    credit_organization: str | None = None


_LIMITS = {
    "title_en": 300,
    "title_ja": 300,
    "cwe_name": 300,
    "credit_name": 200,
    "credit_organization": 200,
}
_FAQ_KEYS = ("question_en", "question_ja", "answer_en", "answer_ja")


def _clean_faq(items: list[dict[str, str]]) -> list[dict[str, str]]:
    if len(items) > MAX_FAQ:
        raise InvalidInput(f"at most {MAX_FAQ} questions", field="faq")
    clean = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, Mapping) or set(item) - set(_FAQ_KEYS):
            raise InvalidInput(f"question {n}: only {', '.join(_FAQ_KEYS)}", field="faq")
        entry = {k: str(item.get(k, "")).strip()[:MAX_TEXT] for k in _FAQ_KEYS}
        if not entry["question_en"] or not entry["answer_en"]:
            raise InvalidInput(f"question {n}: an English question and answer", field="faq")
        clean.append(entry)
    return clean


@transaction.atomic
def update_public_text(user: AnyUser, tracking_id: str, changes: TextChanges) -> PublicText:
    actor = require(user, Action.ADVISORY_EDIT)
    case = cases.lock_case(actor, tracking_id)
    text = text_of(case)
    log = AuditLog(case, actor)
    problems: dict[str, str] = {}
    for name, value in vars(changes).items():
        if value is None:
            continue
        if name == "faq":
            value = _clean_faq(value)
        elif name == "fixed_versions":
            if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                problems[name] = "a map of 'product version' to the fixed version"
                continue
            value = {k.strip(): v.strip()[:100] for k, v in value.items() if v.strip()}
        elif isinstance(value, str):
            value = value.strip()[: _LIMITS.get(name, MAX_TEXT)]
            if name == "cwe_id" and value and not CWE_ID.match(value):
                problems[name] = "a CWE id looks like CWE-79"
                continue
        log.change(f"public_text.{name}", getattr(text, name), value, action="advisory")
        setattr(text, name, value)
    if problems:
        raise InvalidInput(problems)
    text.updated_by = actor
    text.updated_at = timezone.now()
    text.save()
    log.save()
    return text


def restart_required(case: Case) -> bool:
    found = PublicText.objects.filter(case=case).values_list("restart_required", flat=True).first()
    return bool(found)


# Composing -------------------------------------------------------------------------------------


def _product_id(slug: str, version: str) -> str:
    return _UNSAFE_ID.sub("_", f"{slug}-{version}")


def _publisher() -> Publisher:
    pub = settings.MAMORI_PUBLISHING
    contact = next((c.removeprefix("mailto:") for c in pub.contact), "")
    return Publisher(pub.publisher_name, pub.publisher_namespace, contact)


def page_url(advisory_id: str, language: str = "en") -> str:
    suffix = "" if language == "en" else f".{language}"
    return f"{settings.MAMORI_PUBLISHING.site_url}/security/bulletins/{advisory_id}{suffix}.html"


def update_url() -> str:
    return f"{settings.MAMORI_PUBLISHING.site_url}/updates/"


@dataclass(frozen=True)
class _Products:
    versions: tuple[ProductVersion, ...]
    statuses: dict[Status, tuple[str, ...]]
    justifications: dict[str, str]
    per_version_vectors: dict[str, list[str]]
    missing: tuple[str, ...]


def _products(case: Case, text: PublicText, kind: Kind) -> _Products:
    vendor = settings.MAMORI_PUBLISHING.vendor
    lines = [
        line
        for line in assessment.matrix_of(case)
        if line.row is not None or (line.reported and line.supported)
    ]
    purls = catalogue.package_purls({line.product_slug for line in lines})
    versions: dict[str, ProductVersion] = {}
    by_status: dict[Status, list[str]] = {status: [] for status in Status}
    justifications: dict[str, str] = {}
    vectors: dict[str, list[str]] = {}
    missing: list[str] = []

    def add(slug: str, name: str, version: str) -> str:
        pid = _product_id(slug, version)
        purl = f"{purls[slug]}@{version}" if slug in purls else ""
        versions.setdefault(pid, ProductVersion(pid, vendor, name, version, purl, slug))
        return pid

    for line in lines:
        pid = add(line.product_slug, line.product_name, line.version_name)
        status = line.status
        if status is Affectedness.AFFECTED:
            by_status[Status.KNOWN_AFFECTED].append(pid)
            row = line.row
            assert row is not None
            for vector in (row.cvss_v3_vector, row.cvss_v4_vector):
                if vector:
                    vectors.setdefault(vector, []).append(pid)
            if kind is Kind.BULLETIN:
                key = f"{line.product_slug} {line.version_name}"
                fixed = text.fixed_versions.get(key, "")
                if fixed:
                    by_status[Status.FIXED].append(add(line.product_slug, line.product_name, fixed))
                elif row.resolution == "fix":
                    missing.append(f"the fixed version of {line.product_name} {line.version_name}")
        elif status is Affectedness.NOT_AFFECTED:
            by_status[Status.KNOWN_NOT_AFFECTED].append(pid)
            assert line.row is not None
            justifications[pid] = line.row.justification
        else:
            by_status[Status.UNDER_INVESTIGATION].append(pid)
    statuses = {s: tuple(dict.fromkeys(ids)) for s, ids in by_status.items() if ids}
    return _Products(tuple(versions.values()), statuses, justifications, vectors, tuple(missing))


def _score(vector: str, product_ids: tuple[str, ...] = ()) -> Score:
    parsed = parse_cvss(vector)
    return Score(
        parsed.version, parsed.vector, parsed.base_score, parsed.base_severity, product_ids
    )


def _scores(case: Case, products: _Products) -> tuple[Score, ...]:
    rating = assessment.assessment_of(case)
    found = [_score(v) for v in (rating.cvss_v3_vector, rating.cvss_v4_vector) if v]
    found += [_score(v, tuple(ids)) for v, ids in products.per_version_vectors.items()]
    return tuple(found)


def _faq(text: PublicText) -> tuple[Note, ...]:
    return tuple(
        Note(
            Text(item["question_en"], item.get("question_ja", "")),
            Text(item["answer_en"], item.get("answer_ja", "")),
        )
        for item in text.faq
    )


def compose(
    case: Case,
    *,
    kind: Kind,
    advisory_id: str,
    revisions: tuple[model.Revision, ...],
    release_name: str = "",
    supersedes: tuple[str, ...] = (),
    superseded_by: str = "",
) -> tuple[model.Advisory, list[str]]:
    """The advisory for ``case`` as the formats read it, and what is missing to publish it."""
    text = text_of(case)
    products = _products(case, text, kind)
    rating = assessment.assessment_of(case)
    severity = Severity(case.severity).label if case.severity else ""
    affected = products.statuses.get(Status.KNOWN_AFFECTED, ())
    fixed = products.statuses.get(Status.FIXED, ())
    mitigations = Text(text.mitigations_en, text.mitigations_ja)
    remediations: list[Remediation] = []
    restart = text.restart_required
    if kind is Kind.BULLETIN and affected:
        remediations.append(
            Remediation(
                RemediationCategory.VENDOR_FIX,
                Text(
                    "Install the security update: "
                    + ", ".join(f"{p.product} {p.version}" for p in _pick(products, fixed)),
                    "セキュリティ更新プログラムをインストールしてください: "
                    + ", ".join(f"{p.product} {p.version}" for p in _pick(products, fixed)),
                ),
                affected,
                update_url(),
                restart,
            )
        )
    if mitigations and affected:
        remediations.append(Remediation(RemediationCategory.MITIGATION, mitigations, affected))
    if kind is Kind.EARLY_MITIGATION and affected:
        remediations.append(
            Remediation(
                RemediationCategory.NONE_AVAILABLE,
                Text(
                    "No security update is available yet. Apply the mitigations and workarounds "
                    "until it is released.",
                    "セキュリティ更新プログラムはまだ提供されていません。提供されるまで、"
                    "緩和策と回避策を適用してください。",
                ),
                affected,
            )
        )
    credit: tuple[Acknowledgment, ...] = ()
    if text.credit and (text.credit_name or case.reporter_name):
        credit = (
            Acknowledgment(
                text.credit_name or case.reporter_name,
                text.credit_organization or case.reporter_organisation,
            ),
        )
    now_or_release = revisions[-1].date if revisions else timezone.now()
    references: tuple[Reference, ...] = ()
    if superseded_by:
        references = (Reference(page_url(superseded_by), f"Superseded by {superseded_by}"),)
    cves = assessment.cves_of(case) or [""]
    vulnerabilities = tuple(
        Vulnerability(
            title=Text(text.title_en, text.title_ja),
            description=Text(text.description_en, text.description_ja),
            cve=cve_id,
            cwe_id=text.cwe_id,
            cwe_name=text.cwe_name,
            severity=severity,
            scores=_scores(case, products),
            statuses=products.statuses,
            justifications=products.justifications,
            remediations=tuple(remediations),
            exploited=bool(rating.exploited_on or case.attacks_observed_at),
            publicly_disclosed=case.public_aware_at is not None,
            exploitability=rating.exploitability.replace("_", " "),
            acknowledgments=credit,
            discovery_date=case.created_at,
            release_date=revisions[0].date if revisions else None,
        )
        for cve_id in cves
    )
    first = revisions[0].date if revisions else now_or_release
    advisory = model.Advisory(
        id=advisory_id,
        kind=kind,
        title=Text(text.title_en, text.title_ja),
        summary=Text(text.summary_en, text.summary_ja),
        publisher=_publisher(),
        initial_release=first,
        current_release=now_or_release,
        revisions=revisions,
        products=products.versions,
        vulnerabilities=vulnerabilities,
        faq=_faq(text),
        mitigations=mitigations,
        update_url=update_url() if kind is Kind.BULLETIN else "",
        restart_required=restart,
        supersedes=supersedes,
        references=references,
        release_name=release_name,
        url=page_url(advisory_id),
    )
    formats = ["csaf", "bulletin"] + (["cve"] if cves != [""] else [])
    problems = [f"{case.tracking_id}: {p}" for p in products.missing]
    problems += [
        f"{case.tracking_id}: {p.removeprefix(advisory_id + ': ').removeprefix(advisory_id + ' ')}"
        for p in model.missing(advisory, formats)
    ]
    return advisory, problems


def _pick(products: _Products, ids: tuple[str, ...]) -> list[ProductVersion]:
    return [p for p in products.versions if p.product_id in ids]


# Generating and validating ---------------------------------------------------------------------


@dataclass(frozen=True)
class Documents:
    csaf: dict[str, Any]
    cve: list[dict[str, Any]]
    osv: list[dict[str, Any]]


def generate(advisory: model.Advisory) -> Documents:
    """Every document of ``advisory``, validated; raises ``InvalidInput`` listing each problem."""
    from mamori.core.csaf_validate import validate as validate_csaf

    pub = settings.MAMORI_PUBLISHING
    problems: list[str] = []
    document = csaf.build(advisory, generator_version=__version__)
    problems += [
        f"CSAF {advisory.id} {p.test} at {p.path or '/'}: {p.message}"
        for p in validate_csaf(document)
    ]
    records = []
    if advisory.kind is Kind.BULLETIN:
        for vuln in advisory.vulnerabilities:
            if not vuln.cve:
                continue
            record = cve.record(
                advisory, vuln, org_id=pub.cve_org_id or _NIL_ORG, short_name=_short_name()
            )
            problems += [f"CVE {vuln.cve}: {p}" for p in cve.validate_record(record)]
            records.append(record)
    osv_records = osv.build(advisory)
    for record in osv_records:
        problems += [f"OSV {record.get('id')}: {p}" for p in osv.validate(record)]
    if problems:
        raise InvalidInput({"documents": "; ".join(problems)})
    return Documents(document, records, osv_records)


_NIL_ORG = "00000000-0000-4000-8000-000000000000"  # until MAMORI_CVE_ORG_ID names the CNA


def _short_name() -> str:
    pub = settings.MAMORI_PUBLISHING
    return (pub.cve_org or pub.vendor)[:32]


# Issuing ---------------------------------------------------------------------------------------


def _new_id(now: datetime) -> str:
    prefix = settings.MAMORI_PUBLISHING.advisory_prefix
    year = timezone.localtime(now).year
    return f"{prefix}-{year}-{next_number(prefix, year):04d}"


def _revisions(advisory: Advisory | None) -> tuple[model.Revision, ...]:
    if advisory is None:
        return ()
    return tuple(
        model.Revision(str(r.number), r.published_at, r.summary)
        for r in advisory.revisions.order_by("number")
    )


def missing_for_bulletin(case: Case) -> list[str]:
    """Everything a bulletin for ``case`` still needs, one sentence each (empty: ready)."""
    draft = (model.Revision("1", timezone.now(), "Initial release"),)
    _, problems = compose(case, kind=Kind.BULLETIN, advisory_id="DRAFT", revisions=draft)
    return problems


def _store(
    advisory: Advisory,
    value: model.Advisory,
    number: int,
    summary: str,
    actor: User | None,
    at: datetime,
) -> Revision:
    documents = generate(value)
    return Revision.objects.create(
        advisory=advisory,
        number=number,
        published_at=at,
        summary=summary,
        snapshot=model.to_data(value),
        csaf=documents.csaf,
        cve=documents.cve,
        osv=documents.osv,
        published_by=actor,
    )


def _issue(
    actor: User | None,
    case: Case,
    kind: Kind,
    *,
    at: datetime,
    summary: str,
    release_name: str = "",
    release: Any = None,
) -> Revision:
    existing = Advisory.objects.filter(case=case, kind=kind).first()
    advisory_id = existing.advisory_id if existing else _new_id(at)
    earlier = _revisions(existing)
    number = len(earlier) + 1
    revisions = (*earlier, model.Revision(str(number), at, summary))
    supersedes: tuple[str, ...] = ()
    early = None
    if kind is Kind.BULLETIN:
        early = Advisory.objects.filter(case=case, kind=Kind.EARLY_MITIGATION).first()
        supersedes = (early.advisory_id,) if early else ()
    value, problems = compose(
        case,
        kind=kind,
        advisory_id=advisory_id,
        revisions=revisions,
        release_name=release_name,
        supersedes=supersedes,
    )
    if problems:
        raise GateRefused("published", problems)
    advisory = existing or Advisory.objects.create(
        advisory_id=advisory_id, case=case, kind=kind, release=release, created_at=at
    )
    if release is not None and advisory.release_id != release.pk:
        advisory.release = release
        advisory.save(update_fields=["release"])
    revision = _store(advisory, value, number, summary, actor, at)
    log = AuditLog(case, actor, at)
    log.add("advisory", advisory_id, "", f"revision {number}: {summary}")
    log.save()
    if early is not None and early.superseded_by_id is None:
        _supersede(early, advisory, actor, at)
    return revision


def _supersede(early: Advisory, bulletin: Advisory, actor: User | None, at: datetime) -> None:
    """The early mitigation advisory gets a last revision pointing at the bulletin."""
    early.superseded_by = bulletin
    early.save(update_fields=["superseded_by"])
    earlier = _revisions(early)
    number = len(earlier) + 1
    summary = f"Superseded by {bulletin.advisory_id}, which provides the security update"
    revisions = (*earlier, model.Revision(str(number), at, summary))
    value, _ = compose(
        early.case,
        kind=Kind.EARLY_MITIGATION,
        advisory_id=early.advisory_id,
        revisions=revisions,
        superseded_by=bulletin.advisory_id,
    )
    _store(early, value, number, summary, actor, at)


def issue_bulletin(actor: User, case: Case, release: Any, at: datetime) -> Revision:
    """Called by ``releases.services.publish`` inside its transaction."""
    return _issue(
        actor,
        case,
        Kind.BULLETIN,
        at=at,
        summary="Initial release",
        release_name=release.name,
        release=release,
    )


def needs_early_advisory(case: Case) -> bool:
    """Public before its fix shipped, and no early mitigation advisory yet: Mamori asks for one."""
    return (
        case.public_aware_at is not None
        and case.state_enum
        in (State.CONFIRMED, State.IN_DEVELOPMENT, State.IN_TESTING, State.READY_FOR_RELEASE)
        and not Advisory.objects.filter(case=case, kind=Kind.EARLY_MITIGATION).exists()
    )


def publish_early_advisory(user: AnyUser, tracking_id: str) -> Revision:
    """Publish an early mitigation advisory for a case that became public before its fix."""
    actor = require(user, Action.ADVISORY_EDIT)
    with transaction.atomic():
        case = cases.lock_case(actor, tracking_id)
        if case.public_aware_at is None:
            raise Conflict(
                "the case is not publicly disclosed: mark it public (flag P) before publishing "
                "an early advisory"
            )
        if Advisory.objects.filter(case=case, kind=Kind.BULLETIN).exists():
            raise Conflict("the fix is released already; the bulletin covers the case")
        revision = _issue(
            actor, case, Kind.EARLY_MITIGATION, at=timezone.now(), summary="Initial release"
        )
        publish_site(actor, f"early mitigation advisory {revision.advisory.advisory_id}")
    return revision


def reissue(user: AnyUser, advisory_id: str, summary: str) -> Revision:
    """A new revision from the case's current data; earlier revisions stay published."""
    actor = require(user, Action.ADVISORY_EDIT)
    summary = " ".join(summary.split())[:500]
    if not summary:
        raise InvalidInput("say what changed in this revision", field="summary")
    with transaction.atomic():
        advisory = Advisory.objects.select_for_update().filter(advisory_id=advisory_id).first()
        if advisory is None or not cases.visible_cases(actor).filter(pk=advisory.case_id).exists():
            raise NotFound(f"no advisory {advisory_id[:40]!r}")
        revision = _issue(
            actor,
            advisory.case,
            Kind(advisory.kind),
            at=timezone.now(),
            summary=summary,
            release_name=advisory.release.name if advisory.release else "",
            release=advisory.release,
        )
        publish_site(actor, f"{advisory_id} revision {revision.number}")
    return revision


# Reading ---------------------------------------------------------------------------------------


def advisories_of(user: AnyUser, tracking_id: str) -> list[Advisory]:
    case = cases.internal_case(user, tracking_id)
    return list(Advisory.objects.filter(case=case).prefetch_related("revisions"))


def may_edit(user: AnyUser) -> bool:
    return can(user, Action.ADVISORY_EDIT)


def republish(user: AnyUser) -> SiteBuild:
    """Rebuild and swap in the public tree on a release manager's request."""
    actor = require(user, Action.CASE_RELEASE)
    return publish_site(actor, f"requested by {actor.username}")


def publish_site(actor: User | None, reason: str) -> SiteBuild:
    """Rebuild the public tree from the database and swap it in (see ``advisories.site``)."""
    from mamori.advisories import site

    return site.publish(actor, reason)
