"""The catalogue's only entry point for other apps, views and the API."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from mamori.accounts.models import User
from mamori.accounts.services import AnyUser, require
from mamori.core.authz import Action
from mamori.core.catalogue import (
    SupportStatus,
    check_slug,
    check_support,
    normalise_alias,
    normalise_purl,
)
from mamori.errors import Conflict, InvalidInput, NotFound
from mamori.products.models import Component, Product, ProductAlias, ProductVersion, Team


@dataclass(frozen=True)
class ProductDraft:
    slug: str
    name: str
    description: str = ""
    teams: tuple[str, ...] = ()


@dataclass(frozen=True)
class VersionDraft:
    name: str
    support_status: SupportStatus = SupportStatus.SUPPORTED
    support_ends_on: date | None = None
    released_on: date | None = None


def _name(value: str, field: str = "name", limit: int = 200) -> str:
    value = value.strip()
    if not value or len(value) > limit:
        raise InvalidInput(f"required, at most {limit} characters", field=field)
    return value


def _unique(what: str) -> Conflict:
    return Conflict(f"{what} already exists")


# Teams -------------------------------------------------------------------------------------


def list_teams(user: AnyUser) -> QuerySet[Team]:
    require(user, Action.CATALOGUE_VIEW)
    return Team.objects.prefetch_related("members")


def _is_slug(slug: str) -> bool:
    try:
        check_slug(slug)
    except InvalidInput:
        return False
    return True


def get_team(user: AnyUser, slug: str) -> Team:
    team = list_teams(user).filter(slug=slug).first() if _is_slug(slug) else None
    if team is None:
        raise NotFound(f"no team {slug!r}")
    return team


@transaction.atomic
def create_team(user: AnyUser, slug: str, name: str) -> Team:
    require(user, Action.CATALOGUE_MANAGE)
    try:
        with transaction.atomic():
            return Team.objects.create(slug=check_slug(slug), name=_name(name))
    except IntegrityError:
        raise _unique(f"a team {slug!r}") from None


@transaction.atomic
def set_membership(user: AnyUser, team_slug: str, username: str, member: bool) -> Team:
    require(user, Action.CATALOGUE_MANAGE)
    team = get_team(user, team_slug)
    person = User.objects.filter(username=username, is_active=True).first()
    if person is None:
        raise InvalidInput(f"no active user {username!r}", field="username")
    if not person.is_internal:
        raise InvalidInput("external reporters cannot join product teams", field="username")
    (team.members.add if member else team.members.remove)(person)
    return team


def team_ids_of(user: AnyUser) -> list[int]:
    if not user.is_authenticated:
        return []
    return list(Team.objects.filter(members=user).values_list("pk", flat=True))


def resolve_team(slug: str) -> Team:
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise InvalidInput(f"no team {slug!r}", field="owning_team")
    return team


# Products ----------------------------------------------------------------------------------


def list_products(user: AnyUser) -> QuerySet[Product]:
    require(user, Action.CATALOGUE_VIEW)
    return Product.objects.prefetch_related("teams", "versions", "components", "aliases").order_by(
        "name"
    )


def get_product(user: AnyUser, slug: str) -> Product:
    product = list_products(user).filter(slug=slug).first() if _is_slug(slug) else None
    if product is None:
        raise NotFound(f"no product {slug!r}")
    return product


def _teams(slugs: Iterable[str]) -> list[Team]:
    wanted = set(slugs)
    teams = list(Team.objects.filter(slug__in=wanted))
    unknown = wanted - {t.slug for t in teams}
    if unknown:
        raise InvalidInput(f"unknown teams: {', '.join(sorted(unknown))}", field="teams")
    return teams


@transaction.atomic
def create_product(user: AnyUser, draft: ProductDraft) -> Product:
    require(user, Action.CATALOGUE_MANAGE)
    teams = _teams(draft.teams)
    try:
        with transaction.atomic():
            product = Product.objects.create(
                slug=check_slug(draft.slug),
                name=_name(draft.name),
                description=draft.description.strip(),
            )
    except IntegrityError:
        raise _unique(f"a product {draft.slug!r}") from None
    product.teams.set(teams)
    return product


@transaction.atomic
def update_product(
    user: AnyUser,
    slug: str,
    *,
    name: str | None = None,
    description: str | None = None,
    teams: Iterable[str] | None = None,
) -> Product:
    require(user, Action.CATALOGUE_MANAGE)
    product = get_product(user, slug)
    if name is not None:
        product.name = _name(name)
    if description is not None:
        product.description = description.strip()
    product.save()
    if teams is not None:
        product.teams.set(_teams(teams))
    return product


@transaction.atomic
def add_version(user: AnyUser, slug: str, draft: VersionDraft) -> ProductVersion:
    require(user, Action.CATALOGUE_MANAGE)
    product = get_product(user, slug)
    check_support(draft.support_status, draft.support_ends_on)
    try:
        with transaction.atomic():
            return ProductVersion.objects.create(
                product=product,
                name=_name(draft.name, limit=100),
                support_status=draft.support_status.value,
                support_ends_on=draft.support_ends_on,
                released_on=draft.released_on,
            )
    except IntegrityError:
        raise _unique(f"version {draft.name!r} of {product.name}") from None


@transaction.atomic
def update_version(user: AnyUser, slug: str, name: str, draft: VersionDraft) -> ProductVersion:
    require(user, Action.CATALOGUE_MANAGE)
    version = ProductVersion.objects.filter(
        product__slug=get_product(user, slug).slug, name=name
    ).first()
    if version is None:
        raise NotFound(f"no version {name!r} of {slug!r}")
    check_support(draft.support_status, draft.support_ends_on)
    version.support_status = draft.support_status.value
    version.support_ends_on = draft.support_ends_on
    version.released_on = draft.released_on
    version.save()
    return version


@transaction.atomic
def add_component(user: AnyUser, slug: str, purl: str, name: str = "") -> Component:
    require(user, Action.CATALOGUE_MANAGE)
    product = get_product(user, slug)
    canonical = normalise_purl(purl)
    try:
        with transaction.atomic():
            return Component.objects.create(product=product, purl=canonical, name=name.strip())
    except IntegrityError:
        raise _unique(f"component {canonical!r} of {product.name}") from None


@transaction.atomic
def add_alias(user: AnyUser, slug: str, alias: str) -> ProductAlias:
    require(user, Action.CATALOGUE_MANAGE)
    product = get_product(user, slug)
    normalised = normalise_alias(alias)
    try:
        with transaction.atomic():
            return ProductAlias.objects.create(
                product=product, alias=_name(alias, "alias"), normalised=normalised
            )
    except IntegrityError:
        raise _unique(f"the alias {alias!r}") from None


def resolve_products(slugs: Iterable[str]) -> list[Product]:
    """Products by slug, for other apps; unknown slugs are an input error."""
    wanted = set(slugs)
    products = list(Product.objects.filter(slug__in=wanted))
    unknown = wanted - {p.slug for p in products}
    if unknown:
        raise InvalidInput(f"unknown products: {', '.join(sorted(unknown))}", field="products")
    return products


def match_products(text: str) -> list[Product]:
    """Products whose name, slug or alias appears in ``text`` as a whole word or phrase."""
    if not text.strip():
        return []
    haystack = normalise_alias(text)

    def mentioned(name: str) -> bool:
        return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", haystack) is not None

    return [
        product
        for product in Product.objects.prefetch_related("aliases").order_by("name")
        if any(
            mentioned(name)
            for name in (
                product.slug,
                normalise_alias(product.name),
                *(alias.normalised for alias in product.aliases.all()),
            )
        )
    ]


def product_terms() -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """For matching reports and public items: each product's slug, names and component purls."""
    return [
        (
            product.slug,
            (product.name, *(alias.alias for alias in product.aliases.all())),
            tuple(component.purl for component in product.components.all()),
        )
        for product in Product.objects.prefetch_related("aliases", "components").order_by("slug")
    ]


