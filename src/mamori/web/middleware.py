"""Request limits, the forced password change, and error pages for the UI."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve, reverse

from mamori.errors import (
    AuthenticationRequired,
    Error,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
)
from mamori.web.errors import http_status

Handler = Callable[[HttpRequest], HttpResponse]


class BodySizeLimitMiddleware:
    """Refuse a body over the limit with 413 before anything reads it.

    Multipart uploads may be as large as an attachment plus the form around it; other bodies are
    held to ``MAMORI_MAX_BODY_BYTES``.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"error": "invalid", "message": "bad Content-Length"}, status=400)
        limit = settings.MAMORI_MAX_BODY_BYTES
        if request.content_type == "multipart/form-data":
            limit += settings.MAMORI_MAX_ATTACHMENT_BYTES
        if length > limit:
            error = PayloadTooLarge(f"the request body is over {limit} bytes", field="body")
            return JsonResponse(error.diagnostics(), status=413)
        if any("\x00" in key + "".join(values) for key, values in request.GET.lists()):
            refused = InvalidInput("must not contain NUL characters", field="query")
            return JsonResponse(refused.diagnostics(), status=400)
        return self.get_response(request)


class ApiJsonErrorsMiddleware:
    """Django's own 404 and 405 answers under /api/ come as JSON, like every other API error."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        json_body = response.get("Content-Type", "").startswith("application/json")
        if (
            request.path.startswith("/api/")
            and response.status_code in (404, 405)
            and not json_body
        ):
            body = (
                NotFound(f"no API endpoint {request.path}").diagnostics()
                if response.status_code == 404
                else {"error": "method_not_allowed", "message": f"{request.method} is not allowed"}
            )
            refused = JsonResponse(body, status=response.status_code)
            if "Allow" in response:
                refused["Allow"] = response["Allow"]
            return refused
        return response


class PasswordChangeRequiredMiddleware:
    """A user with a one-time password must choose their own before anything else."""

    allowed = ("password_change", "password_change_done", "logout")

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if getattr(user, "must_change_password", False) and not self._exempt(request):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"error": "password_change_required", "message": "change your password"},
                    status=403,
                )
            return HttpResponseRedirect(reverse("password_change"))
        return self.get_response(request)

    def _exempt(self, request: HttpRequest) -> bool:
        if request.path.startswith("/static/"):
            return True
        try:
            return resolve(request.path_info).url_name in self.allowed
        except Resolver404:
            return False


class ErrorPageMiddleware:
    """Render ``mamori.errors.Error`` raised by a UI view as a page with the mapped status."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, Error):
            return None
        if isinstance(exception, AuthenticationRequired):
            return HttpResponseRedirect(f"{reverse('login')}?next={request.path}")
        status = http_status(exception)
        response = render(request, "web/error.html", {"error": exception}, status=status)
        if isinstance(exception, RateLimited):
            response["Retry-After"] = str(exception.retry_after)
        return response
