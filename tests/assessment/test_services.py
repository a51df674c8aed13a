"""The assessment service: rating, facts, SSVC, priority, the matrix gate and role rules."""

from __future__ import annotations

import pytest

from mamori.accounts.models import User
from mamori.assessment import imports
from mamori.assessment import services as assessment
from mamori.assessment.models import Assessment
from mamori.cases import services as cases
from mamori.cases.models import AuditEntry, Case
from mamori.core.authz import Role
from mamori.core.workflow import State, StepInput
from mamori.errors import GateRefused, InvalidInput, NotFound, PermissionDenied
from tests import factories
from tests.assessment.conftest import KEV_FILE, epss_file

V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"  # 6.1, FIRST v3.1 examples (phpMyAdmin)
V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"  # 9.3


def rating(**changes: object) -> assessment.RatingChanges:
    return assessment.RatingChanges(**changes)  # type: ignore[arg-type]


def row(status: str, **extra: str) -> assessment.RowChanges:
    return assessment.RowChanges(status=status, **extra)


def case_row(tracking_id: str) -> Case:
    return Case.objects.get(tracking_id=tracking_id)


# CVSS ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_both_vectors_are_scored_and_the_case_summary_follows(admin, world) -> None:
    view = assessment.update_rating(admin, world["case"], rating(cvss_v3=V31, cvss_v4=V40))
    assert (view.v3.base_score, view.v3.base_severity) == (6.1, "Medium")
    assert (view.v4.score, view.v4.nomenclature) == (9.3, "CVSS-B")
    assert float(case_row(world["case"]).cvss_score) == 9.3  # the v4.0 score is the headline
    audit = AuditEntry.objects.filter(case__tracking_id=world["case"], field="cvss_v3_vector")
    assert audit.get().after == V31


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"cvss_v3": "CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}, "cvss_v3", "AV"),
        ({"cvss_v3": "CVSS:3.1/AV:N/AC:L"}, "cvss_v3", "Missing mandatory"),
        ({"cvss_v3": "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}, "cvss_v3", "starts with"),
        ({"cvss_v3": V40}, "cvss_v3", "CVSS:3.1/"),
        ({"cvss_v4": V31}, "cvss_v4", "CVSS:4.0/"),
        (
            {"cvss_v4": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:Z/SC:N/SI:N/SA:N"},
            "cvss_v4",
            "VA",
        ),
        (
            {"cvss_v4": "CVSS:4.0/AV:N/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"},
            "cvss_v4",
            "",
        ),
    ],
)
def test_a_bad_vector_is_refused_with_the_reason_and_changes_nothing(
    admin, world, changes, field, says
) -> None:
    assessment.update_rating(admin, world["case"], rating(cvss_v3=V31))
    before = Assessment.objects.values().get(case__tracking_id=world["case"])
    audit = AuditEntry.objects.count()
    with pytest.raises(InvalidInput) as refused:
        assessment.update_rating(admin, world["case"], rating(**changes))
    assert field in refused.value.problems
    assert says in refused.value.problems[field]
    after = Assessment.objects.values().get(case__tracking_id=world["case"])
    assert after == before
    assert AuditEntry.objects.count() == audit


@pytest.mark.django_db
def test_every_problem_of_one_update_is_reported_at_once(admin, world) -> None:
    with pytest.raises(InvalidInput) as refused:
        assessment.update_rating(
            admin,
            world["case"],
            rating(
                cvss_v3="garbage",
                impact={"impact": "teleportation"},
                exploitability="certain",
                cves=("CVE-24-1",),
                ssvc={"automatable": "sometimes"},
            ),
        )
    assert set(refused.value.problems) == {
        "cvss_v3",
        "impact",
        "exploitability",
        "cves",
        "automatable",
    }


# Severity --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_severity_is_derived_by_the_rules_and_an_override_records_who_and_why(admin, world) -> None:
    view = assessment.update_rating(
        admin, world["case"], rating(impact={"impact": "code_execution", "mitigation": "auditing"})
    )
    assert view.assessment.derived_severity == "important"
    assert "critical: code execution without user action → Critical" in view.rating.rules
    assert case_row(world["case"]).severity == "important"

    with pytest.raises(InvalidInput) as refused:
        assessment.update_rating(admin, world["case"], rating(severity_override="critical"))
    assert "override_reason" in refused.value.problems

    view = assessment.update_rating(
        admin,
        world["case"],
        rating(severity_override="critical", override_reason="wormable in default installs"),
    )
    a = view.assessment
    assert (a.severity, a.derived_severity) == ("critical", "important")
    assert (a.overridden_by, a.override_reason) == (admin, "wormable in default installs")
    assert case_row(world["case"]).severity == "critical"

    view = assessment.update_rating(admin, world["case"], rating(severity_override=""))
    assert view.assessment.severity == "important"
    assert view.assessment.overridden_by is None


# Exploitation and SSVC -------------------------------------------------------------------------

SSVC_ALL = {
    "automatable": "yes",
    "value_density": "concentrated",
    "technical_impact": "total",
    "safety_impact": "negligible",
}


@pytest.mark.django_db
def test_ssvc_needs_every_input_and_reads_exploitation_from_the_facts(admin, world) -> None:
    partial = {k: v for k, v in SSVC_ALL.items() if k != "safety_impact"}
    view = assessment.update_rating(admin, world["case"], rating(ssvc=partial))
    assert view.decision is None
    assert view.ssvc_missing == ["safety impact"]

    assert assessment.urgency_of(case_row(world["case"])) is None
    view = assessment.update_rating(admin, world["case"], rating(ssvc=SSVC_ALL))
    # none, super effective, total, minimal → out-of-cycle (the supplier table's row 10)
    assert (view.exploitation.value, view.decision.outcome.value) == ("none", "out_of_cycle")
    assert view.assessment.urgency == "out_of_cycle"
    assert assessment.urgency_of(case_row(world["case"])).out_of_band  # what release trains read
    assert view.priority.level == 2

    view = assessment.record_fact(
        admin, world["case"], "exploit_public", factories_date(-3), "https://example.org/poc"
    )
    assert (view.exploitation.value, view.decision.outcome.value) == ("public_poc", "out_of_cycle")
    case = case_row(world["case"])
    assert case.exploit_public_at is not None  # X

    view = assessment.record_fact(
        admin, world["case"], "exploited", factories_date(-1), "vendor telemetry"
    )
    assert view.assessment.exploitability == "detected"
    assert (view.exploitation.value, view.decision.outcome.value) == ("active", "immediate")
    assert view.priority.level == 1
    assert case_row(world["case"]).attacks_observed_at is not None  # A


def factories_date(days: int):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.localdate() + timedelta(days=days)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fact", "on", "source", "field"),
    [
        ("disclosed", 2, "https://example.org", "on"),  # in the future
        ("disclosed", -1, "", "source"),
        ("leaked", -1, "x", "fact"),
    ],
)
def test_a_bad_public_fact_is_refused(admin, world, fact, on, source, field) -> None:
    with pytest.raises(InvalidInput) as refused:
        assessment.record_fact(admin, world["case"], fact, factories_date(on), source)
    assert field in refused.value.problems
    assert case_row(world["case"]).public_aware_at is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("point", "value"),
    [
        ("automatable", "maybe"),
        ("value_density", "dense"),
        ("technical_impact", "huge"),
        ("safety_impact", "moderate"),
        ("exploitation", "active"),  # read from the facts, never given
        ("utility", "efficient"),  # derived from automatable and value density
    ],
)
def test_an_ssvc_input_outside_the_table_is_refused(admin, world, point, value) -> None:
    assessment.update_rating(admin, world["case"], rating(ssvc=SSVC_ALL))
    before = Assessment.objects.values().get(case__tracking_id=world["case"])
    with pytest.raises(InvalidInput) as refused:
        assessment.update_rating(admin, world["case"], rating(ssvc={point: value}))
    assert set(refused.value.problems) == {point if point in SSVC_ALL else "ssvc"}
    assert Assessment.objects.values().get(case__tracking_id=world["case"]) == before


