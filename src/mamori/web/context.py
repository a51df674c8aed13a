from __future__ import annotations

from django.http import HttpRequest

from mamori import __version__
from mamori.accounts.services import can
from mamori.core.authz import Action


def mamori(request: HttpRequest) -> dict[str, object]:
    user = request.user
    internal = False
    manage = False
    if user.is_authenticated:
        internal = can(user, Action.CASE_VIEW_INTERNAL)
        manage = can(user, Action.CATALOGUE_MANAGE)
    return {"mamori_version": __version__, "is_internal": internal, "can_manage": manage}
