"""The fixes service: private builds, test runs, the rework loop and the ready_for_release gate."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from mamori.cases import services as cases
from mamori.cases.models import AuditEntry, Case, StateEntry
from mamori.core.authz import Role
from mamori.core.workflow import StepInput
from mamori.errors import (
    Conflict,
    GateRefused,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
)
from mamori.fixes import services as fixes
from mamori.fixes.models import PrivateBuild, TestResult, TestRun
from tests import factories
from tests.fixes.conftest import BUILD, BUILD_SHA, LINK_SHA, develop

STORED_BUILD = re.compile(r"^builds/\d{4}/\d{2}/[0-9a-f]{32}$")
STORED_EVIDENCE = re.compile(r"^evidence/\d{4}/\d{2}/[0-9a-f]{32}$")


def case_row(tid: str) -> Case:
    return Case.objects.get(tracking_id=tid)


def upload(user, tid: str, content: bytes = BUILD, **extra: object) -> PrivateBuild:
    return fixes.add_build(user, tid, artifact=("portal-fix.tar.gz", content), **extra)  # type: ignore[arg-type]


def link(user, tid: str, number: int = 2) -> PrivateBuild:
    url = f"https://ci.example.internal/portal/{number}/portal-fix.tar.gz"
    return fixes.add_build(user, tid, url=url, sha256=LINK_SHA)


def run_with(user, tid: str, build: int, outcomes: dict[str, str]) -> TestRun:
    """Start a run of ``build`` with the items of ``outcomes`` and record each outcome given."""
    run = fixes.start_run(user, tid, build, list(outcomes))
    for position, (name, outcome) in enumerate(outcomes.items(), 1):
        if outcome != "pending":
            fixes.record_result(user, tid, run.number, position, outcome, f"{name}: {outcome}")
    return run


def snapshot(tid: str) -> tuple[object, ...]:
    case = case_row(tid)
    return (
        case.state,
        case.rework_count,
        case.build_reference,
        PrivateBuild.objects.count(),
        TestRun.objects.count(),
        list(TestResult.objects.values_list("result", "evidence")),
        AuditEntry.objects.count(),
    )


def content(stored) -> bytes:
    with stored.open("rb") as opened:
        return opened.read()


def stored_files(folder: str) -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / folder
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# The whole loop ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failed_run_sends_the_fix_back_until_every_test_passes(engineer, world) -> None:
    tid = world.case
    assert case_row(tid).state == "in_development"

    first = upload(engineer, tid, versions=["portal/2.x", ("portal", "1.x")], notes="escape it")
    assert (first.number, first.sha256, first.size) == (1, BUILD_SHA, len(BUILD))
    assert first.filename == "portal-fix.tar.gz"
    assert STORED_BUILD.match(first.artifact.name)  # never the uploaded name
    assert content(first.artifact) == BUILD
    assert sorted(f"{v.product.slug}/{v.name}" for v in first.versions.all()) == [
        "portal/1.x",
        "portal/2.x",
    ]

    case = fixes.submit_for_testing(engineer, tid, 1)
    assert case.state == "in_testing"
    assert case.build_reference == f"build 1 (sha256:{BUILD_SHA[:12]}…)"

    run = fixes.start_run(engineer, tid, 1, ["login form", "profile page", "REST API"])
    assert [(r.position, r.name, r.result) for r in run.results.all()] == [
        (1, "login form", "pending"),
        (2, "profile page", "pending"),
        (3, "REST API", "pending"),
    ]
    fixes.record_result(engineer, tid, 1, 1, "pass", "no script runs")
    fixes.record_result(
        engineer, tid, 1, 2, "fail", "alert() still fires with <img onerror>", ("shot.png", b"png")
    )
    # A failure decides the run even with an item still pending.
    done = fixes.complete_run(engineer, tid, 1)
    assert done.state == "failed"
    assert done.completed_by == engineer and done.completed_at is not None

    case = case_row(tid)
    assert case.state == "in_development"
    assert case.rework_count == 1
    reason = StateEntry.objects.filter(case=case).last().reason
    assert "Test run 1 of build 1" in reason and "The failures" in reason
    assert "2. profile page: alert() still fires with <img onerror>" in reason
    assert "evidence file: shot.png" in reason
    assert "login form" not in reason  # only what failed
    assert AuditEntry.objects.filter(case=case, field="rework_count", after="1").exists()

    second = link(engineer, tid, 2)
    assert (second.number, second.size, second.filename) == (2, None, "portal-fix.tar.gz")
    assert fixes.submit_for_testing(engineer, tid, 2).state == "in_testing"
    assert case_row(tid).build_reference == f"build 2 (sha256:{LINK_SHA[:12]}…)"
    run = run_with(engineer, tid, 2, {"login form": "pass", "profile page": "pass"})
    done = fixes.complete_run(engineer, tid, run.number, "all good")
    assert (done.number, done.state, done.summary) == (2, "passed", "all good")
    assert done.case.state == "ready_for_release"

    case = case_row(tid)
    assert case.state == "ready_for_release"
    assert case.rework_count == 1
    assert case.fix_ready_at is not None  # flag F on entering ready_for_release
    assert "Test run 2 of build 2" in StateEntry.objects.filter(case=case).last().reason
    actions = set(AuditEntry.objects.filter(case=case).values_list("action", flat=True))
    assert {"build", "test_run", "test_result", "transition"} <= actions


@pytest.mark.django_db
def test_everything_is_audited_with_before_and_after(engineer, world) -> None:
    tid = world.case
    upload(engineer, tid)
    fixes.submit_for_testing(engineer, tid, 1)
    run = fixes.start_run(engineer, tid, 1, ["login form"])
    fixes.record_result(engineer, tid, run.number, 1, "blocked", "staging is down")
    fixes.record_result(engineer, tid, run.number, 1, "pass", "works")
    fixes.complete_run(engineer, tid, run.number)
    entries = list(
        AuditEntry.objects.filter(case__tracking_id=tid, actor=engineer).values_list(
            "action", "field", "before", "after"
        )
    )
    assert (
        "build",
        "build",
        "",
        f"build 1 (sha256:{BUILD_SHA[:12]}…) portal-fix.tar.gz, {len(BUILD)} bytes",
    ) in entries
    assert ("test_run", "test run 1", "", "open: build 1, 1 items") in entries
    assert ("test_result", "run 1 item 1", "pending", "blocked") in entries
    assert ("test_result", "run 1 item 1", "blocked", "pass") in entries
    assert ("test_result", "run 1 item 1 evidence", "staging is down", "works") in entries
    assert ("test_run", "test run 1", "open", "passed") in entries


# The gate ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_newer_build_needs_its_own_passed_run(engineer, world) -> None:
    tid = world.case
    upload(engineer, tid)
    fixes.submit_for_testing(engineer, tid, 1)
    run = run_with(engineer, tid, 1, {"login form": "pass"})
    link(engineer, tid, 2)  # a newer build while build 1 is under test
    assert fixes.complete_run(engineer, tid, run.number).state == "passed"
    assert case_row(tid).state == "in_testing"  # build 1 is not what ships

    with pytest.raises(GateRefused) as refused:
        cases.transition(engineer, tid, "ready_for_release", StepInput(reason="all passed"))
    assert list(refused.value.missing) == [
        "a passed test run on the build that will ship (build 2)"
    ]
    assert case_row(tid).state == "in_testing"

    failed = run_with(engineer, tid, 2, {"login form": "fail"})
    fixes.complete_run(engineer, tid, failed.number)
    assert case_row(tid).state == "in_development"
    fixes.submit_for_testing(engineer, tid, 2)
    with pytest.raises(GateRefused, match="build 2"):
        cases.transition(engineer, tid, "ready_for_release", StepInput())
    passed = run_with(engineer, tid, 2, {"login form": "pass"})
    fixes.complete_run(engineer, tid, passed.number)
    assert case_row(tid).state == "ready_for_release"


@pytest.mark.django_db
def test_without_any_build_the_gate_says_so(admin, world) -> None:
    tid = world.case
    cases.transition(admin, tid, "in_testing", StepInput(build_reference="pb-1"))
    with pytest.raises(GateRefused) as refused:
        cases.transition(admin, tid, "ready_for_release", StepInput(reason="tested by hand"))
    assert refused.value.missing == (
        "a passed test run on the build that will ship (no private build yet)",
    )
    options = {o.step.target.value: o for o in cases.step_options(admin, case_row(tid))}
    assert options["ready_for_release"].missing == refused.value.missing


@pytest.mark.django_db
def test_blocked_items_block_the_run_and_the_case_stays_in_testing(engineer, world) -> None:
    tid = world.case
    upload(engineer, tid)
    fixes.submit_for_testing(engineer, tid, 1)
    run = run_with(engineer, tid, 1, {"login form": "pass", "on-premises": "blocked"})
    done = fixes.complete_run(engineer, tid, run.number)
    assert done.state == "blocked"
    assert done.summary == "1 pass, 1 blocked"
    case = case_row(tid)
    assert (case.state, case.rework_count) == ("in_testing", 0)
    again = run_with(engineer, tid, 1, {"login form": "pass", "on-premises": "pass"})
    assert again.number == 2
    fixes.complete_run(engineer, tid, again.number)
    assert case_row(tid).state == "ready_for_release"


@pytest.mark.django_db
def test_pending_items_keep_a_run_from_completing(engineer, world) -> None:
    tid = world.case
    upload(engineer, tid)
    fixes.submit_for_testing(engineer, tid, 1)
    run = run_with(
        engineer, tid, 1, {"login form": "pass", "profile page": "pending", "API": "blocked"}
    )
    run_with_pending = snapshot(tid)
    with pytest.raises(InvalidInput) as refused:
        fixes.complete_run(engineer, tid, run.number)
    assert refused.value.problems == {"results": "items still pending: 2. profile page"}
    assert snapshot(tid) == run_with_pending
    assert TestRun.objects.get(pk=run.pk).state == "open"


# Bad input -----------------------------------------------------------------------------------

GOOD_URL = "https://ci.example.internal/portal/1/fix.tar.gz"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("given", "field", "says"),
    [
        ({"url": GOOD_URL, "sha256": "abc123"}, "sha256", "64 hexadecimal digits"),
        ({"url": GOOD_URL, "sha256": "g" * 64}, "sha256", "64 hexadecimal digits"),
        ({"url": GOOD_URL, "sha256": LINK_SHA + "0"}, "sha256", "64 hexadecimal digits"),
        ({"url": GOOD_URL}, "sha256", "required with a link"),
        ({"artifact": ("fix.tgz", BUILD), "sha256": LINK_SHA}, "sha256", "does not match"),
        (
            {"artifact": ("fix.tgz", BUILD), "url": GOOD_URL, "sha256": LINK_SHA},
            "artifact",
            "not both",
        ),
        ({}, "artifact", "an uploaded build or a link"),
        ({"sha256": LINK_SHA}, "artifact", "an uploaded build or a link"),
        ({"artifact": ("empty.tgz", b"")}, "artifact", "empty"),
        ({"url": "ftp://ci.example/fix.tgz", "sha256": LINK_SHA}, "url", "http"),
        ({"url": "javascript:alert(1)", "sha256": LINK_SHA}, "url", "http"),
        ({"url": "file:///etc/passwd", "sha256": LINK_SHA}, "url", "http"),
        ({"url": "ci.example/fix.tgz", "sha256": LINK_SHA}, "url", "http"),
        ({"url": "https:///fix.tgz", "sha256": LINK_SHA}, "url", "host"),
        ({"url": "https://ci:secret@ci.example/fix", "sha256": LINK_SHA}, "url", "credentials"),
        ({"url": "https://ci.example/a fix.tgz", "sha256": LINK_SHA}, "url", "spaces"),
        ({"url": "https://ci.example:99999/fix", "sha256": LINK_SHA}, "url", "not a valid URL"),
        ({"url": "https://ci.example/" + "a" * 2000, "sha256": LINK_SHA}, "url", "at most"),
        (
            {"url": GOOD_URL, "sha256": LINK_SHA, "versions": ["billing/3.0"]},
            "versions",
            "not a version of the case's products: billing/3.0",
        ),
        (
            {"url": GOOD_URL, "sha256": LINK_SHA, "versions": ["portal/9.9"]},
            "versions",
            "no version '9.9' of product 'portal'",
        ),
        (
            {"url": GOOD_URL, "sha256": LINK_SHA, "versions": ["portal"]},
            "versions",
            "product/version",
        ),
        ({"url": GOOD_URL, "sha256": LINK_SHA, "notes": "x" * 20_001}, "notes", "at most"),
        ({"url": GOOD_URL, "sha256": LINK_SHA, "notes": "a\x00b"}, "notes", "NUL"),
    ],
)
def test_a_bad_build_is_refused_at_its_field_and_nothing_is_stored(
    engineer, world, given, field, says
) -> None:
    before = snapshot(world.case)
    with pytest.raises(InvalidInput) as refused:
        fixes.add_build(engineer, world.case, **given)
    assert field in refused.value.problems, refused.value.problems
    assert says in refused.value.problems[field]
    assert snapshot(world.case) == before
    assert stored_files("builds") == []


@pytest.mark.django_db
def test_every_problem_of_a_build_is_listed_at_once(engineer, world) -> None:
    with pytest.raises(InvalidInput) as refused:
        fixes.add_build(
            engineer, world.case, url="gopher://x/y", sha256="nope", versions=["billing/3.0"]
        )
    assert set(refused.value.problems) == {"url", "sha256", "versions"}


@pytest.mark.django_db
def test_a_given_sha256_of_an_upload_is_checked_and_may_be_upper_case(engineer, world) -> None:
    build = upload(engineer, world.case, sha256=f"  {BUILD_SHA.upper()} ")
    assert build.sha256 == BUILD_SHA
    internal = fixes.add_build(
        engineer, world.case, url="http://buildbox/artifacts/fix%20v2.zip", sha256=LINK_SHA
    )
    assert (internal.url, internal.filename) == (
        "http://buildbox/artifacts/fix%20v2.zip",
        "fix v2.zip",
    )


@pytest.mark.django_db
@override_settings(MAMORI_MAX_ATTACHMENT_BYTES=10)
def test_an_upload_over_the_limit_is_refused(engineer, world) -> None:
    with pytest.raises(PayloadTooLarge) as refused:
        upload(engineer, world.case, b"x" * 11)
    assert "artifact" in refused.value.problems
    assert PrivateBuild.objects.count() == 0
    assert stored_files("builds") == []
    link(engineer, world.case, 1)
    fixes.submit_for_testing(engineer, world.case, 1)
    run = fixes.start_run(engineer, world.case, 1, ["login"])
    with pytest.raises(PayloadTooLarge) as refused:
        fixes.record_result(engineer, world.case, run.number, 1, "fail", "", ("log", b"x" * 11))
    assert "attachment" in refused.value.problems
    assert TestResult.objects.get().result == "pending"
    assert stored_files("evidence") == []


@pytest.mark.django_db
def test_builds_are_numbered_per_case_and_added_in_development_or_testing(
    admin, engineer, world
) -> None:
    other = factories.case(admin, "CSRF in the portal", products=("portal",))
    with pytest.raises(Conflict, match="in development or in testing; it is received"):
        upload(engineer, other)
    develop(admin, other, world.web)
    assert [upload(engineer, world.case).number, link(engineer, world.case, 2).number] == [1, 2]
    assert upload(engineer, other).number == 1
    with pytest.raises(NotFound, match="no build 3"):
        fixes.submit_for_testing(engineer, world.case, 3)
    factories.pass_tests(engineer, world.case)
    with pytest.raises(Conflict, match="it is ready for release"):
        upload(engineer, world.case)


@pytest.mark.django_db
def test_a_build_of_another_case_is_refused(admin, engineer, world) -> None:
    other = factories.case(admin, "CSRF in the portal", products=("portal",))
    develop(admin, other, world.web)
    foreign = upload(engineer, other)
    upload(engineer, world.case)
    with pytest.raises(InvalidInput) as refused:
        fixes.submit_for_testing(engineer, world.case, foreign)
    assert refused.value.problems == {"build": "build 1 belongs to another case"}
    assert case_row(world.case).state == "in_development"
    mine = PrivateBuild.objects.get(case__tracking_id=world.case)
    fixes.submit_for_testing(engineer, world.case, mine)
    with pytest.raises(InvalidInput) as refused:
        fixes.start_run(engineer, world.case, foreign, ["login"])
    assert refused.value.problems == {"build": "build 1 belongs to another case"}
    with pytest.raises(NotFound, match="no build 3"):
        fixes.start_run(engineer, world.case, 3, ["login"])
    assert fixes.start_run(engineer, world.case, mine, ["login"]).build == mine
    assert TestRun.objects.count() == 1


@pytest.mark.django_db
def test_only_the_latest_build_is_submitted(engineer, world) -> None:
    upload(engineer, world.case)
    link(engineer, world.case, 2)
    with pytest.raises(Conflict, match=r"build 1 is not the latest build \(build 2\)"):
        fixes.submit_for_testing(engineer, world.case, 1)
    assert case_row(world.case).state == "in_development"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("items", "says"),
    [
        ([], "at least one item"),
        (["login", "  "], "item 2 is empty"),
        (["login", "profile", "Login"], "item 3 repeats 'Login'"),
        (["x" * 201], "item 1 is longer than 200 characters"),
        (["ok", "a\x00b"], "item 2 contains a NUL character"),
    ],
)
def test_bad_test_plans_are_refused(engineer, world, items, says) -> None:
    upload(engineer, world.case)
    fixes.submit_for_testing(engineer, world.case, 1)
    before = snapshot(world.case)
    with pytest.raises(InvalidInput) as refused:
        fixes.start_run(engineer, world.case, 1, items)
    assert says in refused.value.problems["items"]
    assert snapshot(world.case) == before


@pytest.mark.django_db
def test_runs_start_in_testing_one_at_a_time(engineer, world) -> None:
    upload(engineer, world.case)
    with pytest.raises(Conflict, match="in testing"):
        fixes.start_run(engineer, world.case, 1, ["login"])
    fixes.submit_for_testing(engineer, world.case, 1)
    fixes.start_run(engineer, world.case, 1, ["login"])
    with pytest.raises(Conflict, match="test run 1 is still open"):
        fixes.start_run(engineer, world.case, 1, ["login"])


@pytest.mark.django_db
def test_results_are_final_once_a_run_is_complete(engineer, world) -> None:
    upload(engineer, world.case)
    fixes.submit_for_testing(engineer, world.case, 1)
    run = run_with(engineer, world.case, 1, {"login": "blocked"})
    with pytest.raises(InvalidInput) as refused:
        fixes.record_result(engineer, world.case, run.number, 1, "maybe")
    assert "result" in refused.value.problems
    with pytest.raises(InvalidInput):
        fixes.record_result(engineer, world.case, run.number, 1, "pending")
    with pytest.raises(NotFound, match="no item 2 in test run 1"):
        fixes.record_result(engineer, world.case, run.number, 2, "pass")
    with pytest.raises(NotFound, match="no test run 5"):
        fixes.record_result(engineer, world.case, 5, 1, "pass")
    fixes.complete_run(engineer, world.case, run.number)
    before = snapshot(world.case)
    with pytest.raises(Conflict, match="test run 1 is blocked: its results are final"):
        fixes.record_result(engineer, world.case, run.number, 1, "pass", "fixed now")
    with pytest.raises(Conflict, match="already blocked"):
        fixes.complete_run(engineer, world.case, run.number)
    assert snapshot(world.case) == before


@pytest.mark.django_db
def test_evidence_files_are_stored_privately_and_replaced(
    engineer, world, django_capture_on_commit_callbacks
) -> None:
    upload(engineer, world.case)
    fixes.submit_for_testing(engineer, world.case, 1)
    run = fixes.start_run(engineer, world.case, 1, ["login"])
    first = fixes.record_result(
        engineer, world.case, run.number, 1, "fail", "see the log", ("../../etc/log.txt", b"one")
    )
    assert STORED_EVIDENCE.match(first.evidence_file.name)
    assert (first.evidence_filename, first.evidence_size) == ("log.txt", 3)
    assert first.evidence_sha256 == hashlib.sha256(b"one").hexdigest()
    found = fixes.evidence(engineer, world.case, run.number, 1)
    assert content(found.evidence_file) == b"one"
    with django_capture_on_commit_callbacks(execute=True):
        second = fixes.record_result(
            engineer, world.case, run.number, 1, "fail", "newer log", ("log2.txt", b"two")
        )
    assert second.evidence_file.name != first.evidence_file.name
    assert [p.name for p in stored_files("evidence")] == [Path(second.evidence_file.name).name]
    with pytest.raises(NotFound):
        fixes.evidence(engineer, world.case, run.number, 2)


# Who may do what -----------------------------------------------------------------------------


def _writes(tid: str) -> list[tuple[str, object]]:
    return [
        ("add_build", lambda u: fixes.add_build(u, tid, url=GOOD_URL, sha256=LINK_SHA)),
        ("submit", lambda u: fixes.submit_for_testing(u, tid, 1)),
        ("start_run", lambda u: fixes.start_run(u, tid, 1, ["login"])),
        ("record", lambda u: fixes.record_result(u, tid, 1, 1, "pass")),
        ("complete", lambda u: fixes.complete_run(u, tid, 1)),
    ]


def _reads(tid: str) -> list[object]:
    return [
        lambda u: fixes.builds(u, tid),
        lambda u: fixes.runs(u, tid),
        lambda u: fixes.view(u, tid),
        lambda u: fixes.get_run(u, tid, 1),
        lambda u: fixes.artifact(u, tid, 1),
    ]


@pytest.fixture
def tested(engineer, world) -> str:
    """The world case in testing with build 1 (uploaded) and run 1 open."""
    upload(engineer, world.case)
    fixes.submit_for_testing(engineer, world.case, 1)
    fixes.start_run(engineer, world.case, 1, ["login"])
    return world.case


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.AUDITOR, Role.RELEASE_MANAGER])
def test_read_only_roles_read_but_may_not_change_anything(tested, role) -> None:
    reader = factories.user(role)
    for read in _reads(tested):
        assert read(reader)  # type: ignore[operator]
    assert fixes.view(reader, tested).can_develop is False
    before = snapshot(tested)
    for name, write in _writes(tested):
        with pytest.raises(PermissionDenied):
            write(reader)  # type: ignore[operator]
        assert snapshot(tested) == before, name


@pytest.mark.django_db
def test_engineers_of_other_teams_and_reporters_find_nothing(admin, world, tested) -> None:
    outsider = factories.user(Role.PRODUCT_ENGINEER, "engineer-billing")
    factories.team(admin, "ops-team", members=(outsider,))
    reporter = factories.user(Role.REPORTER)
    before = snapshot(tested)
    for who in (outsider, reporter):
        for read in _reads(tested):
            with pytest.raises(NotFound):
                read(who)  # type: ignore[operator]
        for name, write in _writes(tested):
            with pytest.raises(NotFound):
                write(who)  # type: ignore[operator]
            assert snapshot(tested) == before, name


@pytest.mark.django_db
def test_a_reporter_finds_nothing_even_on_their_own_case(admin) -> None:
    reporter = factories.user(Role.REPORTER)
    own = factories.case(reporter, "My report")
    with pytest.raises(NotFound):
        fixes.builds(reporter, own)
    with pytest.raises(NotFound):
        fixes.add_build(reporter, own, url=GOOD_URL, sha256=LINK_SHA)
    assert PrivateBuild.objects.count() == 0


@pytest.mark.django_db
def test_an_engineer_joining_the_team_may_work_on_the_case(admin, world, tested) -> None:
    newcomer = factories.user(Role.PRODUCT_ENGINEER)
    with pytest.raises(NotFound):
        fixes.record_result(newcomer, tested, 1, 1, "pass")
    from mamori.products import services as catalogue

    catalogue.set_membership(admin, world.web, newcomer.username, member=True)
    assert fixes.record_result(newcomer, tested, 1, 1, "pass").result == "pass"
