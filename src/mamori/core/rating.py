"""Severity inputs: CVSS vectors (through the ``cvss`` library) and the vendor severity scale."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cvss import CVSS3, CVSS4
from cvss.exceptions import CVSSError

from mamori.errors import InvalidInput


class Severity(StrEnum):
    """Vendor severity in the spirit of the MSRC rating system (DESIGN.md §5)."""

    CRITICAL = "critical"
    IMPORTANT = "important"
    MODERATE = "moderate"
    LOW = "low"

    @property
    def label(self) -> str:
        return self.value.capitalize()


@dataclass(frozen=True)
class CvssScore:
    """A vector as the ``cvss`` library scored it.

    ``base_score``/``base_severity`` are the base metrics' score and rating. ``score`` is the score
    the vector as a whole gives: for v3 the environmental score when environmental metrics are
    present, else the temporal one (both equal the base score when those metrics are absent); for
    v4 the single CVSS-B/BT/BE/BTE score, named by ``nomenclature``.
    """

    vector: str
    version: str
    base_score: float
    base_severity: str
    score: float = 0.0
    severity: str = ""
    nomenclature: str = ""


_V4_THREAT = frozenset({"E"})
_V4_ENVIRONMENTAL = frozenset(
    {"CR", "IR", "AR", "MAV", "MAC", "MAT", "MPR", "MUI", "MVC", "MVI", "MVA", "MSC", "MSI", "MSA"}
)


def _v4_nomenclature(metrics: dict[str, str]) -> str:
    """FIRST's names for what a v4 score covers (CVSS v4.0 specification, section 1.3)."""
    given = {k for k, v in metrics.items() if v != "X"}
    threat = bool(given & _V4_THREAT)
    environmental = bool(given & _V4_ENVIRONMENTAL)
    return "CVSS-B" + ("T" if threat else "") + ("E" if environmental else "")


_V4_BASE = ("AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA")


def _v4_base_vector(metrics: dict[str, str]) -> str:
    return "CVSS:4.0/" + "/".join(f"{m}:{metrics[m]}" for m in _V4_BASE)


def _v3_nomenclature(v3: CVSS3) -> str:
    given = {k for k, v in v3.original_metrics.items() if v != "X"}
    if given & {"CR", "IR", "AR", "MAV", "MAC", "MPR", "MUI", "MS", "MC", "MI", "MA"}:
        return "environmental"
    if given & {"E", "RL", "RC"}:
        return "temporal"
    return "base"


def parse_cvss(vector: str) -> CvssScore:
    """Validate a CVSS v3.x or v4.0 vector and return its base score, or raise ``InvalidInput``."""
    text = vector.strip()
    try:
        if text.startswith("CVSS:4.0/"):
            v4 = CVSS4(text)
            kind = _v4_nomenclature(v4.original_metrics)
            base = v4 if kind == "CVSS-B" else CVSS4(_v4_base_vector(v4.original_metrics))
            return CvssScore(
                v4.clean_vector(),
                "4.0",
                float(base.base_score),
                str(base.severity),
                float(v4.base_score),
                str(v4.severity),
                kind,
            )
        if text.startswith(("CVSS:3.0/", "CVSS:3.1/")):
            v3 = CVSS3(text)
            base, temporal, environmental = (float(x) for x in v3.scores())
            ratings = [str(x) for x in v3.severities()]
            kind = _v3_nomenclature(v3)
            overall, overall_rating = {
                "base": (base, ratings[0]),
                "temporal": (temporal, ratings[1]),
                "environmental": (environmental, ratings[2]),
            }[kind]
            return CvssScore(
                v3.clean_vector(), text[5:8], base, ratings[0], overall, overall_rating, kind
            )
    except CVSSError as exc:
        raise InvalidInput(f"invalid CVSS vector: {exc}", field="cvss_vector") from exc
    raise InvalidInput(
        "a CVSS vector starts with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/", field="cvss_vector"
    )
