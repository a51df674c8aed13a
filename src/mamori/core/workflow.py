"""The vulnerability case workflow (DESIGN.md §4) as data: states, steps, gates and flags.

A *step* moves a case from one state to another. Each step names the action a user needs
(``mamori.core.authz.Action``) and the requirements its gate checks. ``check_step`` either returns
the step or raises: ``IllegalTransition`` when the workflow has no such step, ``GateRefused``
listing every requirement still missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from mamori.core.authz import Action
from mamori.errors import GateRefused, IllegalTransition


class State(StrEnum):
    RECEIVED = "received"
    TRIAGE = "triage"
    REPRODUCING = "reproducing"
    CONFIRMED = "confirmed"
    IN_DEVELOPMENT = "in_development"
    IN_TESTING = "in_testing"
    READY_FOR_RELEASE = "ready_for_release"
    RELEASED = "released"
    CLOSED = "closed"
    NOT_A_VULNERABILITY = "not_a_vulnerability"
    DUPLICATE = "duplicate"
    NEEDS_INFO = "needs_info"
    SPAM = "spam"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def is_open(self) -> bool:
        return self not in _DONE

    @property
    def owes_response(self) -> bool:
        """While a case is in this state, a first response to its reporter (the SLA) is owed."""
        return self not in _DONE and self not in _ENDED_CONVERSATION


_DONE = frozenset({State.CLOSED, State.RELEASED})
_ENDED_CONVERSATION = frozenset({State.SPAM, State.DUPLICATE, State.NOT_A_VULNERABILITY})


class ReporterState(StrEnum):
    """What an external reporter is shown: never an internal state."""

    RECEIVED = "received"
    UNDER_INVESTIGATION = "under investigation"
    INFORMATION_REQUESTED = "information requested"
    FIX_IN_PROGRESS = "fix in progress"
    FIXED = "fixed"
    NOT_A_VULNERABILITY = "not a vulnerability"
    DUPLICATE = "duplicate"
    CLOSED = "closed"


REPORTER_VIEW: dict[State, ReporterState] = {
    State.RECEIVED: ReporterState.RECEIVED,
    State.TRIAGE: ReporterState.UNDER_INVESTIGATION,
    State.REPRODUCING: ReporterState.UNDER_INVESTIGATION,
    State.CONFIRMED: ReporterState.UNDER_INVESTIGATION,
    State.IN_DEVELOPMENT: ReporterState.FIX_IN_PROGRESS,
    State.IN_TESTING: ReporterState.FIX_IN_PROGRESS,
    State.READY_FOR_RELEASE: ReporterState.FIX_IN_PROGRESS,
    State.RELEASED: ReporterState.FIXED,
    State.CLOSED: ReporterState.CLOSED,
    State.NOT_A_VULNERABILITY: ReporterState.NOT_A_VULNERABILITY,
    State.DUPLICATE: ReporterState.DUPLICATE,
    State.NEEDS_INFO: ReporterState.INFORMATION_REQUESTED,
    State.SPAM: ReporterState.CLOSED,
}


class Flag(StrEnum):
    """Coordinated-disclosure flags (after CERT/CC's Vultron), each true from a recorded time."""

    V = "V"  # vendor aware
    F = "F"  # fix ready
    D = "D"  # fix deployed
    P = "P"  # public aware
    X = "X"  # exploit public
    A = "A"  # attacks observed

    @property
    def label(self) -> str:
        return _FLAG_LABELS[self]


_FLAG_LABELS = {
    Flag.V: "vendor aware",
    Flag.F: "fix ready",
    Flag.D: "fix deployed",
    Flag.P: "public aware",
    Flag.X: "exploit public",
    Flag.A: "attacks observed",
}

#: Flags that become true by themselves when a case enters a state.
FLAGS_ON_ENTRY: dict[State, frozenset[Flag]] = {
    State.RECEIVED: frozenset({Flag.V}),
    State.READY_FOR_RELEASE: frozenset({Flag.F}),
    State.RELEASED: frozenset({Flag.F, Flag.P}),
}


@dataclass(frozen=True)
class CaseFacts:
    """What a gate may look at: a snapshot of the case, taken by the caller."""

    state: State
    product_count: int = 0
    cvss_vector: str = ""
    severity: str = ""
    owning_team: str = ""
    assignee: str = ""
    # Supported versions of the reported products with no answer in the affected matrix yet.
    open_investigations: tuple[str, ...] = ()
    # The build that will ship (the case's latest private build, e.g. "build 2"; "" if none)
    # and whether a test run on exactly that build passed.
    shipping_build: str = ""
    shipping_build_passed: bool = False


@dataclass(frozen=True)
class StepInput:
    """What the user supplies with a step."""

    reason: str = ""
    duplicate_of: str = ""
    bug_reference: str = ""
    build_reference: str = ""
    release_reference: str = ""


@dataclass(frozen=True)
class Requirement:
    key: str
    message: str
    met: Callable[[CaseFacts, StepInput], bool]
    detail: Callable[[CaseFacts], str] | None = None  # what exactly is missing, if it helps

    def describe(self, facts: CaseFacts) -> str:
        return f"{self.message} ({self.detail(facts)})" if self.detail else self.message


def _reason(message: str) -> Requirement:
    return Requirement("reason", message, lambda _f, i: bool(i.reason.strip()))


PRODUCT = Requirement("product", "at least one affected product", lambda f, _i: f.product_count > 0)
CVSS = Requirement("cvss_vector", "a CVSS vector", lambda f, _i: bool(f.cvss_vector))
SEVERITY = Requirement("severity", "a severity rating", lambda f, _i: bool(f.severity))
TEAM = Requirement("owning_team", "an owning product team", lambda f, _i: bool(f.owning_team))
ASSIGNEE = Requirement("assignee", "an assignee", lambda f, _i: bool(f.assignee))
MATRIX = Requirement(
    "matrix",
    "no supported version of the reported product left under investigation in the affected matrix",
    lambda f, _i: not f.open_investigations,
    lambda f: (
        "still: "
        + ", ".join(f.open_investigations[:10])
        + (
            f" and {len(f.open_investigations) - 10} more"
            if len(f.open_investigations) > 10
            else ""
        )
    ),
)
ORIGINAL = Requirement(
    "duplicate_of", "the original case it duplicates", lambda _f, i: bool(i.duplicate_of.strip())
)
BUG = Requirement(
    "bug_reference",
    "where it was handed to the product team as a bug (bug reference)",
    lambda _f, i: bool(i.bug_reference.strip()),
)
BUILD = Requirement(
    "build_reference",
    "the private build under test (build reference)",
    lambda _f, i: bool(i.build_reference.strip()),
)
TESTED = Requirement(
    "tested",
    "a passed test run on the build that will ship",
    lambda f, _i: bool(f.shipping_build) and f.shipping_build_passed,
    lambda f: f.shipping_build or "no private build yet",
)
RELEASE = Requirement(
    "release_reference",
    "the release that ships the fix (release reference)",
    lambda _f, i: bool(i.release_reference.strip()),
)


@dataclass(frozen=True)
class Step:
    source: State
    target: State
    action: Action
    label: str
    requires: tuple[Requirement, ...] = ()
    is_rework: bool = False

    def missing(self, facts: CaseFacts, given: StepInput) -> list[Requirement]:
        return [req for req in self.requires if not req.met(facts, given)]

    @property
    def inputs(self) -> tuple[str, ...]:
        """The step inputs (``StepInput`` fields) a form for this step should offer."""
        return tuple(r.key for r in self.requires if r.key in StepInput.__dataclass_fields__)


def _side_exits(source: State) -> list[Step]:
    return [
        Step(
            source,
            State.NOT_A_VULNERABILITY,
            Action.CASE_TRIAGE,
            "Not a vulnerability: hand to the product team as a bug",
            (BUG, _reason("why it is not a vulnerability")),
        ),
        Step(source, State.DUPLICATE, Action.CASE_TRIAGE, "Duplicate of another case", (ORIGINAL,)),
        Step(
            source,
            State.NEEDS_INFO,
            Action.CASE_TRIAGE,
            "Ask the reporter for information",
            (_reason("what information is needed"),),
        ),
        Step(source, State.SPAM, Action.CASE_TRIAGE, "Spam"),
    ]


STEPS: tuple[Step, ...] = (
    Step(State.RECEIVED, State.TRIAGE, Action.CASE_TRIAGE, "Start triage"),
    # A report that plainly repeats another, or spam, needs no triage first.
    Step(
        State.RECEIVED,
        State.DUPLICATE,
        Action.CASE_TRIAGE,
        "Duplicate of another case",
        (ORIGINAL,),
    ),
    Step(State.RECEIVED, State.SPAM, Action.CASE_TRIAGE, "Spam"),
    Step(State.TRIAGE, State.REPRODUCING, Action.CASE_TRIAGE, "Reproduce", (ASSIGNEE,)),
    *_side_exits(State.TRIAGE),
    Step(
        State.REPRODUCING,
        State.CONFIRMED,
        Action.CASE_TRIAGE,
        "Confirm the vulnerability",
        (PRODUCT, CVSS, SEVERITY),
    ),
    *_side_exits(State.REPRODUCING),
    Step(
        State.NEEDS_INFO, State.TRIAGE, Action.CASE_TRIAGE, "Information received: back to triage"
    ),
    Step(
        State.NEEDS_INFO,
        State.CLOSED,
        Action.CASE_CLOSE,
        "Close without an answer",
        (_reason("why it is closed"),),
    ),
    Step(
        State.CONFIRMED,
        State.IN_DEVELOPMENT,
        Action.CASE_TRIAGE,
        "Hand to the product team",
        (TEAM, MATRIX),
    ),
    Step(
        State.IN_DEVELOPMENT,
        State.IN_TESTING,
        Action.CASE_DEVELOP,
        "Private build ready for testing",
        (BUILD,),
    ),
    Step(
        State.IN_TESTING,
        State.IN_DEVELOPMENT,
        Action.CASE_DEVELOP,
        "Tests failed: back to development",
        (_reason("what failed"),),
        is_rework=True,
    ),
    Step(
        State.IN_TESTING,
        State.READY_FOR_RELEASE,
        Action.CASE_DEVELOP,
        "All tests passed",
        (TESTED,),
    ),
    Step(
        State.READY_FOR_RELEASE,
        State.RELEASED,
        Action.CASE_RELEASE,
        "Released",
        (RELEASE,),
    ),
    Step(State.RELEASED, State.CLOSED, Action.CASE_CLOSE, "Close"),
    Step(State.NOT_A_VULNERABILITY, State.CLOSED, Action.CASE_CLOSE, "Close"),
    Step(State.DUPLICATE, State.CLOSED, Action.CASE_CLOSE, "Close"),
    Step(State.SPAM, State.CLOSED, Action.CASE_CLOSE, "Close"),
)

_BY_EDGE: dict[tuple[State, State], Step] = {(s.source, s.target): s for s in STEPS}
assert len(_BY_EDGE) == len(STEPS), "two steps share an edge"


def steps_from(state: State) -> Iterator[Step]:
    """The steps the workflow offers from ``state``, in a stable order."""
    return (step for step in STEPS if step.source is state)


def find_step(source: State, target: State) -> Step:
    try:
        return _BY_EDGE[(source, target)]
    except KeyError:
        raise IllegalTransition(
            f"a case cannot move from {source.value} to {target.value}"
        ) from None


def check_step(facts: CaseFacts, target: State, given: StepInput) -> Step:
    """Return the step to ``target`` if its gate passes; raise with everything missing if not."""
    step = find_step(facts.state, target)
    missing = step.missing(facts, given)
    if missing:
        raise GateRefused(target.value, [req.describe(facts) for req in missing])
    return step
