"""Test data through the real services, so every object is made the way users make it."""

from __future__ import annotations

import itertools

from mamori.accounts.models import User
from mamori.accounts.services import create_user
from mamori.cases import services as cases
from mamori.core.authz import Role
from mamori.products import services as catalogue

_seq = itertools.count(1)


def user(role: Role = Role.ANALYST, username: str = "", **extra: str) -> User:
    made, _password = create_user(
        None, username=username or f"{role.value}{next(_seq)}", role=role, **extra
    )
    made.must_change_password = False
    made.save(update_fields=["must_change_password"])
    return made


def team(admin: User, slug: str = "", members: tuple[User, ...] = ()) -> str:
    slug = slug or f"team-{next(_seq)}"
    catalogue.create_team(admin, slug, slug.replace("-", " ").title())
    for member in members:
        catalogue.set_membership(admin, slug, member.username, member=True)
    return slug


def product(admin: User, slug: str = "", teams: tuple[str, ...] = ()) -> str:
    slug = slug or f"product-{next(_seq)}"
    catalogue.create_product(admin, catalogue.ProductDraft(slug, slug.title(), "", teams))
    return slug


def case(actor: User, title: str = "Overflow in parser", **draft: object) -> str:
    made = cases.create_case(actor, cases.CaseDraft(title=title, **draft))  # type: ignore[arg-type]
    return made.tracking_id
