"""The one error tree of Mamori.

Every failure a user should hear about is an ``Error`` subclass carrying the message they should
see. The web layer maps the tree to HTTP status codes once (``mamori.web.errors``) and the CLI maps
it to exit codes once (``mamori.cli.main``); nothing else translates errors.

::

    Error
    ├── ConfigurationError          the server refuses to start
    ├── InvalidInput                a value failed validation (names the field)
    │   └── PayloadTooLarge         a body or an upload is over its limit
    ├── AuthenticationRequired      no (valid) credentials
    ├── PermissionDenied            known user, action not allowed
    ├── NotFound                    no such object, or not visible to this user
    ├── RateLimited                 too many requests from one address; try again later
    ├── ServiceUnavailable          a service Mamori depends on failed (e.g. CVE Services)
    │   └── ServiceFailed           a host service (systemctl …) failed during an update
    ├── VerificationFailed          a signature, hash, length or expiry check failed (update data)
    ├── InsufficientSpace           the disk filled up; nothing was changed
    └── Conflict                    the request clashes with the current state
        ├── IllegalTransition       the workflow has no such step from here
        ├── GateRefused             the step exists, but requirements are missing
        ├── NotApplicable           an update (or a delta's base) does not fit what is installed
        └── RolledBack              an update failed a check or a step and was undone
"""

from __future__ import annotations

from collections.abc import Sequence


class Error(Exception):
    """Root of every error Mamori raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def diagnostics(self) -> dict[str, object]:
        """A JSON-ready description of the error, for API bodies and logs."""
        return {"error": self.code, "message": self.message}


class ConfigurationError(Error):
    code = "configuration"


class InvalidInput(Error):
    """A value failed validation. ``problems`` maps field names to what is wrong with them."""

    code = "invalid"

    def __init__(self, problems: dict[str, str] | str, *, field: str = "") -> None:
        if isinstance(problems, str):
            problems = {field or "__all__": problems}
        self.problems = dict(problems)
        text = "; ".join(f"{name}: {problem}" for name, problem in self.problems.items())
        super().__init__(text)

    def diagnostics(self) -> dict[str, object]:
        return {
            "error": self.code,
            "message": self.message,
            "detail": [
                {"field": name, "problem": problem} for name, problem in self.problems.items()
            ],
        }


class PayloadTooLarge(InvalidInput):
    code = "too_large"


class AuthenticationRequired(Error):
    code = "unauthenticated"


class PermissionDenied(Error):
    code = "forbidden"


class NotFound(Error):
    code = "not_found"


class RateLimited(Error):
    """Too many submissions from one IP address or e-mail address in the current window."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def diagnostics(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message, "retry_after": self.retry_after}


class ServiceUnavailable(Error):
    """A service Mamori talks to (CVE Services, a mirror) did not answer usefully; try later."""

    code = "service_unavailable"


class ServiceFailed(ServiceUnavailable):
    """A service manager command (stop, start, restart) failed; the message carries its output."""

    code = "service_failed"


class VerificationFailed(Error):
    """Update data failed a check: a hash, a length, a signature, an expiry or a version.

    Raised for tampered payloads and for tampered, expired, replayed or mixed metadata. Nothing
    that failed verification is ever used, and nothing installed is touched.
    """

    code = "verification_failed"


class InsufficientSpace(Error):
    """The disk filled up (or would have) while staging; everything staged was removed."""

    code = "insufficient_space"


class Conflict(Error):
    code = "conflict"


class NotApplicable(Conflict):
    """An update that does not fit the install root: another product, another version, a missing
    prerequisite, another platform, or a delta whose base is not exactly what is installed."""

    code = "not_applicable"


class RolledBack(Conflict):
    """An update failed (a pre- or post-install check, a service, a step) and was undone: the
    install root holds exactly the version it held before."""

    code = "rolled_back"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class GateRefused(Conflict):
    """A workflow step whose gate found requirements missing; ``missing`` lists them."""

    code = "gate_refused"

    def __init__(self, target: str, missing: Sequence[str]) -> None:
        self.target = target
        self.missing = tuple(missing)
        super().__init__(f"cannot move to {target}: " + "; ".join(self.missing))

    def diagnostics(self) -> dict[str, object]:
        return {
            "error": self.code,
            "message": self.message,
            "target": self.target,
            "missing": list(self.missing),
        }
