"""The affected matrix: for each product version, is it affected, and what will be done.

The vocabulary is VEX's (CISA's minimum requirements, as CSAF 2.0 and OpenVEX carry it), so the
matrix becomes advisories without translation: a version is *affected*, *not affected* — always
with a justification — or *under investigation*. An affected version has a planned resolution.
A version of the reported product that is still supported and has no answer yet counts as under
investigation; the gate into development waits until none is left.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from mamori.errors import InvalidInput


class Affectedness(StrEnum):
    AFFECTED = "affected"
    NOT_AFFECTED = "not_affected"
    UNDER_INVESTIGATION = "under_investigation"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Justification(StrEnum):
    """Why a version is not affected (the VEX justifications, CSAF 2.0 §3.2.3.5 flags)."""

    COMPONENT_NOT_PRESENT = "component_not_present"
    VULNERABLE_CODE_NOT_PRESENT = "vulnerable_code_not_present"
    VULNERABLE_CODE_NOT_IN_EXECUTE_PATH = "vulnerable_code_not_in_execute_path"
    VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY = (
        "vulnerable_code_cannot_be_controlled_by_adversary"
    )
    INLINE_MITIGATIONS_ALREADY_EXIST = "inline_mitigations_already_exist"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Resolution(StrEnum):
    FIX = "fix"
    DEFER = "defer"
    WONT_FIX = "wont_fix"
    END_OF_LIFE = "end_of_life"

    @property
    def label(self) -> str:
        return {
            Resolution.FIX: "Fix",
            Resolution.DEFER: "Defer",
            Resolution.WONT_FIX: "Won't fix",
            Resolution.END_OF_LIFE: "End of life",
        }[self]


class VariantResult(StrEnum):
    """The outcome of checking another product or version for the same flaw."""

    PENDING = "pending"
    AFFECTED = "affected"
    NOT_AFFECTED = "not_affected"
    INCONCLUSIVE = "inconclusive"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True)
class RowInput:
    status: Affectedness
    justification: Justification | None = None
    resolution: Resolution | None = None


def _choice(kind: type[E], value: str, name: str, problems: dict[str, str]) -> E | None:
    text = value.strip().lower()
    if not text:
        return None
    found = kind._value2member_map_.get(text)
    if found is None:
        problems[name] = f"must be one of {', '.join(m.value for m in kind)}"
        return None
    return kind(text)


def parse_row(status: str, justification: str = "", resolution: str = "") -> RowInput:
    """Validate one matrix row; every problem is reported at once."""
    problems: dict[str, str] = {}
    state = _choice(Affectedness, status, "status", problems)
    if state is None and "status" not in problems:
        problems["status"] = "is required"
    why = _choice(Justification, justification, "justification", problems)
    plan = _choice(Resolution, resolution, "resolution", problems)
    if state is Affectedness.NOT_AFFECTED and why is None and "justification" not in problems:
        problems["justification"] = "a version that is not affected needs a VEX justification"
    if state is not Affectedness.NOT_AFFECTED and why is not None:
        problems["justification"] = "only a version that is not affected has a justification"
    if state is not Affectedness.AFFECTED and plan is not None:
        problems["resolution"] = "only an affected version has a planned resolution"
    if problems:
        raise InvalidInput(problems)
    assert state is not None
    return RowInput(state, why, plan)


@dataclass(frozen=True)
class VersionStatus:
    label: str  # "product version", for messages
    supported: bool  # supported or in extended support
    status: Affectedness  # UNDER_INVESTIGATION when the version has no row yet


def open_investigations(versions: Iterable[VersionStatus]) -> list[str]:
    """The supported versions still under investigation: the gate into development lists them."""
    return [
        v.label for v in versions if v.supported and v.status is Affectedness.UNDER_INVESTIGATION
    ]
