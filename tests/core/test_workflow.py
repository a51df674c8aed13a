"""The workflow as data: reachability, reporter view, gates, side exits, rework and flags."""

from __future__ import annotations

import itertools
from collections import deque

import pytest

from mamori.core.authz import Action
from mamori.core.workflow import (
    FLAGS_ON_ENTRY,
    REPORTER_VIEW,
    STEPS,
    CaseFacts,
    Flag,
    ReporterState,
    State,
    StepInput,
    check_step,
    find_step,
    steps_from,
)
from mamori.errors import Conflict, GateRefused, IllegalTransition

SIDE_EXITS = {State.NOT_A_VULNERABILITY, State.DUPLICATE, State.NEEDS_INFO, State.SPAM}
INTERNAL_ONLY_NAMES = {
    "triage",
    "reproducing",
    "confirmed",
    "in_development",
    "in_testing",
    "ready_for_release",
    "needs_info",
    "spam",
}
EDGES = {(step.source, step.target) for step in STEPS}
CONFIRM_MISSING = ["at least one affected product", "a CVSS vector", "a severity rating"]
VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def _reachable_from(start: State) -> set[State]:
    seen = {start}
    todo = deque([start])
    while todo:
        for step in steps_from(todo.popleft()):
            if step.target not in seen:
                seen.add(step.target)
                todo.append(step.target)
    return seen


# The graph -----------------------------------------------------------------------------------


def test_every_state_is_reachable_from_received() -> None:
    assert _reachable_from(State.RECEIVED) == set(State)


@pytest.mark.parametrize("step", STEPS, ids=lambda s: f"{s.source}->{s.target}")
def test_every_step_starts_from_a_state_reachable_from_received(step) -> None:
    assert step.source in _reachable_from(State.RECEIVED)


def test_every_open_state_can_reach_closed() -> None:
    for state in State:
        assert State.CLOSED in _reachable_from(state), state


def test_closed_has_no_outgoing_steps() -> None:
    assert list(steps_from(State.CLOSED)) == []
    assert not any(step.source is State.CLOSED for step in STEPS)


def test_released_only_leads_to_closed() -> None:
    assert [step.target for step in steps_from(State.RELEASED)] == [State.CLOSED]


def test_no_step_loops_back_onto_its_own_state() -> None:
    assert all(step.source is not step.target for step in STEPS)


def test_steps_from_follows_the_order_of_steps() -> None:
    for state in State:
        assert list(steps_from(state)) == [step for step in STEPS if step.source is state]


def test_no_two_steps_share_an_edge() -> None:
    assert len(EDGES) == len(STEPS)


# What reporters see --------------------------------------------------------------------------


def test_every_internal_state_maps_to_a_reporter_state() -> None:
    assert set(REPORTER_VIEW) == set(State)
    assert all(isinstance(shown, ReporterState) for shown in REPORTER_VIEW.values())


@pytest.mark.parametrize("shown", list(ReporterState))
def test_reporter_states_never_use_internal_only_names(shown: ReporterState) -> None:
    assert shown.value not in INTERNAL_ONLY_NAMES
    assert shown.value.replace(" ", "_") not in INTERNAL_ONLY_NAMES


@pytest.mark.parametrize(
    ("state", "shown"),
    [
        (State.TRIAGE, ReporterState.UNDER_INVESTIGATION),
        (State.REPRODUCING, ReporterState.UNDER_INVESTIGATION),
        (State.IN_TESTING, ReporterState.FIX_IN_PROGRESS),
        (State.NEEDS_INFO, ReporterState.INFORMATION_REQUESTED),
        (State.SPAM, ReporterState.CLOSED),
        (State.RELEASED, ReporterState.FIXED),
    ],
)
def test_internal_states_are_translated_for_reporters(state: State, shown: ReporterState) -> None:
    assert REPORTER_VIEW[state] is shown


# Finding steps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (State.RECEIVED, State.RELEASED),
        (State.RECEIVED, State.CONFIRMED),
        (State.TRIAGE, State.CONFIRMED),
        (State.CLOSED, State.TRIAGE),
        (State.IN_TESTING, State.RELEASED),
        (State.RECEIVED, State.RECEIVED),
    ],
)
def test_find_step_refuses_steps_the_workflow_does_not_have(source: State, target: State) -> None:
    with pytest.raises(IllegalTransition) as caught:
        find_step(source, target)
    assert source.value in caught.value.message
    assert target.value in caught.value.message
    assert isinstance(caught.value, Conflict)
    assert not isinstance(caught.value, GateRefused)


def test_find_step_refuses_every_pair_outside_the_graph_and_finds_every_edge() -> None:
    for source, target in itertools.product(State, State):
        if (source, target) in EDGES:
            step = find_step(source, target)
            assert (step.source, step.target) == (source, target)
        else:
            with pytest.raises(IllegalTransition):
                find_step(source, target)


