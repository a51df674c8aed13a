"""The triage queue's priority: one documented order, and the reasons for each case's place.

A case's **level** runs from P1 (most urgent) to P5:

1. The base level. Once the SSVC supplier decision is made it decides: Immediate → P1,
   Out-of-Cycle → P2, Scheduled → P3, Defer → P4. Before that, the vendor severity does:
   Critical → P2, Important → P3, Moderate → P4, Low → P5. A case with neither is P3: a new report
   is treated as Important until someone has rated it, so it is never buried.
2. Known exploitation raises the case to P1: a listing in CISA's KEV catalog, or attacks observed.
3. An EPSS probability at or above the configured threshold raises the case one level (never
   above P1). Only a score from the current EPSS model counts: scores of different model versions
   are never compared.

Within a level the queue puts first the cases whose first response to the reporter is overdue
(the SLA), then orders by **score** — ten points per severity step (Critical 40, Important 30,
Moderate 20, Low 10, unrated 0) plus the EPSS probability (0 to 1), higher first — and then by age,
oldest first. ``queue_key`` is that order; the database query of the queue implements the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from mamori.core.rating import Severity
from mamori.core.ssvc import Urgency

LOWEST = 5
UNASSESSED = 3

_BY_URGENCY = {
    Urgency.IMMEDIATE: 1,
    Urgency.OUT_OF_CYCLE: 2,
    Urgency.SCHEDULED: 3,
    Urgency.DEFER: 4,
}
_BY_SEVERITY = {
    Severity.CRITICAL: 2,
    Severity.IMPORTANT: 3,
    Severity.MODERATE: 4,
    Severity.LOW: 5,
}
SEVERITY_POINTS = {
    Severity.CRITICAL: 40,
    Severity.IMPORTANT: 30,
    Severity.MODERATE: 20,
    Severity.LOW: 10,
}


@dataclass(frozen=True)
class Epss:
    probability: float
    percentile: float
    model_version: str
    score_date: date


@dataclass(frozen=True)
class PriorityInputs:
    urgency: Urgency | None = None
    severity: Severity | None = None
    kev_added: date | None = None  # listed in CISA KEV since
    attacks_observed: bool = False
    epss: Epss | None = None  # a score from the current EPSS model, if the case's CVEs have one
    epss_threshold: float = 0.1


@dataclass(frozen=True)
class Priority:
    level: int
    score: float
    reasons: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"P{self.level}"


def compute(given: PriorityInputs) -> Priority:
    reasons: list[str] = []
    if given.urgency is not None:
        level = _BY_URGENCY[given.urgency]
        reasons.append(f"SSVC supplier decision {given.urgency.label} → P{level}")
    elif given.severity is not None:
        level = _BY_SEVERITY[given.severity]
        reasons.append(f"no SSVC decision yet; severity {given.severity.label} → P{level}")
    else:
        level = UNASSESSED
        reasons.append(f"not assessed yet: treated as Important → P{level}")
    if given.kev_added is not None or given.attacks_observed:
        why = []
        if given.kev_added is not None:
            why.append(f"listed in CISA KEV since {given.kev_added.isoformat()}")
        if given.attacks_observed:
            why.append("attacks observed")
        if level > 1:
            reasons.append(f"known exploitation ({', '.join(why)}) → raised to P1")
            level = 1
        else:
            reasons.append(f"known exploitation ({', '.join(why)})")
    epss = given.epss
    if epss is not None:
        where = (
            f"EPSS {epss.probability:.4f} (percentile {epss.percentile:.2f}, model "
            f"{epss.model_version}, {epss.score_date.isoformat()})"
        )
        if epss.probability >= given.epss_threshold:
            if level > 1:
                level -= 1
                reasons.append(f"{where} ≥ threshold {given.epss_threshold} → raised to P{level}")
            else:
                reasons.append(f"{where} ≥ threshold {given.epss_threshold}")
        else:
            reasons.append(f"{where} below threshold {given.epss_threshold}")
    points = SEVERITY_POINTS[given.severity] if given.severity is not None else 0
    score = points + (epss.probability if epss is not None else 0.0)
    return Priority(level, round(score, 5), tuple(reasons))


def queue_key(
    level: int, overdue: bool, score: float, created_at: datetime, pk: int
) -> tuple[int, int, float, datetime, int]:
    """The queue's order: level, overdue first, score (higher first), oldest first."""
    return (level, 0 if overdue else 1, -score, created_at, pk)