def versions_of(products: Iterable[Product]) -> list[ProductVersion]:
    """Every version of ``products``, for other apps (the affected matrix)."""
    return list(
        ProductVersion.objects.filter(product__in=list(products))
        .select_related("product")
        .order_by("product__name", "name")
    )


def resolve_version(product_slug: str, version_name: str) -> ProductVersion:
    """A version by product slug and name, for other apps; unknown ones are an input error."""
    version = (
        ProductVersion.objects.select_related("product")
        .filter(product__slug=product_slug.strip(), name=version_name.strip())
        .first()
    )
    if version is None:
        raise InvalidInput(
            f"no version {version_name[:100]!r} of product {product_slug[:63]!r}", field="version"
        )
    return version


def resolve_product(slug: str) -> Product:
    """A product by slug, for other apps; an unknown slug is an input error."""
    return resolve_products([slug.strip()])[0]


def product_ids_of(user: AnyUser) -> set[int]:
    """The products of the teams ``user`` belongs to."""
    return set(Product.objects.filter(teams__in=team_ids_of(user)).values_list("pk", flat=True))


def package_purls(slugs: Iterable[str]) -> dict[str, str]:
    """For each product slug, the package URL (without a version) of its first component."""
    found: dict[str, str] = {}
    for component in Component.objects.filter(product__slug__in=list(slugs)).select_related(
        "product"
    ):
        found.setdefault(component.product.slug, component.purl.split("@", 1)[0])
    return found