def test_check_step_refuses_an_illegal_step_before_looking_at_the_gate() -> None:
    with pytest.raises(IllegalTransition):
        check_step(CaseFacts(state=State.RECEIVED), State.RELEASED, StepInput())


# Gates ---------------------------------------------------------------------------------------


def test_confirming_with_nothing_lists_every_missing_requirement_at_once() -> None:
    with pytest.raises(GateRefused) as caught:
        check_step(CaseFacts(state=State.REPRODUCING), State.CONFIRMED, StepInput())
    assert caught.value.target == "confirmed"
    assert list(caught.value.missing) == CONFIRM_MISSING
    body = caught.value.diagnostics()
    assert body["error"] == "gate_refused"
    assert body["missing"] == CONFIRM_MISSING
    for text in CONFIRM_MISSING:
        assert text in caught.value.message


def test_confirming_with_some_inputs_lists_only_what_is_still_missing() -> None:
    facts = CaseFacts(state=State.REPRODUCING, product_count=2, severity="important")
    with pytest.raises(GateRefused) as caught:
        check_step(facts, State.CONFIRMED, StepInput())
    assert list(caught.value.missing) == ["a CVSS vector"]


def test_confirming_passes_once_everything_is_given() -> None:
    facts = CaseFacts(
        state=State.REPRODUCING, product_count=1, cvss_vector=VECTOR, severity="critical"
    )
    step = check_step(facts, State.CONFIRMED, StepInput())
    assert (step.source, step.target) == (State.REPRODUCING, State.CONFIRMED)
    assert step.action is Action.CASE_TRIAGE


def test_not_a_vulnerability_needs_both_bug_reference_and_reason() -> None:
    with pytest.raises(GateRefused) as caught:
        check_step(CaseFacts(state=State.TRIAGE), State.NOT_A_VULNERABILITY, StepInput())
    assert len(caught.value.missing) == 2
    assert "bug reference" in caught.value.missing[0]
    assert "why it is not a vulnerability" in caught.value.missing[1]
    given = StepInput(reason="works as designed", bug_reference="BUG-1")
    assert check_step(CaseFacts(state=State.TRIAGE), State.NOT_A_VULNERABILITY, given)


@pytest.mark.parametrize(
    ("facts", "target", "missing", "enough"),
    [
        (
            CaseFacts(state=State.TRIAGE),
            State.REPRODUCING,
            "an assignee",
            (CaseFacts(state=State.TRIAGE, assignee="7"), StepInput()),
        ),
        (
            CaseFacts(state=State.CONFIRMED),
            State.IN_DEVELOPMENT,
            "an owning product team",
            (CaseFacts(state=State.CONFIRMED, owning_team="3"), StepInput()),
        ),
        (
            CaseFacts(state=State.TRIAGE),
            State.DUPLICATE,
            "the original case it duplicates",
            (CaseFacts(state=State.TRIAGE), StepInput(duplicate_of="MAMORI-2026-0001")),
        ),
        (
            CaseFacts(state=State.IN_DEVELOPMENT),
            State.IN_TESTING,
            "the private build under test (build reference)",
            (CaseFacts(state=State.IN_DEVELOPMENT), StepInput(build_reference="build 42")),
        ),
        (
            CaseFacts(state=State.IN_TESTING),
            State.IN_DEVELOPMENT,
            "what failed",
            (CaseFacts(state=State.IN_TESTING), StepInput(reason="login still bypassable")),
        ),
        (
            CaseFacts(state=State.IN_TESTING),
            State.READY_FOR_RELEASE,
            "a passed test run on the build that will ship (no private build yet)",
            (
                CaseFacts(
                    state=State.IN_TESTING, shipping_build="build 1", shipping_build_passed=True
                ),
                StepInput(),
            ),
        ),
        (
            CaseFacts(state=State.READY_FOR_RELEASE),
            State.RELEASED,
            "the release that ships the fix (release reference)",
            (CaseFacts(state=State.READY_FOR_RELEASE), StepInput(release_reference="2.4.1")),
        ),
        (
            CaseFacts(state=State.NEEDS_INFO),
            State.CLOSED,
            "why it is closed",
            (CaseFacts(state=State.NEEDS_INFO), StepInput(reason="no answer in 90 days")),
        ),
    ],
    ids=lambda v: v.value if isinstance(v, State) else None,
)
def test_each_gate_refuses_without_its_requirement_and_passes_with_it(
    facts: CaseFacts, target: State, missing: str, enough: tuple[CaseFacts, StepInput]
) -> None:
    with pytest.raises(GateRefused) as caught:
        check_step(facts, target, StepInput())
    assert list(caught.value.missing) == [missing]
    assert caught.value.target == target.value
    step = check_step(enough[0], target, enough[1])
    assert step.target is target


