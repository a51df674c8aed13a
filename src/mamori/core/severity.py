"""Vendor severity from a case's impact fields: the documented rules (DESIGN.md §5).

The scale follows the MSRC rating system. The rules run in order and the first that decides wins;
the last rule may then lower the result one level:

1. **minimal** — the impact is minimal (for example, disclosure of information that is not
   sensitive): *Low*, and the remaining rules do not apply.
2. **critical** — exploitation could allow code execution without user action (the class that
   worms exploit): *Critical*.
3. **by impact** — code execution that needs the user to act, elevation of privilege, information
   disclosure, tampering and denial of service compromise the confidentiality, integrity or
   availability of users' data or resources: *Important*. Spoofing and security feature bypass:
   *Moderate*.
4. **mitigated** — the impact is reduced by the default configuration, by auditing, or by the
   difficulty of exploitation: one level lower (never below *Low*).

An analyst may override the result; the override and its reason are kept beside the derived rating,
never in its place, so both stay visible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from mamori.core.rating import Severity
from mamori.errors import InvalidInput


class Impact(StrEnum):
    CODE_EXECUTION = "code_execution"
    ELEVATION_OF_PRIVILEGE = "elevation_of_privilege"
    INFORMATION_DISCLOSURE = "information_disclosure"
    TAMPERING = "tampering"
    DENIAL_OF_SERVICE = "denial_of_service"
    SPOOFING = "spoofing"
    SECURITY_FEATURE_BYPASS = "security_feature_bypass"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Mitigation(StrEnum):
    NONE = "none"
    DEFAULT_CONFIGURATION = "default_configuration"
    AUDITING = "auditing"
    DIFFICULTY = "difficulty"

    @property
    def label(self) -> str:
        return {
            Mitigation.NONE: "None",
            Mitigation.DEFAULT_CONFIGURATION: "Default configuration",
            Mitigation.AUDITING: "Auditing",
            Mitigation.DIFFICULTY: "Difficulty of exploitation",
        }[self]


@dataclass(frozen=True)
class ImpactFields:
    impact: Impact
    user_action_required: bool = False
    minimal_impact: bool = False
    mitigation: Mitigation = Mitigation.NONE


@dataclass(frozen=True)
class SeverityRating:
    """The derived severity and, in order, the rules that produced it."""

    severity: Severity
    rules: tuple[str, ...]


_IMPORTANT = frozenset(
    {
        Impact.CODE_EXECUTION,
        Impact.ELEVATION_OF_PRIVILEGE,
        Impact.INFORMATION_DISCLOSURE,
        Impact.TAMPERING,
        Impact.DENIAL_OF_SERVICE,
    }
)
_LOWER = {
    Severity.CRITICAL: Severity.IMPORTANT,
    Severity.IMPORTANT: Severity.MODERATE,
    Severity.MODERATE: Severity.LOW,
    Severity.LOW: Severity.LOW,
}


def derive_severity(fields: ImpactFields) -> SeverityRating:
    if fields.minimal_impact:
        return SeverityRating(Severity.LOW, ("minimal: the impact is minimal → Low",))
    if fields.impact is Impact.CODE_EXECUTION and not fields.user_action_required:
        severity = Severity.CRITICAL
        rules = ["critical: code execution without user action → Critical"]
    elif fields.impact in _IMPORTANT:
        severity = Severity.IMPORTANT
        action = " with user action" if fields.impact is Impact.CODE_EXECUTION else ""
        rules = [
            f"by impact: {fields.impact.label.lower()}{action} compromises users' data or "
            "resources → Important"
        ]
    else:
        severity = Severity.MODERATE
        rules = [f"by impact: {fields.impact.label.lower()} → Moderate"]
    if fields.mitigation is not Mitigation.NONE:
        lowered = _LOWER[severity]
        rules.append(
            f"mitigated: {fields.mitigation.label.lower()} reduces the impact → {lowered.label}"
        )
        severity = lowered
    return SeverityRating(severity, tuple(rules))


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(value: object, name: str, problems: dict[str, str]) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text not in _FALSE:
        problems[name] = "must be true or false"
    return False


def parse_impact_fields(values: Mapping[str, object]) -> ImpactFields:
    """Impact fields from a form or a JSON body; every problem is reported at once."""
    problems: dict[str, str] = {}
    impact = Impact._value2member_map_.get(str(values.get("impact") or "").strip().lower())
    if impact is None:
        problems["impact"] = f"must be one of {', '.join(i.value for i in Impact)}"
    raw_mitigation = str(values.get("mitigation") or "none").strip().lower()
    mitigation = Mitigation._value2member_map_.get(raw_mitigation)
    if mitigation is None:
        problems["mitigation"] = f"must be one of {', '.join(m.value for m in Mitigation)}"
    user_action = _flag(values.get("user_action_required", False), "user_action_required", problems)
    minimal = _flag(values.get("minimal_impact", False), "minimal_impact", problems)
    if problems:
        raise InvalidInput(problems)
    assert isinstance(impact, Impact)
    assert isinstance(mitigation, Mitigation)
    return ImpactFields(impact, user_action, minimal, mitigation)
