"""Role x action matrix: every role can do exactly what the policy says, through the JSON API.

The expectations below are an independent statement of policy, written out by hand. They are
never derived from ``mamori.core.authz.GRANTS``: the point is to check the grant table (and the
code that enforces it) against them, so changing who may do what means changing this file too.

Status convention: allowed -> 2xx; not allowed but the user may see the case -> 403; the user
cannot see the case (or, for reporters, its internal parts) -> 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client

from mamori.accounts.models import User
from mamori.cases import services
from mamori.cases.models import Case, Message
from mamori.core.authz import CASE_VISIBILITY, GRANTS, Role
from mamori.core.workflow import State, StepInput, find_step
from mamori.products.models import Product, Team
from tests import factories

ADMIN, ANALYST, ENGINEER, RELEASE, AUDITOR, REPORTER = ROLES = (
    "administrator",
    "analyst",
    "product_engineer",
    "release_manager",
    "auditor",
    "reporter",
)

# The policy, written out by hand ----------------------------------------------------------------

#: Which actions each role is granted (DESIGN: the one grant table, restated independently).
EXPECTED_GRANTS: dict[str, set[str]] = {
    ADMIN: {
        "case.create",
        "case.view_internal",
        "case.edit",
        "case.triage",
        "case.develop",
        "case.release",
        "case.close",
        "case.set_flag",
        "message.post",
        "note.post",
        "catalogue.view",
        "catalogue.manage",
        "user.manage",
        "assessment.edit",
        "matrix.edit",
        "threat.import",
        "advisory.edit",
    },
    ANALYST: {
        "case.create",
        "case.view_internal",
        "case.edit",
        "case.triage",
        "case.develop",
        "case.close",
        "case.set_flag",
        "message.post",
        "note.post",
        "catalogue.view",
        "catalogue.manage",
        "assessment.edit",
        "matrix.edit",
        "threat.import",
        "advisory.edit",
    },
    ENGINEER: {
        "case.view_internal",
        "case.edit",
        "case.develop",
        "note.post",
        "catalogue.view",
        "matrix.edit",
    },
    RELEASE: {
        "case.view_internal",
        "case.release",
        "case.close",
        "case.set_flag",
        "note.post",
        "catalogue.view",
        "advisory.edit",
    },
    AUDITOR: {
        "case.view_internal",
        "catalogue.view",
    },
    REPORTER: {
        "case.create",
        "message.post",
    },
}

#: Which cases each role can see at all.
EXPECTED_VISIBILITY: dict[str, str] = {
    ADMIN: "all",
    ANALYST: "all",
    ENGINEER: "team",
    RELEASE: "all",
    AUDITOR: "all",
    REPORTER: "own",
}

#: The action each workflow step used below needs.
EXPECTED_STEP_ACTIONS: dict[tuple[str, str], str] = {
    ("received", "triage"): "case.triage",
    ("in_development", "in_testing"): "case.develop",
    ("ready_for_release", "released"): "case.release",
    ("released", "closed"): "case.close",
}

#: operation -> expected HTTP status per role, in the order of ``ROLES``:
#:            administrator, analyst, product_engineer, release_manager, auditor, reporter
EXPECTED: dict[str, tuple[int, int, int, int, int, int]] = {
    "view_case": (200, 200, 200, 200, 200, 200),
    "list_cases": (200, 200, 200, 200, 200, 200),
    "create_case": (201, 201, 403, 403, 403, 201),
    "edit_case": (200, 200, 200, 403, 403, 403),
    "step_triage": (200, 200, 403, 403, 403, 403),
    "step_develop": (200, 200, 200, 403, 403, 403),
    "step_release": (200, 403, 403, 200, 403, 403),
    "step_close": (200, 200, 403, 200, 403, 403),
    "post_message": (201, 201, 403, 403, 403, 201),
    "post_note": (201, 201, 201, 201, 403, 403),
    "read_notes": (200, 200, 200, 200, 200, 404),
    "read_audit": (200, 200, 200, 200, 200, 404),
    "read_timeline": (200, 200, 200, 200, 200, 404),
    "set_flag": (200, 200, 403, 200, 403, 403),
    "view_catalogue": (200, 200, 200, 200, 200, 403),
    "create_product": (201, 201, 403, 403, 403, 403),
    "create_team": (201, 201, 403, 403, 403, 403),
}

# The world each matrix test runs in -------------------------------------------------------------

CVSS = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"

#: The happy path through the workflow, with what each step needs.
PATH: tuple[tuple[State, StepInput], ...] = (
    (State.TRIAGE, StepInput()),
    (State.REPRODUCING, StepInput()),
    (State.CONFIRMED, StepInput()),
    (State.IN_DEVELOPMENT, StepInput()),
    (State.IN_TESTING, StepInput(build_reference="build-17")),
    (State.READY_FOR_RELEASE, StepInput()),  # a passed test run (factories.pass_tests)
    (State.RELEASED, StepInput(release_reference="2.4.1")),
    (State.CLOSED, StepInput()),
)


@dataclass
class World:
    admin: User
    users: dict[str, User]
    team: str
    product: str

    def case_in(self, state: State) -> str:
        """A case reported by the reporter, fully rated, moved by the admin to ``state``."""
        tracking_id = factories.case(self.users[REPORTER], title="Heap overflow in parser")
        services.update_case(
            self.admin,
            tracking_id,
            services.CaseChanges(
                products=(self.product,),
                owning_team=self.team,
                assignee=self.users[ANALYST].username,
            ),
        )
        factories.rate(self.admin, tracking_id, "important", CVSS)
        current = State.RECEIVED
        for target, given in PATH:
            if current is state:
                break
            if target is State.READY_FOR_RELEASE:
                factories.pass_tests(self.admin, tracking_id)  # a passed run moves the case
            else:
                services.transition(self.admin, tracking_id, target.value, given)
            current = target
        assert Case.objects.get(tracking_id=tracking_id).state == state.value
        return tracking_id


@pytest.fixture
def world(admin) -> World:
    users = {
        ADMIN: admin,
        ANALYST: factories.user(Role.ANALYST, "matrix-analyst"),
        ENGINEER: factories.user(Role.PRODUCT_ENGINEER, "matrix-engineer"),
        RELEASE: factories.user(Role.RELEASE_MANAGER, "matrix-release"),
        AUDITOR: factories.user(Role.AUDITOR, "matrix-auditor"),
        REPORTER: factories.user(Role.REPORTER, "matrix-reporter"),
    }
    team = factories.team(admin, "team-parsers", members=(users[ENGINEER],))
    product = factories.product(admin, "libparse", teams=(team,))
    return World(admin, users, team, product)


# Operations -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # "{tid}" is replaced by the case's tracking id
    state: State | None = State.RECEIVED  # the state the case is in first (None: no case)
    body: dict[str, object] | None = None
    #: A probe of the database that an allowed call changes and a refused call leaves alone.
    effect: Callable[[str], object] | None = None


def _state(tid: str) -> object:
    return Case.objects.get(tracking_id=tid).state


def _title(tid: str) -> object:
    return Case.objects.get(tracking_id=tid).title


def _flag_x(tid: str) -> object:
    return Case.objects.get(tracking_id=tid).exploit_public_at


def _count(model: type, **filters: object) -> Callable[[str], object]:
    return lambda _tid: model.objects.filter(**filters).count()  # type: ignore[attr-defined]


def _messages(kind: str) -> Callable[[str], object]:
    return lambda tid: Message.objects.filter(case__tracking_id=tid, kind=kind).count()


OPERATIONS: dict[str, Operation] = {
    "view_case": Operation("get", "/api/cases/{tid}"),
    "list_cases": Operation("get", "/api/cases"),
    "create_case": Operation(
        "post",
        "/api/cases",
        None,
        {"title": "Another report"},
        _count(Case),
    ),
    "edit_case": Operation(
        "patch", "/api/cases/{tid}", State.RECEIVED, {"title": "Renamed"}, _title
    ),
    "step_triage": Operation(
        "post", "/api/cases/{tid}/transitions", State.RECEIVED, {"target": "triage"}, _state
    ),
    "step_develop": Operation(
        "post",
        "/api/cases/{tid}/transitions",
        State.IN_DEVELOPMENT,
        {"target": "in_testing", "build_reference": "build-18"},
        _state,
    ),
    "step_release": Operation(
        "post",
        "/api/cases/{tid}/transitions",
        State.READY_FOR_RELEASE,
        {"target": "released", "release_reference": "2.4.2"},
        _state,
    ),
    "step_close": Operation(
        "post", "/api/cases/{tid}/transitions", State.RELEASED, {"target": "closed"}, _state
    ),
    "post_message": Operation(
        "post",
        "/api/cases/{tid}/messages",
        State.TRIAGE,
        {"body": "Thank you"},
        _messages("thread"),
    ),
    "post_note": Operation(
        "post",
        "/api/cases/{tid}/notes",
        State.TRIAGE,
        {"body": "Reproduced on 2.4"},
        _messages("note"),
    ),
    "read_notes": Operation("get", "/api/cases/{tid}/notes", State.TRIAGE),
    "read_audit": Operation("get", "/api/cases/{tid}/audit", State.TRIAGE),
    "read_timeline": Operation("get", "/api/cases/{tid}/timeline", State.TRIAGE),
    "set_flag": Operation(
        "post", "/api/cases/{tid}/flags", State.CONFIRMED, {"flag": "X"}, _flag_x
    ),
    "view_catalogue": Operation("get", "/api/products", None),
    "create_product": Operation(
        "post",
        "/api/products",
        None,
        {"slug": "libnew", "name": "Libnew"},
        _count(Product),
    ),
    "create_team": Operation(
        "post",
        "/api/teams",
        None,
        {"slug": "team-new", "name": "Team New"},
        _count(Team),
    ),
}


def call(client: Client, method: str, path: str, body: dict[str, object] | None = None):
    if method == "get":
        return client.get(path)
    return getattr(client, method)(path, data=body or {}, content_type="application/json")


MATRIX = [
    pytest.param(role, operation, status, id=f"{operation}-{role}")
    for operation, statuses in EXPECTED.items()
    for role, status in zip(ROLES, statuses, strict=True)
]


# Tests ----------------------------------------------------------------------------------------


def test_grant_table_matches_the_written_policy():
    actual = {role.value: {action.value for action in actions} for role, actions in GRANTS.items()}
    assert actual == EXPECTED_GRANTS
    visibility = {role.value: scope.value for role, scope in CASE_VISIBILITY.items()}
    assert visibility == EXPECTED_VISIBILITY


def test_workflow_steps_need_the_written_actions():
    actual = {
        (source, target): find_step(State(source), State(target)).action.value
        for source, target in EXPECTED_STEP_ACTIONS
    }
    assert actual == EXPECTED_STEP_ACTIONS


def test_matrix_covers_every_role_and_operation():
    assert set(EXPECTED) == set(OPERATIONS)
    assert {role.value for role in Role} == set(ROLES)


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "operation", "expected"), MATRIX)
def test_role_matrix(world, api_for, role, operation, expected):
    op = OPERATIONS[operation]
    tid = world.case_in(op.state) if op.state is not None else ""
    before = op.effect(tid) if op.effect else None

    response = call(api_for(world.users[role]), op.method, op.path.format(tid=tid), op.body)

    assert response.status_code == expected, response.content
    if op.effect is not None:
        after = op.effect(tid)
        if 200 <= expected < 300:
            assert after != before, f"{role} {operation}: allowed but nothing changed"
        else:
            assert after == before, f"{role} {operation}: refused but something changed"
    if operation == "list_cases":
        listed = {c["tracking_id"] for c in response.json()}
        assert tid in listed


# Product engineers see their teams' cases, and only those -----------------------------------


@pytest.fixture
def outsider(admin) -> User:
    """A product engineer in a team that neither owns the case nor any of its products."""
    engineer = factories.user(Role.PRODUCT_ENGINEER, "other-engineer")
    other_team = factories.team(admin, "team-ui", members=(engineer,))
    factories.product(admin, "webui", teams=(other_team,))
    return engineer


OUTSIDER_CALLS = [
    pytest.param("get", "", None, id="get-case"),
    pytest.param("patch", "", {"title": "Renamed"}, id="patch-case"),
    pytest.param("get", "/messages", None, id="get-messages"),
    pytest.param("get", "/notes", None, id="get-notes"),
    pytest.param("post", "/notes", {"body": "hello"}, id="post-note"),
    pytest.param("get", "/audit", None, id="get-audit"),
    pytest.param("get", "/timeline", None, id="get-timeline"),
    pytest.param("get", "/steps", None, id="get-steps"),
    pytest.param(
        "post",
        "/transitions",
        {"target": "in_testing", "build_reference": "b-1"},
        id="post-transition",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "suffix", "body"), OUTSIDER_CALLS)
def test_engineer_outside_the_team_gets_not_found(world, outsider, api_for, method, suffix, body):
    tid = world.case_in(State.IN_DEVELOPMENT)
    before = Case.objects.get(tracking_id=tid)

    response = call(api_for(outsider), method, f"/api/cases/{tid}{suffix}", body)

    assert response.status_code == 404, response.content
    assert response.json()["error"] == "not_found"
    after = Case.objects.get(tracking_id=tid)
    assert (after.state, after.title, after.updated_at) == (
        before.state,
        before.title,
        before.updated_at,
    )


@pytest.mark.django_db
def test_engineer_outside_the_team_does_not_list_the_case(world, outsider, api_for):
    tid = world.case_in(State.IN_DEVELOPMENT)

    response = api_for(outsider).get("/api/cases?include_done=true")

    assert response.status_code == 200
    assert tid not in {c["tracking_id"] for c in response.json()}
    assert tid in {
        c["tracking_id"] for c in api_for(world.users[ENGINEER]).get("/api/cases").json()
    }


@pytest.mark.django_db
def test_engineer_in_the_owning_team_sees_the_case(world, api_for):
    tid = world.case_in(State.IN_DEVELOPMENT)

    response = api_for(world.users[ENGINEER]).get(f"/api/cases/{tid}")

    assert response.status_code == 200
    assert response.json()["owning_team"] == world.team
    assert response.json()["state"] == "in_development"


@pytest.mark.django_db
def test_engineer_in_a_team_owning_an_affected_product_sees_the_case(admin, api_for):
    """Team visibility also covers cases that affect a team's product, before hand-over."""
    engineer = factories.user(Role.PRODUCT_ENGINEER, "product-side")
    team = factories.team(admin, "team-crypto", members=(engineer,))
    product = factories.product(admin, "libcrypt", teams=(team,))
    tid = factories.case(admin, title="Timing leak", products=(product,))
    hidden = factories.case(admin, title="Unrelated")

    client = api_for(engineer)

    assert client.get(f"/api/cases/{tid}").status_code == 200
    assert client.get(f"/api/cases/{hidden}").status_code == 404
    assert {c["tracking_id"] for c in client.get("/api/cases").json()} == {tid}