# KEV and EPSS raise the priority -----------------------------------------------------------


@pytest.mark.django_db
def test_a_kev_listing_raises_the_case_to_p1_and_records_why(admin, world) -> None:
    assessment.update_rating(
        admin, world["case"], rating(impact={"impact": "spoofing"}, cves=("CVE-2021-44228",))
    )
    assert case_row(world["case"]).priority == 4  # Moderate, no SSVC yet
    result = imports.import_kev(admin, KEV_FILE.read_bytes(), "shared snapshot")
    assert world["case"] in result.cases_changed
    case = case_row(world["case"])
    assert case.priority == 1
    view = assessment.view(admin, world["case"])
    assert any("listed in CISA KEV since 2021-12-10" in r for r in view.priority.reasons)
    assert view.assessment.exploited_on.isoformat() == "2021-12-10"
    assert case.attacks_observed_at is not None and case.public_aware_at is not None


@pytest.mark.django_db
def test_an_epss_score_over_the_threshold_raises_one_level(admin, world, settings) -> None:
    cve = "CVE-2024-11111"
    assessment.update_rating(
        admin, world["case"], rating(impact={"impact": "spoofing"}, cves=(cve,))
    )
    imports.import_epss(admin, epss_file([(cve, 0.05, 0.9)], day="2025-03-17"), "day 1")
    assert case_row(world["case"]).priority == 4
    imports.import_epss(admin, epss_file([(cve, 0.42, 0.99)], day="2025-03-18"), "day 2")
    case = case_row(world["case"])
    assert case.priority == 3
    reasons = assessment.view(admin, world["case"]).priority.reasons
    assert any("EPSS 0.4200" in r and "raised to P3" in r for r in reasons)


