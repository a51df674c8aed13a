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
    def rank(self) -> int:
        """1 for the most urgent; used to order the triage queue."""
        return _RANK[self]

    @property
    def label(self) -> str:
        return self.value.capitalize()


_RANK = {Severity.CRITICAL: 1, Severity.IMPORTANT: 2, Severity.MODERATE: 3, Severity.LOW: 4}
UNRATED_RANK = 5


@dataclass(frozen=True)
class CvssScore:
    vector: str
    version: str
    base_score: float
    base_severity: str


def parse_cvss(vector: str) -> CvssScore:
    """Validate a CVSS v3.x or v4.0 vector and return its base score, or raise ``InvalidInput``."""
    text = vector.strip()
    try:
        if text.startswith("CVSS:4.0/"):
            v4 = CVSS4(text)
            return CvssScore(v4.clean_vector(), "4.0", float(v4.base_score), str(v4.severity))
        if text.startswith(("CVSS:3.0/", "CVSS:3.1/")):
            v3 = CVSS3(text)
            return CvssScore(
                v3.clean_vector(), text[5:8], float(v3.base_score), str(v3.severities()[0])
            )
    except CVSSError as exc:
        raise InvalidInput(f"invalid CVSS vector: {exc}", field="cvss_vector") from exc
    raise InvalidInput(
        "a CVSS vector starts with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/", field="cvss_vector"
    )
