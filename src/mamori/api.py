"""The JSON API root: authentication, the error mapping, and each domain's router."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as SchemaError
from ninja.parser import Parser
from ninja.security import HttpBearer, django_auth
from ninja.types import DictStrAny

from mamori import __version__
from mamori.accounts.api import router as accounts_router
from mamori.accounts.services import token_for
from mamori.advisories.api import router as advisories_router
from mamori.assessment.api import router as assessment_router
from mamori.cases.api import router as cases_router
from mamori.errors import (
    AuthenticationRequired,
    Error,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from mamori.fixes.api import router as fixes_router
from mamori.intake.api import router as intake_router
from mamori.products.api import router as products_router
from mamori.releases.api import router as releases_router
from mamori.web.errors import http_status


class ObjectsOnly(Parser):
    """Request bodies are JSON objects; anything else is refused before a schema sees it."""

    def parse_body(self, request: HttpRequest) -> DictStrAny:
        body = super().parse_body(request)
        if not isinstance(body, dict):
            raise ValueError("the request body must be a JSON object")
        if _has_nul(body):
            raise ValueError("strings must not contain NUL characters")
        return body


def _has_nul(value: object) -> bool:
    """True if a NUL character hides anywhere in a parsed JSON value (databases refuse them)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class TokenAuth(HttpBearer):
    """``Authorization: Bearer mamori_…`` — tokens from ``mamori token create`` or the UI."""

    def authenticate(self, request: HttpRequest, token: str) -> object | None:
        found = token_for(token)
        if found is None:
            return None
        request.user = found.user
        request.api_token = found  # type: ignore[attr-defined]
        return found.user


api = NinjaAPI(
    title="Mamori API",
    version=__version__,
    description="Security response and update delivery.",
    auth=[TokenAuth(), django_auth],
    urls_namespace="api",
    parser=ObjectsOnly(),
)
api.add_router("/", accounts_router)
api.add_router("/", products_router)
api.add_router("/", cases_router)
api.add_router("/", assessment_router)
api.add_router("/", fixes_router)
api.add_router("/", intake_router)
api.add_router("/", releases_router)
api.add_router("/", advisories_router)


def _field(loc: list[object] | tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form", "file", "payload")]
    return ".".join(parts) or "body"


@api.exception_handler(Error)
def _mamori_error(request: HttpRequest, exc: Error) -> HttpResponse:
    response = api.create_response(request, exc.diagnostics(), status=http_status(exc))
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(SchemaError)
def _schema_error(request: HttpRequest, exc: SchemaError) -> HttpResponse:
    problems = {_field(e.get("loc", ())): str(e.get("msg", "invalid")) for e in exc.errors}
    return _mamori_error(request, InvalidInput(problems))


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _mamori_error(request, AuthenticationRequired("authentication required"))


_NINJA_REFUSALS: dict[int, type[Error]] = {
    401: AuthenticationRequired,
    403: PermissionDenied,  # e.g. a session-authenticated POST without a CSRF token
    404: NotFound,
}


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """Ninja's own refusals (an unparsable body, a CSRF failure), in the same shape as ours."""
    kind = _NINJA_REFUSALS.get(exc.status_code)
    error = kind(str(exc)) if kind else InvalidInput(str(exc), field="body")
    return api.create_response(request, error.diagnostics(), status=exc.status_code)
