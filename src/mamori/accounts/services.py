"""Accounts: creating users, one-time passwords, API tokens, and the permission check."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from mamori.accounts.models import ApiToken, User
from mamori.core.authz import Action, Role, allows
from mamori.errors import (
    AuthenticationRequired,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)

TOKEN_PREFIX = "mamori_"  # noqa: S105 - a marker, not a secret

AnyUser = User | AnonymousUser


def role_of(user: AnyUser) -> Role:
    if not user.is_authenticated or not user.is_active:
        raise AuthenticationRequired("log in first")
    assert isinstance(user, User)
    return user.role_enum


def can(user: AnyUser, action: Action) -> bool:
    return user.is_authenticated and user.is_active and allows(role_of(user), action)


def require(user: AnyUser, action: Action) -> User:
    """Return ``user`` if their role grants ``action``; raise otherwise."""
    if not allows(role_of(user), action):
        raise PermissionDenied(f"your role may not {action.value.replace('.', ' ')}")
    assert isinstance(user, User)
    return user


def one_time_password() -> str:
    return secrets.token_urlsafe(15)


@transaction.atomic
def create_user(
    actor: AnyUser | None,
    *,
    username: str,
    role: Role,
    email: str = "",
    full_name: str = "",
    organisation: str = "",
) -> tuple[User, str]:
    """Create a user with a one-time password they must change at first login.

    ``actor`` is None only for ``mamori bootstrap``, which creates the first administrator.
    """
    if actor is not None:
        require(actor, Action.USER_MANAGE)
    username = username.strip()
    if not username or len(username) > 150:
        raise InvalidInput("required, at most 150 characters", field="username")
    first, _, last = full_name.strip().partition(" ")
    password = one_time_password()
    user = User(
        username=username,
        email=email.strip(),
        first_name=first[:150],
        last_name=last[:150],
        role=role.value,
        organisation=organisation.strip(),
        must_change_password=True,
        is_staff=role is Role.ADMINISTRATOR,
        is_superuser=role is Role.ADMINISTRATOR,
    )
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise Conflict(f"a user named {username!r} already exists") from None
    return user, password


def bootstrap_administrator(username: str, email: str = "") -> tuple[User, str]:
    """Create the first administrator; refused once any administrator exists."""
    if User.objects.filter(role=Role.ADMINISTRATOR.value).exists():
        raise Conflict("an administrator already exists; ask them to create your account")
    return create_user(None, username=username, role=Role.ADMINISTRATOR, email=email)


def password_changed(user: User) -> None:
    if user.must_change_password:
        user.must_change_password = False
        user.save(update_fields=["must_change_password"])


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


#: Channels an administrator may bind an intake token to.
INTAKE_SOURCES = frozenset({"coordinator", "support", "public", "customer"})


def issue_token(user: User, name: str, *, intake_source: str = "") -> str:
    """Create an API token for ``user`` and return it; it is shown once and stored hashed.

    ``intake_source`` binds the reports submitted with the token to a channel (a coordinator's
    organisation, internal support, ...): the submitter cannot claim another.
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("required, at most 100 characters", field="name")
    if intake_source and intake_source not in INTAKE_SOURCES:
        allowed = ", ".join(sorted(INTAKE_SOURCES))
        raise InvalidInput(f"must be one of {allowed}", field="intake_source")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(
        user=user, name=name, prefix=raw[:12], digest=_digest(raw), intake_source=intake_source
    )
    return raw


def token_for(raw: str) -> ApiToken | None:
    """The live token (of an active user) a bearer string stands for, or None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=_digest(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


def user_for_token(raw: str) -> User | None:
    """The active user a bearer token belongs to, or None."""
    token = token_for(raw)
    return None if token is None else token.user


def find_user(username: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def internal_users() -> list[User]:
    """Active members of the response and product teams (candidates for assignment)."""
    return list(
        User.objects.filter(is_active=True).exclude(role=Role.REPORTER.value).order_by("username")
    )
