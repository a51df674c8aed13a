"""Accounts: argon2 hashing, one-time passwords, tokens stored hashed."""

from __future__ import annotations

import hashlib

import pytest
from django.conf import settings
from django.contrib.auth import authenticate

from mamori.accounts import services
from mamori.accounts.models import ApiToken
from mamori.core.authz import Role
from mamori.errors import Conflict, InvalidInput, PermissionDenied
from tests import factories


def test_production_settings_hash_with_argon2_only() -> None:
    import mamori.settings as production

    assert production.PASSWORD_HASHERS == ["django.contrib.auth.hashers.Argon2PasswordHasher"]


@pytest.mark.argon2
@pytest.mark.django_db
def test_bootstrap_administrator_gets_an_argon2_one_time_password() -> None:
    assert settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    user, password = services.bootstrap_administrator("admin", "sec@example.org")
    assert user.password.startswith("argon2$")
    assert password not in user.password
    assert user.must_change_password and user.is_superuser and user.role == "administrator"
    assert authenticate(username="admin", password=password) == user
    with pytest.raises(Conflict):
        services.bootstrap_administrator("second")


@pytest.mark.django_db
def test_only_administrators_create_users(analyst) -> None:
    with pytest.raises(PermissionDenied):
        services.create_user(analyst, username="x", role=Role.ANALYST)
    with pytest.raises(InvalidInput):
        services.create_user(None, username="   ", role=Role.ANALYST)


@pytest.mark.django_db
def test_tokens_are_stored_hashed_and_can_be_revoked(analyst) -> None:
    raw = services.issue_token(analyst, "ci")
    stored = ApiToken.objects.get(user=analyst)
    assert raw not in (stored.digest, stored.prefix)
    assert stored.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert services.user_for_token(raw) == analyst
    assert services.user_for_token(raw + "x") is None
    assert services.user_for_token("not-a-token") is None
    stored.revoked_at = stored.created_at
    stored.save()
    assert services.user_for_token(raw) is None


@pytest.mark.django_db
def test_inactive_users_tokens_stop_working() -> None:
    user = factories.user(Role.ANALYST)
    raw = services.issue_token(user, "ci")
    user.is_active = False
    user.save()
    assert services.user_for_token(raw) is None
