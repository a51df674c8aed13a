"""Mamori as a CVE Numbering Authority: reserving CVE ids and publishing records, through cvelib.

An adapter around ``cvelib.cve_api.CveApi`` (CVE Services API 2.x): it checks what it sends
against the CVE JSON 5.1 schema first (``core.cve.validate_container``), and turns what cvelib and
requests raise into ``mamori.errors`` with a message an operator can act on:

==============================================  ===========================================
CVE Services says                               Mamori raises
==============================================  ===========================================
401 (wrong user, organisation or API key)       ``ConfigurationError``: the CNA credentials
                                                Mamori is configured with are refused; the
                                                person asking is not at fault, so this is
                                                not ``AuthenticationRequired`` (which would
                                                read as *their* session having expired)
403 ``CVE_RECORD_EXISTS``                       ``Conflict`` (publish again → use update)
403 ``CVE_RECORD_DNE``, ``CVEID_DNE``, 404      ``NotFound``
other 403                                       ``PermissionDenied``
400 and other 4xx                               ``InvalidInput`` with the service's message
429                                             ``RateLimited`` (its ``Retry-After``, or 60 s)
5xx, no connection, timeout, not JSON           ``CveServicesUnavailable``
==============================================  ===========================================
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any, NoReturn

import requests
from cvelib.cve_api import CveApi

from mamori import __version__
from mamori.core import cve
from mamori.errors import (
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
)

_CVE_ID = re.compile(r"CVE-[0-9]{4}-[0-9]{4,}")
_NOT_FOUND = frozenset({"CVE_RECORD_DNE", "CVEID_DNE", "CVE_ID_NOT_FOUND"})
_DEFAULT_RETRY_AFTER = 60


class CveServicesUnavailable(ServiceUnavailable):
    """CVE Services could not be reached, or failed on its side; trying later may work."""

    code = "cve_services_unavailable"


class CnaClient:
    """The CNA's account in CVE Services: ``env`` is ``prod``, ``dev`` or ``test``, or ``url``
    names another API root (it must end in ``/``, as cvelib joins paths onto it)."""

    def __init__(
        self,
        *,
        username: str,
        org: str,
        api_key: str,
        env: str = "prod",
        url: str | None = None,
    ) -> None:
        try:
            self._api = CveApi(username=username, org=org, api_key=api_key, env=env, url=url)
        except ValueError:
            raise ConfigurationError(
                f"unknown CVE Services environment {env!r}: use prod, dev or test, or a URL"
            ) from None
        self.username = username
        self.org = org

    def reserve(self, count: int, year: int | str) -> list[str]:
        """Reserve ``count`` sequential CVE ids for ``year``; returns them in order."""
        if not 1 <= count <= 1000:
            raise InvalidInput("between 1 and 1000", field="count")
        if not re.fullmatch(r"[0-9]{4}", str(year)):
            raise InvalidInput("a four-digit year", field="year")
        response = self._call(lambda: self._api.reserve(count, False, str(year)))
        try:
            return [str(entry["cve_id"]) for entry in response["cve_ids"]]
        except (KeyError, TypeError) as exc:
            raise CveServicesUnavailable(
                f"CVE Services answered the reservation without CVE ids ({exc!r})"
            ) from None

    def publish(self, cve_id: str, container: dict[str, Any]) -> dict[str, Any]:
        """Publish the CNA container of a reserved id; returns the record as created."""
        body = self._checked(cve_id, container)
        response = self._call(lambda: self._api.publish(cve_id, body, validate=False))
        return self._record(response, "created")

    def update(self, cve_id: str, container: dict[str, Any]) -> dict[str, Any]:
        """Replace the CNA container of a published record; returns the record as updated."""
        body = self._checked(cve_id, container)
        response = self._call(lambda: self._api.update_published(cve_id, body, validate=False))
        return self._record(response, "updated")

    def _checked(self, cve_id: str, container: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``container`` naming Mamori as its generator, or ``InvalidInput`` listing
        every schema problem (nothing invalid is ever sent)."""
        if not _CVE_ID.fullmatch(cve_id):
            raise InvalidInput("a CVE id such as CVE-2026-12345", field="cve_id")
        body = copy.deepcopy(container)
        body.setdefault("x_generator", {"engine": f"Mamori {__version__}"})
        problems = cve.validate_container(body)
        if problems:
            raise InvalidInput("; ".join(problems), field="container")
        return body

    def _record(self, response: Any, key: str) -> dict[str, Any]:
        record = response.get(key) if isinstance(response, dict) else None
        if not isinstance(record, dict):
            raise CveServicesUnavailable(f"CVE Services answered without the {key} record")
        return record

    def _call(self, request: Callable[[], Any]) -> Any:
        try:
            return request()
        except requests.HTTPError as exc:
            self._refuse(exc.response)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise CveServicesUnavailable(
                f"CVE Services at {self._api.url} cannot be reached: {type(exc).__name__}"
            ) from exc
        except (requests.RequestException, ValueError) as exc:
            raise CveServicesUnavailable(
                f"CVE Services at {self._api.url} gave an unreadable answer: {exc}"
            ) from exc

    def _refuse(self, response: requests.Response | None) -> NoReturn:
        """Raise the ``mamori.errors`` counterpart of an HTTP error answer."""
        status = response.status_code if response is not None else 0
        code, message = _error_body(response)
        said = f"CVE Services: {message}" + (f" ({code})" if code else "")
        if status == 401:
            raise ConfigurationError(
                f"CVE Services refused the CNA credentials of user {self.username!r} "
                f"of organisation {self.org!r}; check the configured API key ({said})"
            )
        if status == 403 and code == "CVE_RECORD_EXISTS":
            raise Conflict(f"{said}; update the published record instead")
        if status == 404 or code in _NOT_FOUND:
            raise NotFound(said)
        if status == 403:
            raise PermissionDenied(said)
        if status == 429:
            raise RateLimited(said, retry_after=_retry_after(response))
        if 400 <= status < 500:
            raise InvalidInput(said, field="cve_services")
        raise CveServicesUnavailable(f"{said} (HTTP {status})")


def _error_body(response: requests.Response | None) -> tuple[str, str]:
    """The ``error`` code and ``message`` of a CVE Services error body, when it has one."""
    if response is None:
        return "", "no answer"
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return "", f"HTTP {response.status_code} {response.reason}"
    code = str(body.get("error") or "")
    message = str(body.get("message") or f"HTTP {response.status_code} {response.reason}")
    details = body.get("details")
    if details:
        message += f": {details}"
    return code, message


def _retry_after(response: requests.Response | None) -> int:
    value = response.headers.get("Retry-After", "") if response is not None else ""
    return int(value) if value.isdigit() else _DEFAULT_RETRY_AFTER