@pytest.mark.parametrize(
    "facts",
    [
        CaseFacts(state=State.IN_TESTING, shipping_build="build 2"),
        CaseFacts(state=State.IN_TESTING, shipping_build="build 2", shipping_build_passed=False),
    ],
)
def test_ready_for_release_needs_a_passed_run_on_the_build_that_will_ship(
    facts: CaseFacts,
) -> None:
    """A test report typed as the reason no longer counts: only a passed run on the latest build."""
    given = StepInput(reason="all tests passed")
    with pytest.raises(GateRefused) as caught:
        check_step(facts, State.READY_FOR_RELEASE, given)
    assert list(caught.value.missing) == ["a passed test run on the build that will ship (build 2)"]
    assert find_step(State.IN_TESTING, State.READY_FOR_RELEASE).inputs == ()


def test_a_passed_run_without_a_build_to_ship_does_not_count() -> None:
    facts = CaseFacts(state=State.IN_TESTING, shipping_build_passed=True)
    with pytest.raises(GateRefused):
        check_step(facts, State.READY_FOR_RELEASE, StepInput())


@pytest.mark.parametrize("blank", ["   ", "\t\n"])
def test_blank_step_inputs_do_not_count(blank: str) -> None:
    with pytest.raises(GateRefused):
        check_step(CaseFacts(state=State.IN_TESTING), State.IN_DEVELOPMENT, StepInput(reason=blank))
    with pytest.raises(GateRefused):
        check_step(CaseFacts(state=State.TRIAGE), State.DUPLICATE, StepInput(duplicate_of=blank))


def test_steps_without_requirements_always_pass() -> None:
    assert check_step(CaseFacts(state=State.RECEIVED), State.TRIAGE, StepInput())
    assert check_step(CaseFacts(state=State.TRIAGE), State.SPAM, StepInput())


def test_step_inputs_are_only_what_the_user_supplies() -> None:
    assert find_step(State.REPRODUCING, State.CONFIRMED).inputs == ()
    assert find_step(State.TRIAGE, State.REPRODUCING).inputs == ()
    assert find_step(State.TRIAGE, State.NOT_A_VULNERABILITY).inputs == (
        "bug_reference",
        "reason",
    )
    assert find_step(State.IN_DEVELOPMENT, State.IN_TESTING).inputs == ("build_reference",)


# Side exits, rework and flags ----------------------------------------------------------------


#: A received report that plainly repeats another, or is spam, leaves without triage.
STRAIGHT_FROM_RECEIVED = {State.DUPLICATE, State.SPAM}


@pytest.mark.parametrize("target", sorted(SIDE_EXITS))
def test_side_exits_exist_from_triage_and_reproducing_and_some_from_received(
    target: State,
) -> None:
    sources = {step.source for step in STEPS if step.target is target}
    expected = {State.TRIAGE, State.REPRODUCING}
    if target in STRAIGHT_FROM_RECEIVED:
        expected.add(State.RECEIVED)
    assert sources == expected


@pytest.mark.parametrize("source", [State.TRIAGE, State.REPRODUCING])
def test_triage_and_reproducing_offer_every_side_exit(source: State) -> None:
    offered = {step.target for step in steps_from(source)}
    assert offered >= SIDE_EXITS


def test_side_exits_need_the_triage_permission() -> None:
    for step in STEPS:
        if step.target in SIDE_EXITS:
            assert step.action is Action.CASE_TRIAGE


def test_only_the_failed_test_step_is_rework() -> None:
    rework = [step for step in STEPS if step.is_rework]
    assert [(s.source, s.target) for s in rework] == [(State.IN_TESTING, State.IN_DEVELOPMENT)]
    assert find_step(State.IN_TESTING, State.IN_DEVELOPMENT).is_rework
    assert not find_step(State.IN_DEVELOPMENT, State.IN_TESTING).is_rework


def test_flags_on_entry() -> None:
    expected = {
        State.RECEIVED: frozenset({Flag.V}),
        State.READY_FOR_RELEASE: frozenset({Flag.F}),
        State.RELEASED: frozenset({Flag.F, Flag.P}),
    }
    assert dict(FLAGS_ON_ENTRY) == expected
    assert Flag.D not in set().union(*FLAGS_ON_ENTRY.values())


def test_every_flag_has_a_label() -> None:
    assert {flag.label for flag in Flag} == {
        "vendor aware",
        "fix ready",
        "fix deployed",
        "public aware",
        "exploit public",
        "attacks observed",
    }


def test_only_released_and_closed_count_as_done() -> None:
    assert {state for state in State if not state.is_open} == {State.RELEASED, State.CLOSED}
    assert State.IN_DEVELOPMENT.label == "In development"
