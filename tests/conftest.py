from __future__ import annotations

import pytest
from django.test import Client

from mamori.accounts.models import User
from mamori.core.authz import Role
from tests import factories


@pytest.fixture(autouse=True)
def _fast_passwords(request: pytest.FixtureRequest, settings) -> None:
    """Argon2 is deliberately slow; tests that create many users hash with MD5 instead.

    Tests marked ``argon2`` keep the production hasher (see tests/test_accounts.py).
    """
    if not request.node.get_closest_marker("argon2"):
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin(db: None) -> User:
    return factories.user(Role.ADMINISTRATOR, "root")


@pytest.fixture
def analyst(db: None) -> User:
    return factories.user(Role.ANALYST, "ana")


@pytest.fixture
def client_for():
    """A logged-in Django test client for a user (CSRF checks on, as in a browser)."""

    def make(user: User) -> Client:
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        return client

    return make


@pytest.fixture
def api_for(db: None):
    """A Django test client that authenticates to the API with a real bearer token."""
    from mamori.accounts.services import issue_token

    def make(user: User) -> Client:
        return Client(headers={"Authorization": f"Bearer {issue_token(user, 'test')}"})

    return make
