from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest

from mamori.accounts.models import User
from mamori.cases import services as cases
from mamori.core.authz import Role
from mamori.core.workflow import StepInput
from mamori.products import services as catalogue
from tests import factories

BUILD = b"\x1f\x8b\x08\x00 a private build of the fix"
BUILD_SHA = hashlib.sha256(BUILD).hexdigest()
LINK_SHA = "ab" * 32


@pytest.fixture(autouse=True)
def _files(settings, tmp_path) -> None:
    """Each test stores its files in a directory of its own, so it can see what it left."""
    settings.MEDIA_ROOT = tmp_path
    default = {"location": str(tmp_path), "base_url": None}
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": default},
    }


@pytest.fixture
def engineer(db: None) -> User:
    return factories.user(Role.PRODUCT_ENGINEER, "engineer-web")


@pytest.fixture
def world(admin: User, engineer: User) -> SimpleNamespace:
    """The portal (versions 2.x and 1.x) of the web team, whose engineer works on the case; the
    billing product (3.0) of another team. The case is rated, its matrix answered, and it is in
    development."""
    web = factories.team(admin, "web-team", members=(engineer,))
    other = factories.team(admin, "billing-team")
    factories.product(admin, "portal", teams=(web,))
    factories.product(admin, "billing", teams=(other,))
    for name in ("2.x", "1.x"):
        catalogue.add_version(admin, "portal", catalogue.VersionDraft(name))
    catalogue.add_version(admin, "billing", catalogue.VersionDraft("3.0"))
    tid = factories.case(admin, "Stored XSS in the portal", products=("portal",))
    develop(admin, tid, web)
    return SimpleNamespace(case=tid, web=web, other=other)


def develop(admin: User, tid: str, team: str) -> None:
    """Take a case of the portal to the product team: rated, confirmed, matrix answered."""
    cases.update_case(admin, tid, cases.CaseChanges(owning_team=team, assignee=admin.username))
    factories.rate(admin, tid)
    for target in ("triage", "reproducing", "confirmed"):
        cases.transition(admin, tid, target, StepInput())
    factories.settle_matrix(admin, tid)
    cases.transition(admin, tid, "in_development", StepInput())