@pytest.mark.django_db
def test_epss_scores_of_another_model_are_never_compared(admin, world) -> None:
    cve = "CVE-2024-22222"
    assessment.update_rating(
        admin, world["case"], rating(impact={"impact": "spoofing"}, cves=(cve,))
    )
    imports.import_epss(admin, epss_file([(cve, 0.9, 0.99)], model="v2025.03.14"), "new")
    assert case_row(world["case"]).priority == 3
    older = imports.import_epss(
        admin, epss_file([(cve, 0.01, 0.1)], model="v2023.03.01", day="2025-03-20"), "old"
    )
    assert any("never compared" in w for w in older.warnings)
    view = assessment.view(admin, world["case"])
    assert view.epss.current_model == "v2025.03.14"
    assert view.epss.score.probability == 0.9  # the older model's score does not count
    # A case whose CVE has a score only under an older model gets none, and is told why.
    other = factories.case(admin, "Other")
    assessment.update_rating(admin, other, rating(cves=("CVE-2023-33333",)))
    imports.import_epss(
        admin, epss_file([("CVE-2023-33333", 0.5, 0.9)], model="v2023.03.01", day="2025-03-21"), "x"
    )
    note = assessment.view(admin, other).epss.note
    assert "not comparable" in note


# The affected matrix and its gate ---------------------------------------------------------


def _to_confirmed(admin: User, tracking_id: str) -> None:
    cases.update_case(
        admin,
        tracking_id,
        cases.CaseChanges(assignee=admin.username, owning_team="web-team"),
    )
    factories.rate(admin, tracking_id, "important")
    for target in ("triage", "reproducing", "confirmed"):
        cases.transition(admin, tracking_id, target, StepInput())


@pytest.mark.django_db
def test_the_gate_into_development_waits_for_supported_versions(admin, world, engineer) -> None:
    tid = world["case"]
    _to_confirmed(admin, tid)
    with pytest.raises(GateRefused) as refused:
        cases.transition(admin, tid, State.IN_DEVELOPMENT.value, StepInput())
    text = " ".join(refused.value.missing)
    assert "Portal 2.x" in text and "Portal 1.x" in text
    assert "0.9" not in text  # end of life: not a blocker

    assessment.set_matrix_row(engineer, tid, "portal", "2.x", row("affected", resolution="fix"))
    with pytest.raises(GateRefused) as refused:
        cases.transition(admin, tid, State.IN_DEVELOPMENT.value, StepInput())
    assert "Portal 2.x" not in " ".join(refused.value.missing)

    assessment.set_matrix_row(
        engineer,
        tid,
        "portal",
        "1.x",
        row("not_affected", justification="vulnerable_code_not_present"),
    )
    moved = cases.transition(admin, tid, State.IN_DEVELOPMENT.value, StepInput())
    assert moved.state == "in_development"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (row("not_affected"), "justification"),
        (row("affected", justification="component_not_present"), "justification"),
        (row("under_investigation", resolution="fix"), "resolution"),
        (row("not_affected", justification="it_is_fine"), "justification"),
        (row("probably"), "status"),
        (row("affected", cvss_v3="CVSS:3.1/AV:X"), "cvss_v3"),
    ],
)
def test_a_bad_matrix_row_is_refused(admin, world, changes, field) -> None:
    with pytest.raises(InvalidInput) as refused:
        assessment.set_matrix_row(admin, world["case"], "portal", "2.x", changes)
    assert field in refused.value.problems
    assert all(line.row is None for line in assessment.matrix(admin, world["case"]))


@pytest.mark.django_db
def test_engineers_edit_only_their_own_products_and_auditors_only_read(
    admin, world, engineer
) -> None:
    tid = world["case"]
    assessment.set_matrix_row(engineer, tid, "portal", "2.x", row("affected", resolution="fix"))
    cases.update_case(admin, tid, cases.CaseChanges(products=("portal", "billing")))
    with pytest.raises(PermissionDenied):
        assessment.set_matrix_row(engineer, tid, "billing", "3.0", row("affected"))
    with pytest.raises(PermissionDenied):
        assessment.update_rating(engineer, tid, rating(cvss_v3=V31))
    auditor = factories.user(Role.AUDITOR)
    assert len(assessment.matrix(auditor, tid)) == 4
    with pytest.raises(PermissionDenied):
        assessment.set_matrix_row(auditor, tid, "portal", "1.x", row("affected"))
    assessment.set_matrix_row(admin, tid, "billing", "3.0", row("affected", resolution="defer"))
    lines = {
        (line.product_slug, line.version_name): line for line in assessment.matrix(engineer, tid)
    }
    assert lines[("portal", "2.x")].editable and not lines[("billing", "3.0")].editable
    assert lines[("billing", "3.0")].row.resolution == "defer"


