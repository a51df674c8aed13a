from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from mamori.accounts import services
from mamori.core.authz import GRANTS

router = Router(tags=["accounts"])


class MeOut(Schema):
    username: str
    role: str
    organisation: str
    permissions: list[str]


@router.get("/me", response=MeOut)
def me(request: HttpRequest) -> MeOut:
    role = services.role_of(request.user)
    user = request.user
    return MeOut(
        username=user.get_username(),
        role=role.value,
        organisation=getattr(user, "organisation", ""),
        permissions=sorted(a.value for a in GRANTS[role]),
    )
