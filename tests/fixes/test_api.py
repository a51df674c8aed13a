"""The fixes API: builds as links (JSON) or uploads (multipart), runs, results and the loop."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mamori.cases.models import Case
from mamori.core.authz import Role
from mamori.fixes.models import PrivateBuild, TestResult, TestRun
from tests import factories
from tests.fixes.conftest import BUILD, BUILD_SHA, LINK_SHA

URL = "https://ci.example.internal/portal/2/fix.tar.gz"


def post(client, path: str, body: dict[str, object] | None = None):
    return client.post(path, body if body is not None else {}, content_type="application/json")


def put(client, path: str, body: dict[str, object]):
    return client.put(path, body, content_type="application/json")


def state(tid: str) -> str:
    return Case.objects.get(tracking_id=tid).state


def counts() -> tuple[int, int, int]:
    return PrivateBuild.objects.count(), TestRun.objects.count(), TestResult.objects.count()


@pytest.mark.django_db
def test_an_engineer_runs_the_loop_through_the_api(engineer, world, api_for) -> None:
    api, tid = api_for(engineer), world.case
    upload = SimpleUploadedFile("portal-fix.tar.gz", BUILD, "application/gzip")
    response = api.post(
        f"/api/cases/{tid}/builds",
        {"artifact": upload, "sha256": BUILD_SHA, "versions": ["portal/2.x", "portal/1.x"]},
    )
    assert response.status_code == 201, response.content
    build = response.json()
    assert (build["number"], build["kind"], build["sha256"]) == (1, "upload", BUILD_SHA)
    assert (build["size"], build["filename"]) == (len(BUILD), "portal-fix.tar.gz")
    assert sorted(build["versions"]) == ["portal/1.x", "portal/2.x"]
    assert build["download"] == f"/api/cases/{tid}/builds/1/artifact"

    artifact = api.get(build["download"])
    assert artifact.status_code == 200
    assert b"".join(artifact.streaming_content) == BUILD
    assert artifact["Content-Disposition"].startswith("attachment")
    assert artifact["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in artifact["Content-Security-Policy"]

    submitted = post(api, f"/api/cases/{tid}/builds/1/submit")
    assert submitted.status_code == 200, submitted.content
    assert submitted.json() == {
        "tracking_id": tid,
        "state": "in_testing",
        "build_reference": f"build 1 (sha256:{BUILD_SHA[:12]}…)",
    }
    started = post(api, f"/api/cases/{tid}/runs", {"build": 1, "items": ["login", "profile"]})
    assert started.status_code == 201, started.content
    assert [(r["position"], r["result"]) for r in started.json()["results"]] == [
        (1, "pending"),
        (2, "pending"),
    ]
    result = put(
        api, f"/api/cases/{tid}/runs/1/results/2", {"result": "fail", "evidence": "XSS in bio"}
    )
    assert result.status_code == 200, result.content
    assert (result.json()["result"], result.json()["recorded_by"]) == ("fail", engineer.username)
    done = post(api, f"/api/cases/{tid}/runs/1/complete", {"summary": "bio still vulnerable"})
    assert done.status_code == 200, done.content
    assert (done.json()["state"], done.json()["case_state"]) == ("failed", "in_development")
    case = api.get(f"/api/cases/{tid}").json()
    assert (case["state"], case["rework_count"]) == ("in_development", 1)

    link = post(
        api,
        f"/api/cases/{tid}/builds",
        {"url": URL, "sha256": LINK_SHA, "versions": ["portal/2.x"]},
    )
    assert link.status_code == 201, link.content
    assert (link.json()["kind"], link.json()["download"]) == ("link", None)
    assert post(api, f"/api/cases/{tid}/builds/2/submit").json()["state"] == "in_testing"
    post(api, f"/api/cases/{tid}/runs", {"build": 2, "items": ["login", "profile"]})
    for position in (1, 2):
        put(api, f"/api/cases/{tid}/runs/2/results/{position}", {"result": "pass"})
    done = post(api, f"/api/cases/{tid}/runs/2/complete")
    assert (done.json()["state"], done.json()["case_state"]) == ("passed", "ready_for_release")

    builds = api.get(f"/api/cases/{tid}/builds").json()
    assert [b["number"] for b in builds] == [1, 2]
    runs = api.get(f"/api/cases/{tid}/runs").json()
    assert [(r["number"], r["build"], r["state"]) for r in runs] == [
        (1, 1, "failed"),
        (2, 2, "passed"),
    ]
    assert runs[0]["results"][1]["evidence"] == "XSS in bio"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("builds", {"url": URL, "sha256": LINK_SHA, "severity": "low"}, "severity"),
        ("builds", {"url": URL, "sha256": "abc"}, "sha256"),
        ("builds", {"url": "ftp://ci/fix", "sha256": LINK_SHA}, "url"),
        ("builds", {"url": URL, "sha256": LINK_SHA, "versions": ["billing/3.0"]}, "versions"),
        ("builds", {"url": URL, "sha256": LINK_SHA, "versions": "portal/2.x"}, "versions"),
        ("builds", {}, "artifact"),
        ("runs", {"build": 1, "items": ["a"], "extra": True}, "extra"),
        ("runs", {"build": 1, "items": []}, "items"),
        ("runs", {"build": 1, "items": ["a", "a"]}, "items"),
        ("runs", {"build": 1, "items": ["x" * 201]}, "items.0"),
        ("runs", {"items": ["a"]}, "build"),
    ],
)
def test_bad_input_is_refused_with_the_field(engineer, world, api_for, path, body, field) -> None:
    api, tid = api_for(engineer), world.case
    if path == "runs":
        post(api, f"/api/cases/{tid}/builds", {"url": URL, "sha256": LINK_SHA})
        post(api, f"/api/cases/{tid}/builds/1/submit")
    before = counts()
    response = post(api, f"/api/cases/{tid}/{path}", body)
    assert response.status_code == 422, response.content
    assert field in [d["field"] for d in response.json()["detail"]]
    assert counts() == before


@pytest.mark.django_db
def test_results_and_completion_refuse_unknown_fields_and_bad_states(
    engineer, world, api_for
) -> None:
    api, tid = api_for(engineer), world.case
    post(api, f"/api/cases/{tid}/builds", {"url": URL, "sha256": LINK_SHA})
    post(api, f"/api/cases/{tid}/builds/1/submit")
    post(api, f"/api/cases/{tid}/runs", {"build": 1, "items": ["login", "profile"]})
    path = f"/api/cases/{tid}/runs/1"
    refused = put(api, f"{path}/results/1", {"result": "pass", "verdict": "ok"})
    assert refused.status_code == 422
    assert put(api, f"{path}/results/1", {"result": "maybe"}).status_code == 422
    assert put(api, f"{path}/results/9", {"result": "pass"}).status_code == 404
    assert post(api, f"{path}/complete", {"summary": "", "state": "passed"}).status_code == 422
    put(api, f"{path}/results/1", {"result": "pass"})
    pending = post(api, f"{path}/complete")
    assert pending.status_code == 422
    assert pending.json()["detail"] == [
        {"field": "results", "problem": "items still pending: 2. profile"}
    ]
    put(api, f"{path}/results/2", {"result": "blocked", "evidence": "no staging"})
    assert post(api, f"{path}/complete").json()["state"] == "blocked"
    late = put(api, f"{path}/results/2", {"result": "pass"})
    assert late.status_code == 409
    assert late.json()["error"] == "conflict"
    gate = post(api, f"/api/cases/{tid}/transitions", {"target": "ready_for_release"})
    assert gate.status_code == 409
    assert gate.json()["missing"] == ["a passed test run on the build that will ship (build 1)"]


@pytest.mark.django_db
def test_multipart_uploads_refuse_unknown_fields_and_a_wrong_sha256(
    engineer, world, api_for
) -> None:
    api, tid = api_for(engineer), world.case

    def send(**fields: object):
        data = {"artifact": SimpleUploadedFile("fix.tgz", BUILD), **fields}
        return api.post(f"/api/cases/{tid}/builds", data)

    extra = send(severity="low")
    assert extra.status_code == 422
    assert [d["field"] for d in extra.json()["detail"]] == ["severity"]
    wrong = send(sha256=LINK_SHA)
    assert wrong.status_code == 422
    assert BUILD_SHA in wrong.json()["detail"][0]["problem"]
    twice = send(notes=["one", "two"])
    assert twice.status_code == 422
    assert counts() == (0, 0, 0)
    assert send(notes="the fix").status_code == 201


@pytest.mark.django_db
def test_who_may_read_and_change_builds_through_the_api(admin, engineer, world, api_for) -> None:
    tid = world.case
    post(api_for(engineer), f"/api/cases/{tid}/builds", {"url": URL, "sha256": LINK_SHA})
    outsider = factories.user(Role.PRODUCT_ENGINEER)
    factories.team(admin, "ops-team", members=(outsider,))
    expected = {
        Role.AUDITOR: (200, 403),
        Role.RELEASE_MANAGER: (200, 403),
        Role.REPORTER: (404, 404),
        Role.ANALYST: (200, 201),
    }
    for role, (read, write) in expected.items():
        api = api_for(factories.user(role))
        assert api.get(f"/api/cases/{tid}/builds").status_code == read, role
        assert api.get(f"/api/cases/{tid}/runs").status_code == read, role
        response = post(api, f"/api/cases/{tid}/builds", {"url": URL, "sha256": LINK_SHA})
        assert response.status_code == write, role
    api = api_for(outsider)
    assert api.get(f"/api/cases/{tid}/builds").status_code == 404
    assert post(api, f"/api/cases/{tid}/builds/1/submit").status_code == 404
    assert PrivateBuild.objects.count() == 2  # the engineer's and the analyst's
    assert state(tid) == "in_development"