@pytest.mark.django_db
def test_an_engineer_outside_the_teams_does_not_find_the_case(admin, world) -> None:
    stranger = factories.user(Role.PRODUCT_ENGINEER, "engineer-elsewhere")
    with pytest.raises(NotFound):
        assessment.set_matrix_row(stranger, world["case"], "portal", "2.x", row("affected"))
    with pytest.raises(NotFound):
        assessment.view(stranger, world["case"])


@pytest.mark.django_db
def test_the_variant_checklist_records_who_checked_what(admin, world, engineer) -> None:
    tid = world["case"]
    check = assessment.add_variant_check(
        engineer, tid, "portal", "1.x", "the 1.x branch shares the template engine"
    )
    assert (check.result, check.added_by) == ("pending", engineer)
    with pytest.raises(PermissionDenied):
        assessment.add_variant_check(engineer, tid, "billing", "", "uses the same library")
    other = assessment.add_variant_check(admin, tid, "billing", "", "uses the same library")
    with pytest.raises(PermissionDenied):
        assessment.record_variant_result(engineer, tid, other.pk, "not_affected")
    with pytest.raises(InvalidInput):
        assessment.record_variant_result(engineer, tid, check.pk, "pending")
    done = assessment.record_variant_result(
        engineer, tid, check.pk, "affected", "same escaping bug in 1.x"
    )
    assert (done.result, done.checked_by, done.notes) == (
        "affected",
        engineer,
        "same escaping bug in 1.x",
    )
    assert done.checked_at is not None
    with pytest.raises(NotFound):
        assessment.record_variant_result(engineer, tid, 999_999, "affected")
    with pytest.raises(InvalidInput):
        assessment.add_variant_check(admin, tid, "portal", "7.7", "")


# The queue's order ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_queue_follows_the_documented_order(admin, world, settings) -> None:
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from mamori.core.priority import queue_key

    start = timezone.now() - timedelta(days=10)
    made: dict[str, str] = {}
    external = {"reporter_email": "finder@example.org"}  # a reporter is owed a first response
    with time_machine.travel(start, tick=False):
        made["old_unrated"] = factories.case(admin, "old unrated", **external)
    with time_machine.travel(start + timedelta(days=1), tick=False):
        made["moderate"] = factories.case(admin, "moderate", **external)
        made["critical"] = factories.case(admin, "critical", **external)
        made["kev"] = factories.case(admin, "in KEV", **external)
        made["new_unrated"] = factories.case(admin, "new unrated", **external)
        made["scheduled"] = factories.case(admin, "scheduled", **external)
    factories.rate(admin, made["moderate"], "moderate")
    factories.rate(admin, made["critical"], "critical")
    factories.rate(admin, made["kev"], "low")
    assessment.update_rating(admin, made["kev"], rating(cves=("CVE-2021-44228",)))
    imports.import_kev(admin, KEV_FILE.read_bytes(), "snapshot")
    factories.rate(admin, made["scheduled"], "critical")
    assessment.update_rating(
        admin,
        made["scheduled"],
        rating(
            ssvc={
                "automatable": "no",
                "value_density": "diffuse",
                "technical_impact": "total",
                "safety_impact": "negligible",
            }
        ),
    )
    # Answering the reporter ends the SLA clock: "scheduled" is the only one not overdue.
    cases.post_message(admin, made["scheduled"], "We are looking into it.")
    queue = list(cases.queue(admin))
    order = [c.tracking_id for c in queue if c.tracking_id in made.values()]
    expected = sorted(
        (c for c in queue if c.tracking_id in made.values()),
        key=lambda c: queue_key(c.priority, c.sla_overdue, c.priority_score, c.created_at, c.pk),
    )
    assert order == [c.tracking_id for c in expected]
    names = {v: k for k, v in made.items()}
    # KEV → P1; Critical → P2; in P3 the overdue unrated ones (oldest first) come before the
    # answered Scheduled one despite its Critical points; Moderate is P4.
    assert [names[t] for t in order] == [
        "kev",
        "critical",
        "old_unrated",
        "new_unrated",
        "scheduled",
        "moderate",
    ]
