"""Who may do what: roles, actions and the one grant table.

Visibility (which cases a user can see at all) is decided separately, by ``CASE_VISIBILITY``;
a user who cannot see a case gets "not found", never "forbidden", so the existence of an embargoed
case is not revealed.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    ANALYST = "analyst"
    PRODUCT_ENGINEER = "product_engineer"
    RELEASE_MANAGER = "release_manager"
    AUDITOR = "auditor"
    REPORTER = "reporter"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def is_internal(self) -> bool:
        return self is not Role.REPORTER


class Action(StrEnum):
    CASE_CREATE = "case.create"
    CASE_VIEW_INTERNAL = "case.view_internal"  # internal state, notes, audit trail
    CASE_EDIT = "case.edit"
    CASE_TRIAGE = "case.triage"  # triage, reproduce, confirm, side exits, hand to a team
    CASE_DEVELOP = "case.develop"  # private builds, testing, the rework loop
    CASE_RELEASE = "case.release"  # release trains, publishing, advance notification
    CASE_CLOSE = "case.close"
    CASE_SET_FLAG = "case.set_flag"
    MESSAGE_POST = "message.post"  # the thread with the reporter
    NOTE_POST = "note.post"  # internal notes
    ASSESSMENT_EDIT = "assessment.edit"  # CVSS, impact, severity override, exploitation, SSVC
    MATRIX_EDIT = "matrix.edit"  # affected matrix and variant checks (engineers: own products)
    THREAT_IMPORT = "threat.import"  # CISA KEV and FIRST EPSS imports
    ADVISORY_EDIT = "advisory.edit"  # the public texts of advisories; early mitigation advisories
    CATALOGUE_VIEW = "catalogue.view"
    CATALOGUE_MANAGE = "catalogue.manage"
    USER_MANAGE = "user.manage"


class Visibility(StrEnum):
    ALL = "all"  # every case
    TEAM = "team"  # cases owned by, or affecting products of, one of the user's teams
    OWN = "own"  # cases the user reported


_INTERNAL_READ = frozenset({Action.CASE_VIEW_INTERNAL, Action.CATALOGUE_VIEW})

GRANTS: Mapping[Role, frozenset[Action]] = {
    Role.ADMINISTRATOR: frozenset(Action),
    Role.ANALYST: _INTERNAL_READ
    | {
        Action.CASE_CREATE,
        Action.CASE_EDIT,
        Action.CASE_TRIAGE,
        Action.CASE_DEVELOP,
        Action.CASE_CLOSE,
        Action.CASE_SET_FLAG,
        Action.MESSAGE_POST,
        Action.NOTE_POST,
        Action.CATALOGUE_MANAGE,
        Action.ASSESSMENT_EDIT,
        Action.MATRIX_EDIT,
        Action.THREAT_IMPORT,
        Action.ADVISORY_EDIT,
    },
    Role.PRODUCT_ENGINEER: _INTERNAL_READ
    | {Action.CASE_EDIT, Action.CASE_DEVELOP, Action.NOTE_POST, Action.MATRIX_EDIT},
    Role.RELEASE_MANAGER: _INTERNAL_READ
    | {
        Action.CASE_RELEASE,
        Action.CASE_CLOSE,
        Action.CASE_SET_FLAG,
        Action.NOTE_POST,
        Action.ADVISORY_EDIT,
    },
    Role.AUDITOR: _INTERNAL_READ,
    Role.REPORTER: frozenset({Action.CASE_CREATE, Action.MESSAGE_POST}),
}

CASE_VISIBILITY: Mapping[Role, Visibility] = {
    Role.ADMINISTRATOR: Visibility.ALL,
    Role.ANALYST: Visibility.ALL,
    Role.PRODUCT_ENGINEER: Visibility.TEAM,
    Role.RELEASE_MANAGER: Visibility.ALL,
    Role.AUDITOR: Visibility.ALL,
    Role.REPORTER: Visibility.OWN,
}


def allows(role: Role, action: Action) -> bool:
    """True when ``role`` is granted ``action`` (scope is checked separately)."""
    return action in GRANTS[role]
