from __future__ import annotations

from datetime import date

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from mamori.core.catalogue import SupportStatus
from mamori.products import services
from mamori.products.models import Product, ProductVersion, Team

router = Router(tags=["catalogue"])


class VersionIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    support_status: SupportStatus = SupportStatus.SUPPORTED
    support_ends_on: date | None = None
    released_on: date | None = None

    def draft(self) -> services.VersionDraft:
        return services.VersionDraft(
            self.name, self.support_status, self.support_ends_on, self.released_on
        )


class VersionUpdate(Schema):
    support_status: SupportStatus
    support_ends_on: date | None = None
    released_on: date | None = None


class VersionOut(Schema):
    name: str
    support_status: str
    support_ends_on: date | None
    released_on: date | None


class ComponentIn(Schema):
    purl: str = Field(min_length=1, max_length=500)
    name: str = Field("", max_length=200)


class ComponentOut(Schema):
    purl: str
    name: str


class AliasIn(Schema):
    alias: str = Field(min_length=1, max_length=200)


class ProductIn(Schema):
    slug: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    teams: list[str] = []


class ProductUpdate(Schema):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    teams: list[str] | None = None


class ProductOut(Schema):
    slug: str
    name: str
    description: str
    teams: list[str]
    versions: list[VersionOut]
    components: list[ComponentOut]
    aliases: list[str]


class TeamIn(Schema):
    slug: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=200)


class TeamOut(Schema):
    slug: str
    name: str
    members: list[str]


class MemberIn(Schema):
    username: str = Field(min_length=1, max_length=150)


def _product(p: Product) -> ProductOut:
    return ProductOut(
        slug=p.slug,
        name=p.name,
        description=p.description,
        teams=[t.slug for t in p.teams.all()],
        versions=[_version(v) for v in p.versions.all()],
        components=[ComponentOut(purl=c.purl, name=c.name) for c in p.components.all()],
        aliases=[a.alias for a in p.aliases.all()],
    )


def _version(v: ProductVersion) -> VersionOut:
    return VersionOut(
        name=v.name,
        support_status=v.support_status,
        support_ends_on=v.support_ends_on,
        released_on=v.released_on,
    )


def _team(t: Team) -> TeamOut:
    return TeamOut(slug=t.slug, name=t.name, members=[m.username for m in t.members.all()])


@router.get("/products", response=list[ProductOut])
def list_products(request: HttpRequest) -> list[ProductOut]:
    return [_product(p) for p in services.list_products(request.user)]


@router.post("/products", response={201: ProductOut})
def create_product(request: HttpRequest, body: ProductIn) -> Status[ProductOut]:
    draft = services.ProductDraft(body.slug, body.name, body.description, tuple(body.teams))
    product = services.create_product(request.user, draft)
    return Status(201, _product(services.get_product(request.user, product.slug)))


@router.get("/products/{slug}", response=ProductOut)
def get_product(request: HttpRequest, slug: str) -> ProductOut:
    return _product(services.get_product(request.user, slug))


@router.patch("/products/{slug}", response=ProductOut)
def update_product(request: HttpRequest, slug: str, body: ProductUpdate) -> ProductOut:
    services.update_product(
        request.user, slug, name=body.name, description=body.description, teams=body.teams
    )
    return _product(services.get_product(request.user, slug))


@router.post("/products/{slug}/versions", response={201: VersionOut})
def add_version(request: HttpRequest, slug: str, body: VersionIn) -> Status[VersionOut]:
    return Status(201, _version(services.add_version(request.user, slug, body.draft())))


@router.put("/products/{slug}/versions/{name}", response=VersionOut)
def update_version(request: HttpRequest, slug: str, name: str, body: VersionUpdate) -> VersionOut:
    draft = services.VersionDraft(name, body.support_status, body.support_ends_on, body.released_on)
    return _version(services.update_version(request.user, slug, name, draft))


@router.post("/products/{slug}/components", response={201: ComponentOut})
def add_component(request: HttpRequest, slug: str, body: ComponentIn) -> Status[ComponentOut]:
    component = services.add_component(request.user, slug, body.purl, body.name)
    return Status(201, ComponentOut(purl=component.purl, name=component.name))


@router.post("/products/{slug}/aliases", response={201: AliasIn})
def add_alias(request: HttpRequest, slug: str, body: AliasIn) -> Status[AliasIn]:
    return Status(201, AliasIn(alias=services.add_alias(request.user, slug, body.alias).alias))


@router.get("/teams", response=list[TeamOut])
def list_teams(request: HttpRequest) -> list[TeamOut]:
    return [_team(t) for t in services.list_teams(request.user)]


@router.post("/teams", response={201: TeamOut})
def create_team(request: HttpRequest, body: TeamIn) -> Status[TeamOut]:
    return Status(201, _team(services.create_team(request.user, body.slug, body.name)))


@router.post("/teams/{slug}/members", response=TeamOut)
def add_member(request: HttpRequest, slug: str, body: MemberIn) -> TeamOut:
    services.set_membership(request.user, slug, body.username, member=True)
    return _team(services.get_team(request.user, slug))


@router.delete("/teams/{slug}/members/{username}", response=TeamOut)
def remove_member(request: HttpRequest, slug: str, username: str) -> TeamOut:
    services.set_membership(request.user, slug, username, member=False)
    return _team(services.get_team(request.user, slug))
