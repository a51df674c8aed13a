"""Every API endpoint validates its input, and a refused request leaves nothing behind."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.utils import timezone

from mamori.accounts.models import ApiToken, User
from mamori.cases import services
from mamori.cases.attachments import display_name
from mamori.cases.models import Attachment, AuditEntry, Case, Message, StateEntry
from mamori.products import services as catalogue
from mamori.products.models import Component, Product, ProductAlias, ProductVersion, Team
from tests import factories

MAX_TEXT = services.MAX_TEXT
UNKNOWN_CASE = "MAMORI-1999-9999"
STORED_NAME = re.compile(r"^attachments/\d{4}/\d{2}/[0-9a-f]{32}$")
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>poc</title></head>"
    b"<body><script>fetch('/api/me').then(r => r.text()).then(alert)</script></body></html>\n"
)
MODELS = (
    Case,
    Message,
    Attachment,
    AuditEntry,
    StateEntry,
    Product,
    Team,
    ProductVersion,
    Component,
    ProductAlias,
    ApiToken,
)


@pytest.fixture
def world(admin: User) -> SimpleNamespace:
    """A team, a product with a version, and a case: the ids the endpoints below refer to."""
    team = factories.team(admin, "web-team")
    product = factories.product(admin, "portal", teams=(team,))
    catalogue.add_version(admin, product, catalogue.VersionDraft("1.0"))
    tracking_id = factories.case(admin, products=(product,))
    return SimpleNamespace(case=tracking_id, product=product, team=team)


@pytest.fixture
def api(admin: User, api_for) -> Client:
    return api_for(admin)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def stored_files() -> set[Path]:
    root = Path(settings.MEDIA_ROOT)
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def call(client: Client, method: str, path: str, body: object = None):
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, content_type="application/json")


def fields_of(response) -> list[str]:
    assert response["Content-Type"].startswith("application/json"), response.content
    body = response.json()
    assert body["error"] == "invalid", body
    assert body["detail"], body
    for item in body["detail"]:
        assert isinstance(item["problem"], str)
        assert item["problem"]
    return [item["field"] for item in body["detail"]]


def multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """A hand-made multipart body, so file names reach the server exactly as written."""
    boundary = "mamori-test-boundary-7d1f"
    out = b""
    for name, filename, content in parts:
        out += f"--{boundary}\r\n".encode()
        if filename is None:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        else:
            out += (
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
        out += content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def upload(client: Client, tracking_id: str, parts: list[tuple[str, str | None, bytes]]):
    body, content_type = multipart(parts)
    return client.post(f"/api/cases/{tracking_id}/attachments", body, content_type=content_type)


def read(response) -> bytes:
    """Consume a streamed download; the test client closes it (and the file) at the end."""
    return b"".join(response.streaming_content)


# Schema validation ---------------------------------------------------------------------------

CASE = "/api/cases/{case}"
STEP = "/api/cases/{case}/transitions"
ASSESSMENT = "/api/cases/{case}/assessment"

MISSING = [
    ("post", "/api/cases", {}, "title"),
    ("post", "/api/cases", {"title": ""}, "title"),
    ("post", "/api/cases", {"description": "no title"}, "title"),
    ("patch", CASE, {"title": ""}, "title"),
    ("post", STEP, {}, "target"),
    ("post", STEP, {"target": ""}, "target"),
    ("post", "/api/cases/{case}/messages", {}, "body"),
    ("post", "/api/cases/{case}/messages", {"body": ""}, "body"),
    ("post", "/api/cases/{case}/notes", {}, "body"),
    ("post", "/api/cases/{case}/flags", {}, "flag"),
    ("post", "/api/products", {"name": "Portal 2"}, "slug"),
    ("post", "/api/products", {"slug": "portal-2"}, "name"),
    ("patch", "/api/products/portal", {"name": ""}, "name"),
    ("post", "/api/products/portal/versions", {}, "name"),
    ("put", "/api/products/portal/versions/1.0", {}, "support_status"),
    ("post", "/api/products/portal/components", {}, "purl"),
    ("post", "/api/products/portal/aliases", {}, "alias"),
    ("post", "/api/teams", {"slug": "ops"}, "name"),
    ("post", "/api/teams", {"name": "Ops"}, "slug"),
    ("post", "/api/teams/web-team/members", {}, "username"),
]

WRONG_TYPE = [
    ("post", "/api/cases", {"title": 5}, "title"),
    ("post", "/api/cases", {"title": ["x"]}, "title"),
    ("post", "/api/cases", {"title": "x", "products": "portal"}, "products"),
    ("post", "/api/cases", {"title": "x", "products": [7]}, "products.0"),
    ("post", "/api/cases", {"title": "x", "source": "carrier-pigeon"}, "source"),
    ("patch", ASSESSMENT, {"severity_override": 3}, "severity_override"),
    ("patch", ASSESSMENT, {"impact": "code_execution"}, "impact"),
    ("patch", ASSESSMENT, {"cves": "CVE-2024-0001"}, "cves"),
    ("patch", CASE, {"products": {"portal": True}}, "products"),
    ("post", STEP, {"target": ["triage"]}, "target"),
    ("post", STEP, {"target": "triage", "reason": 5}, "reason"),
    ("post", "/api/cases/{case}/messages", {"body": None}, "body"),
    ("post", "/api/cases/{case}/flags", {"flag": 1}, "flag"),
    ("post", "/api/cases/{case}/flags", {"flag": "X", "at": "yesterday"}, "at"),
    ("post", "/api/products", {"slug": "p", "name": "P", "teams": "web-team"}, "teams"),
    ("patch", "/api/products/portal", {"teams": [1]}, "teams.0"),
    (
        "post",
        "/api/products/portal/versions",
        {"name": "2", "support_status": "forever"},
        "support_status",
    ),
    (
        "post",
        "/api/products/portal/versions",
        {"name": "2", "released_on": "last year"},
        "released_on",
    ),
    (
        "put",
        "/api/products/portal/versions/1.0",
        {"support_status": "supported", "support_ends_on": "2025-13-40"},
        "support_ends_on",
    ),
    ("post", "/api/products/portal/components", {"purl": 7}, "purl"),
    ("post", "/api/products/portal/aliases", {"alias": True}, "alias"),
    ("post", "/api/teams", {"slug": "ops", "name": 3}, "name"),
    ("post", "/api/teams/web-team/members", {"username": ["ana"]}, "username"),
    ("get", "/api/cases?limit=abc", None, "limit"),
    ("get", "/api/cases?limit=0", None, "limit"),
    ("get", "/api/cases?limit=501", None, "limit"),
    ("get", "/api/cases?offset=-1", None, "offset"),
    ("get", "/api/cases?include_done=maybe", None, "include_done"),
    ("get", "/api/cases/{case}/attachments/abc", None, "attachment_id"),
]

TOO_LONG = [
    ("post", "/api/cases", {"title": "t" * 301}, "title"),
    ("post", "/api/cases", {"title": "t", "description": "d" * (MAX_TEXT + 1)}, "description"),
    ("post", "/api/cases", {"title": "t", "reporter_name": "n" * 201}, "reporter_name"),
    ("post", "/api/cases", {"title": "t", "reporter_email": "e" * 255}, "reporter_email"),
    (
        "post",
        "/api/cases",
        {"title": "t", "reporter_organisation": "o" * 201},
        "reporter_organisation",
    ),
    ("patch", CASE, {"title": "t" * 301}, "title"),
    ("patch", CASE, {"description": "d" * (MAX_TEXT + 1)}, "description"),
    ("patch", CASE, {"owning_team": "t" * 64}, "owning_team"),
    ("patch", CASE, {"assignee": "a" * 151}, "assignee"),
    ("patch", ASSESSMENT, {"cvss_v3": "C" * 301}, "cvss_v3"),
    ("patch", ASSESSMENT, {"cvss_v4": "C" * 401}, "cvss_v4"),
    ("patch", ASSESSMENT, {"severity_override": "s" * 17}, "severity_override"),
    ("post", STEP, {"target": "t" * 33}, "target"),
    ("post", STEP, {"target": "triage", "reason": "r" * (MAX_TEXT + 1)}, "reason"),
    ("post", STEP, {"target": "duplicate", "duplicate_of": "M" * 41}, "duplicate_of"),
    ("post", STEP, {"target": "triage", "bug_reference": "b" * 301}, "bug_reference"),
    ("post", STEP, {"target": "triage", "build_reference": "b" * 301}, "build_reference"),
    ("post", STEP, {"target": "triage", "release_reference": "r" * 301}, "release_reference"),
    ("post", "/api/cases/{case}/messages", {"body": "b" * (MAX_TEXT + 1)}, "body"),
    ("post", "/api/cases/{case}/notes", {"body": "b" * (MAX_TEXT + 1)}, "body"),
    ("post", "/api/cases/{case}/flags", {"flag": "XA"}, "flag"),
    ("post", "/api/products", {"slug": "p" * 64, "name": "P"}, "slug"),
    ("post", "/api/products", {"slug": "p", "name": "P" * 201}, "name"),
    (
        "post",
        "/api/products",
        {"slug": "p", "name": "P", "description": "d" * 10_001},
        "description",
    ),
    ("patch", "/api/products/portal", {"name": "P" * 201}, "name"),
    ("patch", "/api/products/portal", {"description": "d" * 10_001}, "description"),
    ("post", "/api/products/portal/versions", {"name": "1" * 101}, "name"),
    ("post", "/api/products/portal/components", {"purl": "pkg:pypi/" + "a" * 500}, "purl"),
    (
        "post",
        "/api/products/portal/components",
        {"purl": "pkg:pypi/portal", "name": "n" * 201},
        "name",
    ),
    ("post", "/api/products/portal/aliases", {"alias": "a" * 201}, "alias"),
    ("post", "/api/teams", {"slug": "t" * 64, "name": "T"}, "slug"),
    ("post", "/api/teams", {"slug": "t", "name": "T" * 201}, "name"),
    ("post", "/api/teams/web-team/members", {"username": "u" * 151}, "username"),
]

#: Values the schema lets through and the services refuse.
REFUSED_BY_SERVICES = [
    (
        "patch",
        ASSESSMENT,
        {"severity_override": "urgent", "override_reason": "r"},
        "severity_override",
    ),
    ("patch", ASSESSMENT, {"cvss_v3": "CVSS:3.1/AV:Q"}, "cvss_v3"),
    ("patch", ASSESSMENT, {"cvss_v4": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}, "cvss_v4"),
    ("patch", CASE, {"owning_team": "no-such-team"}, "owning_team"),
    ("patch", CASE, {"assignee": "nobody"}, "assignee"),
    ("patch", CASE, {"products": ["no-such-product"]}, "products"),
    ("patch", CASE, {"title": "   "}, "title"),
    ("post", "/api/cases", {"title": "   "}, "title"),
    ("post", "/api/cases", {"title": "x", "products": ["portal", "nope"]}, "products"),
    ("post", "/api/cases/{case}/flags", {"flag": "Q"}, "flag"),
    ("post", "/api/cases/{case}/messages", {"body": "   "}, "body"),
    ("get", "/api/cases?state=bogus", None, "state"),
    ("post", "/api/products", {"slug": "Bad Slug", "name": "Bad"}, "slug"),
    ("post", "/api/products", {"slug": "portal-2", "name": "P", "teams": ["nope"]}, "teams"),
    (
        "post",
        "/api/products/portal/versions",
        {"name": "2.0", "support_status": "end_of_life"},
        "support_ends_on",
    ),
    ("post", "/api/products/portal/components", {"purl": "django"}, "purl"),
    ("post", "/api/products/portal/aliases", {"alias": "   "}, "alias"),
    ("post", "/api/teams", {"slug": "-ops", "name": "Ops"}, "slug"),
    ("post", "/api/teams/web-team/members", {"username": "nobody"}, "username"),
]


def _ids(table: list[tuple[str, str, object, str]]) -> list[str]:
    return [f"{method} {path.split('?')[0]} {field}" for method, path, _body, field in table]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    MISSING + WRONG_TYPE + TOO_LONG + REFUSED_BY_SERVICES,
    ids=_ids(MISSING + WRONG_TYPE + TOO_LONG + REFUSED_BY_SERVICES),
)
def test_invalid_input_is_422_naming_the_field_and_changes_nothing(
    api: Client, world: SimpleNamespace, method: str, path: str, body: object, field: str
) -> None:
    before = counts()
    response = call(api, method, path.format(case=world.case), body)
    assert response.status_code == 422, response.content
    assert field in fields_of(response)
    assert counts() == before


@pytest.mark.django_db
def test_an_upload_without_files_names_the_files_field(api: Client, world: SimpleNamespace) -> None:
    before = counts()
    response = upload(api, world.case, [("body", None, b"see attached")])
    assert response.status_code == 422
    assert fields_of(response) == ["files"]
    assert counts() == before


@pytest.mark.django_db
def test_an_over_long_message_with_an_upload_is_refused(
    api: Client, world: SimpleNamespace
) -> None:
    before, files = counts(), stored_files()
    response = upload(
        api, world.case, [("files", "a.txt", b"hello"), ("body", None, b"b" * (MAX_TEXT + 1))]
    )
    assert response.status_code == 422
    assert "body" in fields_of(response)
    assert counts() == before
    assert stored_files() == files


@pytest.mark.django_db
def test_a_flag_in_the_future_is_refused(api: Client, world: SimpleNamespace) -> None:
    at = (timezone.now() + timedelta(days=1)).isoformat()
    before = counts()
    response = api.post(
        f"/api/cases/{world.case}/flags", {"flag": "X", "at": at}, content_type="application/json"
    )
    assert response.status_code == 422
    assert fields_of(response) == ["at"]
    assert counts() == before
    assert Case.objects.get(tracking_id=world.case).exploit_public_at is None


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "slug"), [("products", "portal\n"), ("teams", "ops\n")])
def test_a_slug_with_a_trailing_newline_is_refused(
    api: Client, world: SimpleNamespace, kind: str, slug: str
) -> None:
    before = counts()
    response = api.post(
        f"/api/{kind}", {"slug": slug, "name": "X"}, content_type="application/json"
    )
    assert response.status_code == 422, response.content
    assert fields_of(response) == ["slug"]
    assert counts() == before


# Unparsable bodies ---------------------------------------------------------------------------

JSON_ENDPOINTS = [
    ("post", "/api/cases"),
    ("patch", CASE),
    ("post", STEP),
    ("post", "/api/cases/{case}/messages"),
    ("post", "/api/cases/{case}/notes"),
    ("post", "/api/cases/{case}/flags"),
    ("post", "/api/products"),
    ("patch", "/api/products/portal"),
    ("post", "/api/products/portal/versions"),
    ("put", "/api/products/portal/versions/1.0"),
    ("post", "/api/products/portal/components"),
    ("post", "/api/products/portal/aliases"),
    ("post", "/api/teams"),
    ("post", "/api/teams/web-team/members"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
@pytest.mark.parametrize(
    "raw",
    [b"{bad", b'{"title": "x",}', b"\xff\xfe\x00", b'{"title": "x"} trailing'],
    ids=["unclosed", "trailing-comma", "not-utf8", "trailing-text"],
)
def test_malformed_json_is_400_json(
    api: Client, world: SimpleNamespace, method: str, path: str, raw: bytes
) -> None:
    before = counts()
    response = getattr(api, method)(
        path.format(case=world.case), raw, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "invalid"
    assert counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/cases", b'"Remote code execution"'),
        ("/api/cases", b"[]"),
        ("/api/cases", b"null"),
        ("/api/teams", b'"ops"'),
        ("/api/cases/{case}/messages", b'"hello"'),
    ],
)
def test_a_json_body_that_is_not_an_object_is_refused(
    api: Client, world: SimpleNamespace, path: str, raw: bytes
) -> None:
    before = counts()
    response = api.post(path.format(case=world.case), raw, content_type="application/json")
    assert response.status_code in {400, 422}, response.content
    assert response.json()["error"] == "invalid"
    assert counts() == before


@pytest.mark.django_db
def test_a_bad_content_length_is_400_json(api: Client, world: SimpleNamespace) -> None:
    before = counts()
    response = api.post(
        "/api/cases", {"title": "x"}, content_type="application/json", CONTENT_LENGTH="lots"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert counts() == before


# Unknown ids ---------------------------------------------------------------------------------

ATTACHMENT_PARTS = [("files", "a.txt", b"hello")]

NOT_FOUND = [
    ("get", f"/api/cases/{UNKNOWN_CASE}", None),
    ("patch", f"/api/cases/{UNKNOWN_CASE}", {"title": "x"}),
    ("get", f"/api/cases/{UNKNOWN_CASE}/steps", None),
    ("post", f"/api/cases/{UNKNOWN_CASE}/transitions", {"target": "triage"}),
    ("get", f"/api/cases/{UNKNOWN_CASE}/messages", None),
    ("post", f"/api/cases/{UNKNOWN_CASE}/messages", {"body": "hello"}),
    ("get", f"/api/cases/{UNKNOWN_CASE}/notes", None),
    ("post", f"/api/cases/{UNKNOWN_CASE}/notes", {"body": "hello"}),
    ("get", f"/api/cases/{UNKNOWN_CASE}/timeline", None),
    ("get", f"/api/cases/{UNKNOWN_CASE}/audit", None),
    ("post", f"/api/cases/{UNKNOWN_CASE}/flags", {"flag": "X"}),
    ("get", f"/api/cases/{UNKNOWN_CASE}/attachments/1", None),
    ("get", "/api/cases/{case}/attachments/999999", None),
    ("get", "/api/cases/not-a-tracking-id", None),
    ("get", "/api/cases/%3Cscript%3E", None),
    ("get", "/api/cases/{case}%00", None),
    ("get", "/api/products/nope", None),
    ("patch", "/api/products/nope", {"name": "x"}),
    ("post", "/api/products/nope/versions", {"name": "1.0"}),
    ("put", "/api/products/nope/versions/1.0", {"support_status": "supported"}),
    ("put", "/api/products/portal/versions/9.9", {"support_status": "supported"}),
    ("post", "/api/products/nope/components", {"purl": "pkg:pypi/django"}),
    ("post", "/api/products/nope/aliases", {"alias": "x"}),
    ("post", "/api/teams/nope/members", {"username": "root"}),
    ("delete", "/api/teams/nope/members/root", None),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "body"), NOT_FOUND, ids=[f"{m} {p}" for m, p, _b in NOT_FOUND]
)
def test_unknown_ids_are_404_json(
    api: Client, world: SimpleNamespace, method: str, path: str, body: object
) -> None:
    before = counts()
    response = call(api, method, path.format(case=world.case), body)
    assert response.status_code == 404, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "not_found"
    assert counts() == before


@pytest.mark.django_db
def test_an_upload_to_an_unknown_case_is_404_and_writes_no_file(
    api: Client, world: SimpleNamespace
) -> None:
    before, files = counts(), stored_files()
    response = upload(api, UNKNOWN_CASE, ATTACHMENT_PARTS)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert counts() == before
    assert stored_files() == files


# Size limits ---------------------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(MAMORI_MAX_BODY_BYTES=1000)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/cases", {"title": "big", "description": "d" * 2000}),
        ("patch", CASE, {"description": "d" * 2000}),
        ("post", "/api/cases/{case}/messages", {"body": "b" * 2000}),
        ("post", "/api/products", {"slug": "big", "name": "Big", "description": "d" * 2000}),
    ],
)
def test_a_body_over_the_limit_is_413_json(
    api: Client, world: SimpleNamespace, method: str, path: str, body: object
) -> None:
    before = counts()
    description = Case.objects.get(tracking_id=world.case).description
    response = call(api, method, path.format(case=world.case), body)
    assert response.status_code == 413, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "too_large"
    assert counts() == before
    assert Case.objects.get(tracking_id=world.case).description == description


@pytest.mark.django_db
@override_settings(MAMORI_MAX_BODY_BYTES=1000)
def test_a_body_under_the_limit_is_accepted(api: Client, world: SimpleNamespace) -> None:
    response = api.post(
        "/api/cases", {"title": "small", "description": "d" * 800}, content_type="application/json"
    )
    assert response.status_code == 201


@pytest.mark.django_db
@override_settings(MAMORI_MAX_BODY_BYTES=1000)
def test_a_ui_form_over_the_limit_is_413(admin: User, client_for) -> None:
    before = counts()
    response = client_for(admin).post(
        "/cases/new/",
        urlencode({"title": "big", "description": "d" * 2000}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert counts() == before


@pytest.mark.django_db
@override_settings(MAMORI_MAX_BODY_BYTES=1000, MAMORI_MAX_ATTACHMENT_BYTES=1000)
def test_a_multipart_body_over_both_limits_is_413(api: Client, world: SimpleNamespace) -> None:
    before, files = counts(), stored_files()
    response = upload(api, world.case, [("files", "big.bin", b"x" * 2500)])
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert counts() == before
    assert stored_files() == files


@pytest.mark.django_db
@override_settings(MAMORI_MAX_ATTACHMENT_BYTES=100)
def test_an_attachment_over_the_limit_is_413_and_nothing_is_stored(
    api: Client, world: SimpleNamespace
) -> None:
    before, files = counts(), stored_files()
    response = upload(api, world.case, [("files", "big.bin", b"x" * 500), ("body", None, b"hi")])
    assert response.status_code == 413, response.content
    body = response.json()
    assert body["error"] == "too_large"
    assert [d["field"] for d in body["detail"]] == ["attachment"]
    assert counts() == before
    assert not Message.objects.filter(case__tracking_id=world.case, body="hi").exists()
    assert stored_files() == files


@pytest.mark.django_db
@override_settings(MAMORI_MAX_ATTACHMENT_BYTES=100)
def test_one_oversized_attachment_among_several_stores_none_of_them(
    api: Client, world: SimpleNamespace
) -> None:
    before, files = counts(), stored_files()
    response = upload(
        api, world.case, [("files", "small.txt", b"fine" * 5), ("files", "big.bin", b"x" * 500)]
    )
    assert response.status_code == 413, response.content
    assert counts() == before
    assert stored_files() == files, "a refused upload left a file in storage"


@pytest.mark.django_db
@override_settings(MAMORI_MAX_ATTACHMENT_BYTES=100)
def test_an_attachment_at_the_limit_is_accepted(api: Client, world: SimpleNamespace) -> None:
    response = upload(api, world.case, [("files", "exact.bin", b"x" * 100)])
    assert response.status_code == 201, response.content
    assert response.json()["attachments"][0]["size"] == 100


# Authentication and CSRF ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer mamori_not-a-real-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic cm9vdDpyb290"},
        {"Authorization": "Bearer not-even-prefixed"},
    ],
    ids=["none", "unknown-token", "empty-token", "basic", "no-prefix"],
)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/me", None),
        ("get", "/api/cases", None),
        ("post", "/api/cases", {"title": "anonymous"}),
        ("get", "/api/cases/{case}", None),
        ("post", "/api/cases/{case}/transitions", {"target": "triage"}),
        ("get", "/api/products", None),
        ("post", "/api/teams", {"slug": "ops", "name": "Ops"}),
    ],
)
def test_the_api_refuses_unauthenticated_requests_with_401_json(
    world: SimpleNamespace, headers: dict[str, str], method: str, path: str, body: object
) -> None:
    before = counts()
    response = call(Client(headers=headers), method, path.format(case=world.case), body)
    assert response.status_code == 401, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "unauthenticated"
    assert counts() == before


@pytest.mark.django_db
def test_a_revoked_token_is_refused(admin: User, world: SimpleNamespace) -> None:
    from mamori.accounts.services import issue_token

    raw = issue_token(admin, "soon revoked")
    ApiToken.objects.filter(prefix=raw[:12]).update(revoked_at=timezone.now())
    response = Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/cases")
    assert response.status_code == 401


UI_POSTS = [
    ("/cases/new/", {"title": "forged", "source": "internal"}),
    ("/cases/{case}/step", {"target": "triage"}),
    ("/cases/{case}/message", {"body": "forged"}),
    ("/cases/{case}/note", {"body": "forged"}),
    ("/cases/{case}/flag", {"flag": "X"}),
    ("/cases/{case}/edit", {"title": "forged"}),
    ("/catalogue/", {"slug": "forged", "name": "Forged"}),
    ("/catalogue/teams/", {"slug": "forged", "name": "Forged"}),
    ("/catalogue/portal/versions", {"name": "9.9", "support_status": "supported"}),
    ("/catalogue/portal/aliases", {"alias": "forged"}),
    ("/accounts/tokens/", {"name": "forged"}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "data"), UI_POSTS, ids=[p for p, _d in UI_POSTS])
def test_a_ui_post_without_a_csrf_token_is_403_and_changes_nothing(
    admin: User, world: SimpleNamespace, path: str, data: dict[str, str]
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    before = counts()
    case_before = Case.objects.values().get(tracking_id=world.case)
    response = client.post(path.format(case=world.case), data)
    assert response.status_code == 403
    assert counts() == before
    assert Case.objects.values().get(tracking_id=world.case) == case_before


@pytest.mark.django_db
def test_a_ui_post_with_the_csrf_token_works(admin: User, client_for) -> None:
    client = client_for(admin)
    assert client.get("/cases/new/").status_code == 200
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(
        "/cases/new/", {"title": "genuine", "source": "internal", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert Case.objects.filter(title="genuine").exists()


@pytest.mark.django_db
def test_a_session_api_post_without_a_csrf_token_is_refused(admin: User, client_for) -> None:
    before = counts()
    response = client_for(admin).post(
        "/api/cases", {"title": "forged"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")
    assert counts() == before


# Nothing half-written ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_product_with_one_unknown_team_is_not_created(
    api: Client, world: SimpleNamespace
) -> None:
    before = counts()
    response = api.post(
        "/api/products",
        {"slug": "billing", "name": "Billing", "teams": [world.team, "no-such-team"]},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert fields_of(response) == ["teams"]
    assert not Product.objects.filter(slug="billing").exists()
    assert counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "changes",
    [
        {"title": "Renamed", "severity": "low"},  # the rating moved to the assessment
        {"title": "Renamed", "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
        {"title": "Renamed", "products": ["no-such-product"]},
        {"title": "Renamed", "assignee": "nobody"},
    ],
)
def test_a_refused_case_update_changes_no_field(
    api: Client, world: SimpleNamespace, changes: dict[str, object]
) -> None:
    before = counts()
    row = Case.objects.values().get(tracking_id=world.case)
    products = list(Case.objects.get(tracking_id=world.case).products.values_list("slug"))
    response = api.patch(f"/api/cases/{world.case}", changes, content_type="application/json")
    assert response.status_code == 422
    case = Case.objects.get(tracking_id=world.case)
    assert Case.objects.values().get(tracking_id=world.case) == row
    assert case.title != "Renamed"
    assert list(case.products.values_list("slug")) == products
    assert counts() == before


@pytest.mark.django_db
def test_a_refused_product_update_changes_nothing(api: Client, world: SimpleNamespace) -> None:
    response = api.patch(
        "/api/products/portal",
        {"name": "Renamed", "teams": ["no-such-team"]},
        content_type="application/json",
    )
    assert response.status_code == 422
    product = Product.objects.get(slug="portal")
    assert product.name != "Renamed"
    assert list(product.teams.values_list("slug", flat=True)) == [world.team]


@pytest.mark.django_db
def test_a_refused_version_update_changes_nothing(api: Client, world: SimpleNamespace) -> None:
    response = api.put(
        "/api/products/portal/versions/1.0",
        {"support_status": "end_of_life"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert fields_of(response) == ["support_ends_on"]
    assert ProductVersion.objects.get(product__slug="portal", name="1.0").support_status == (
        "supported"
    )


# Attachments ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("uploaded", "forbidden"),
    [
        ("../../etc/passwd", ["passwd", "etc", ".."]),
        ("a\x00b.html", ["a\x00b", "html", "\x00"]),
        ("/abs/path.txt", ["abs", "path", "txt"]),
        ("..\\..\\windows\\win.ini", ["windows", "win.ini", ".."]),
    ],
    ids=["traversal", "nul", "absolute", "backslashes"],
)
def test_stored_names_never_come_from_the_upload(
    api: Client, world: SimpleNamespace, uploaded: str, forbidden: list[str]
) -> None:
    response = upload(api, world.case, [("files", uploaded, b"hello")])
    assert response.status_code == 201, response.content
    attachment = Attachment.objects.get(pk=response.json()["attachments"][0]["id"])
    assert attachment.file.name.startswith("attachments/")
    assert STORED_NAME.match(attachment.file.name), attachment.file.name
    for part in forbidden:
        assert part not in attachment.file.name
    assert "/" not in attachment.filename
    assert "\\" not in attachment.filename
    assert "\x00" not in attachment.filename
    assert attachment.filename not in {"", ".", ".."}
    stored = Path(settings.MEDIA_ROOT) / attachment.file.name
    assert stored.resolve().is_relative_to(Path(settings.MEDIA_ROOT).resolve())
    assert stored.read_bytes() == b"hello"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "a\x00b.html", "..\\..\\x.txt", "<script>.html", "..", ".hidden"]
)
def test_services_clean_the_display_name_whatever_reaches_them(
    admin: User, world: SimpleNamespace, name: str
) -> None:
    upload_file = SimpleUploadedFile("placeholder", b"hello")
    upload_file._name = name  # bypass Django's own basename() to test Mamori's cleaning
    message = services.post_message(admin, world.case, "", [upload_file])
    attachment = message.attachments.get()
    assert STORED_NAME.match(attachment.file.name)
    for bad in ("/", "\\", "\x00", "<", ">"):
        assert bad not in attachment.filename
    assert not attachment.filename.startswith(".")
    assert attachment.filename


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("/abs/path.txt", "path.txt"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("a\x00b.html", "a_b.html"),
        ('re"port<1>.txt', "re_port_1_.txt"),
        ("..", "attachment"),
        ("", "attachment"),
        ("x" * 300, "x" * 200),
    ],
)
def test_display_name(given: str, shown: str) -> None:
    assert display_name(given) == shown


@pytest.mark.django_db
def test_an_html_upload_is_sniffed_and_only_ever_downloaded(
    admin: User, api: Client, client_for, world: SimpleNamespace
) -> None:
    response = upload(api, world.case, [("files", "report.txt", HTML)])
    assert response.status_code == 201, response.content
    listed = response.json()["attachments"][0]
    assert listed["content_type"] == "text/html"
    attachment = Attachment.objects.get(pk=listed["id"])
    assert attachment.content_type == "text/html"
    assert attachment.filename == "report.txt"

    for client, path in (
        (api, f"/api/cases/{world.case}/attachments/{attachment.pk}"),
        (client_for(admin), f"/cases/{world.case}/files/{attachment.pk}"),
    ):
        download = client.get(path)
        assert download.status_code == 200
        assert download["Content-Type"] == "application/octet-stream"
        assert download["Content-Disposition"].startswith("attachment")
        assert "report.txt" in download["Content-Disposition"]
        assert download["X-Content-Type-Options"] == "nosniff"
        assert read(download) == HTML


@pytest.mark.django_db
def test_plain_text_keeps_its_type_on_download(api: Client, world: SimpleNamespace) -> None:
    response = upload(api, world.case, [("files", "notes.html", b"just some words\n")])
    attachment_id = response.json()["attachments"][0]["id"]
    download = api.get(f"/api/cases/{world.case}/attachments/{attachment_id}")
    assert download["Content-Type"].startswith("text/plain")
    assert download["Content-Disposition"].startswith("attachment")
    assert read(download) == b"just some words\n"


@pytest.mark.django_db
def test_api_method_not_allowed_and_unknown_paths_answer_json(admin, api_for) -> None:
    api = api_for(admin)
    refused = api.delete("/api/cases")
    assert refused.status_code == 405
    assert refused.json()["error"] == "method_not_allowed"
    missing = api.get("/api/no-such-endpoint")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"


@pytest.mark.django_db
def test_session_api_post_without_csrf_is_forbidden_in_json(admin) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin)
    response = browser.post(
        "/api/teams", {"slug": "x", "name": "X"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert not Team.objects.filter(slug="x").exists()


@pytest.mark.django_db
def test_nul_characters_are_refused_before_the_database(admin, api_for) -> None:
    """PostgreSQL cannot store NUL; it must be a clear 4xx on both databases, never a 500."""
    api = api_for(admin)
    body = api.post("/api/cases", {"title": "a\x00b"}, content_type="application/json")
    assert body.status_code == 400
    assert body.json()["error"] == "invalid"
    query = api.get("/api/cases", {"product": "a\x00b"})
    assert query.status_code == 400
    assert query.json()["detail"][0]["field"] == "query"
    assert api.get("/api/products/a%00b").status_code == 404
    dup = api.post("/api/cases", {"title": "t"}, content_type="application/json").json()
    api.post(
        f"/api/cases/{dup['tracking_id']}/transitions",
        {"target": "triage"},
        content_type="application/json",
    )
    refused = api.post(
        f"/api/cases/{dup['tracking_id']}/transitions",
        {"target": "duplicate", "duplicate_of": "MAMORI-2026-0001\u0000"},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert Case.objects.count() == 1
