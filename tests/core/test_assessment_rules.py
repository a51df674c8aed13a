"""The documented rules: severity from impact fields, the priority, the matrix vocabulary."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from mamori.core.matrix import Affectedness, VersionStatus, open_investigations, parse_row
from mamori.core.priority import Epss, PriorityInputs, compute, queue_key
from mamori.core.rating import Severity
from mamori.core.severity import (
    Impact,
    ImpactFields,
    Mitigation,
    derive_severity,
    parse_impact_fields,
)
from mamori.core.ssvc import Urgency
from mamori.errors import InvalidInput

C, I, M, L = Severity.CRITICAL, Severity.IMPORTANT, Severity.MODERATE, Severity.LOW  # noqa: E741


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (ImpactFields(Impact.CODE_EXECUTION), C),
        (ImpactFields(Impact.CODE_EXECUTION, user_action_required=True), I),
        (ImpactFields(Impact.ELEVATION_OF_PRIVILEGE), I),
        (ImpactFields(Impact.INFORMATION_DISCLOSURE), I),
        (ImpactFields(Impact.TAMPERING), I),
        (ImpactFields(Impact.DENIAL_OF_SERVICE), I),
        (ImpactFields(Impact.SPOOFING), M),
        (ImpactFields(Impact.SECURITY_FEATURE_BYPASS), M),
        (ImpactFields(Impact.CODE_EXECUTION, mitigation=Mitigation.DEFAULT_CONFIGURATION), I),
        (ImpactFields(Impact.DENIAL_OF_SERVICE, mitigation=Mitigation.DIFFICULTY), M),
        (ImpactFields(Impact.SPOOFING, mitigation=Mitigation.AUDITING), L),
        (ImpactFields(Impact.CODE_EXECUTION, minimal_impact=True), L),
    ],
)
def test_severity_rules(fields: ImpactFields, expected: Severity) -> None:
    rating = derive_severity(fields)
    assert rating.severity is expected
    assert rating.rules and rating.rules[-1].endswith(expected.label)


def test_low_stays_low_when_mitigated() -> None:
    fields = ImpactFields(Impact.SPOOFING, minimal_impact=True, mitigation=Mitigation.AUDITING)
    assert derive_severity(fields).severity is L


@pytest.mark.parametrize(
    ("values", "fields"),
    [
        ({}, {"impact"}),
        ({"impact": "rce"}, {"impact"}),
        ({"impact": "tampering", "mitigation": "prayer"}, {"mitigation"}),
        ({"impact": "tampering", "minimal_impact": "perhaps"}, {"minimal_impact"}),
        (
            {"impact": "x", "user_action_required": "2", "mitigation": "y"},
            {"impact", "user_action_required", "mitigation"},
        ),
    ],
)
def test_bad_impact_fields_are_all_reported(values: dict[str, object], fields: set[str]) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_impact_fields(values)
    assert set(refused.value.problems) == fields


def test_impact_fields_from_a_form() -> None:
    parsed = parse_impact_fields(
        {"impact": " Tampering ", "user_action_required": "on", "mitigation": ""}
    )
    assert parsed == ImpactFields(Impact.TAMPERING, True, False, Mitigation.NONE)


EPSS_HIGH = Epss(0.42, 0.99, "v2025.03.14", date(2025, 3, 17))
EPSS_LOW = Epss(0.02, 0.5, "v2025.03.14", date(2025, 3, 17))


@pytest.mark.parametrize(
    ("given", "level"),
    [
        (PriorityInputs(), 3),
        (PriorityInputs(severity=C), 2),
        (PriorityInputs(severity=L), 5),
        (PriorityInputs(urgency=Urgency.IMMEDIATE, severity=L), 1),
        (PriorityInputs(urgency=Urgency.OUT_OF_CYCLE), 2),
        (PriorityInputs(urgency=Urgency.SCHEDULED, severity=C), 3),
        (PriorityInputs(urgency=Urgency.DEFER), 4),
        (PriorityInputs(severity=L, kev_added=date(2024, 1, 1)), 1),
        (PriorityInputs(severity=L, attacks_observed=True), 1),
        (PriorityInputs(severity=M, epss=EPSS_HIGH), 3),
        (PriorityInputs(severity=M, epss=EPSS_LOW), 4),
        (PriorityInputs(severity=M, epss=EPSS_HIGH, epss_threshold=0.5), 4),
        (PriorityInputs(urgency=Urgency.IMMEDIATE, epss=EPSS_HIGH), 1),
    ],
)
def test_priority_levels(given: PriorityInputs, level: int) -> None:
    assert compute(given).level == level


def test_every_raise_says_why() -> None:
    reasons = compute(
        PriorityInputs(
            severity=M, kev_added=date(2024, 2, 1), epss=EPSS_HIGH, attacks_observed=True
        )
    ).reasons
    assert reasons[0] == "no SSVC decision yet; severity Moderate → P4"
    assert "listed in CISA KEV since 2024-02-01, attacks observed" in reasons[1]
    assert "raised to P1" in reasons[1]
    assert "model v2025.03.14" in reasons[2]


def test_the_score_orders_by_severity_then_epss() -> None:
    critical = compute(PriorityInputs(severity=C)).score
    important_high_epss = compute(
        PriorityInputs(severity=I, epss=Epss(1.0, 1, "v1", date.today()))
    ).score
    assert critical > important_high_epss > compute(PriorityInputs(severity=I)).score


def test_queue_key_puts_overdue_first_within_a_level() -> None:
    now = datetime(2026, 11, 23, 9, 0)
    older = now - timedelta(days=3)
    keys = {
        "p1": queue_key(1, False, 0.0, now, 1),
        "p2_overdue": queue_key(2, True, 0.0, now, 2),
        "p2_critical": queue_key(2, False, 40.0, older, 3),
        "p2_old": queue_key(2, False, 0.0, older, 4),
        "p2_new": queue_key(2, False, 0.0, now, 5),
    }
    assert sorted(keys, key=keys.__getitem__) == list(keys)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("",), "status"),
        (("maybe",), "status"),
        (("not_affected",), "justification"),
        (("not_affected", "because"), "justification"),
        (("affected", "component_not_present"), "justification"),
        (("not_affected", "component_not_present", "fix"), "resolution"),
        (("affected", "", "someday"), "resolution"),
    ],
)
def test_bad_matrix_rows(args: tuple[str, ...], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_row(*args)
    assert field in refused.value.problems


def test_open_investigations_skip_end_of_life_and_answered_versions() -> None:
    versions = [
        VersionStatus("P 1", True, Affectedness.UNDER_INVESTIGATION),
        VersionStatus("P 2", True, Affectedness.AFFECTED),
        VersionStatus("P 0", False, Affectedness.UNDER_INVESTIGATION),
    ]
    assert open_investigations(versions) == ["P 1"]
