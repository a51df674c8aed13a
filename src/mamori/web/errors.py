"""The one mapping from ``mamori.errors`` to HTTP status codes, for the API and the UI."""

from __future__ import annotations

from mamori import errors

HTTP_STATUS: dict[type[errors.Error], int] = {
    errors.Error: 500,
    errors.ConfigurationError: 500,
    errors.InvalidInput: 422,
    errors.PayloadTooLarge: 413,
    errors.AuthenticationRequired: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.RateLimited: 429,
    errors.Conflict: 409,
    errors.ServiceUnavailable: 503,
    errors.VerificationFailed: 422,
    errors.InsufficientSpace: 507,
}


def http_status(error: errors.Error) -> int:
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500
