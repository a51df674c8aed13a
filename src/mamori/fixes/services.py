"""Fixes: the only entry point for views, the API, the CLI and other apps.

The product team adds a private build of the fix (an uploaded artifact, or a link to one with its
SHA-256) and submits it for testing: the case moves from in_development to in_testing naming the
build. A test run lists the items of a test plan; each item gets a result with its evidence.
Completing a run decides it: every item passed → passed; any item failed → failed, and the case
goes back to development through the workflow's rework step with the failures as the reason;
nothing failed but something blocked → blocked (the case stays in testing). A passed run on the
case's latest build moves the case on to ready_for_release, whose gate asks for exactly that: a
passed run on the build that will ship (``shipping_facts``, registered in ``hooks``).

Authorization happens here: every internal user who can see the case reads
(``CASE_VIEW_INTERNAL``); changes need ``CASE_DEVELOP`` within the user's case scope (product
engineers: their teams' cases). A case the user cannot see is "not found", whatever they try.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import IO, NamedTuple, TypeVar
from urllib.parse import unquote, urlsplit

from django.core.files import File
from django.db import transaction
from django.db.models import Max, Model

from mamori.accounts.models import User
from mamori.accounts.services import AnyUser, can, require
from mamori.cases import services as cases
from mamori.cases.attachments import display_name, inspect
from mamori.cases.audit import AuditLog
from mamori.cases.models import Case
from mamori.core.authz import Action
from mamori.core.workflow import State, StepInput
from mamori.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from mamori.fixes.models import Outcome, PrivateBuild, RunState, TestResult, TestRun
from mamori.products import services as catalogue

SHA256 = re.compile(r"[0-9a-f]{64}\Z")
MAX_TEXT = 20_000
MAX_ITEM = 200
MAX_ITEMS = 500
#: How much of each failure's evidence the rework reason quotes, and of the reason in all.
QUOTED_EVIDENCE = 2_000
MAX_REASON = 90_000
BUILD_STATES = (State.IN_DEVELOPMENT, State.IN_TESTING)
RESULTS = (Outcome.PASS, Outcome.FAIL, Outcome.BLOCKED)

#: An uploaded file: its name as given, and its content.
Upload = tuple[str, bytes | IO[bytes]]
MAX_URL = 2000
LINK_SCHEMES = ("http", "https")
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")

T = TypeVar("T")


class VersionRef(NamedTuple):
    """A product version as users name it: ``portal/2.4`` (product slugs have no slash)."""

    product: str
    version: str

    @classmethod
    def parse(cls, text: str) -> VersionRef:
        product, slash, version = text.strip().partition("/")
        if not slash or not product.strip() or not version.strip():
            raise InvalidInput(
                f"{text[:100]!r}: name a version as product/version, e.g. portal/2.4",
                field="versions",
            )
        return cls(product.strip(), version.strip())

    def __str__(self) -> str:
        return f"{self.product}/{self.version}"


@dataclass(frozen=True)
class VersionChoice:
    """A version a build of this case may target."""

    ref: VersionRef
    product_name: str
    version_name: str

    @property
    def label(self) -> str:
        return f"{self.product_name} {self.version_name}"


# Reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixView:
    case: Case
    builds: list[PrivateBuild]
    runs: list[TestRun]
    versions: list[VersionChoice]
    can_develop: bool

    @property
    def latest(self) -> PrivateBuild | None:
        return self.builds[-1] if self.builds else None

    @property
    def open_run(self) -> TestRun | None:
        return next((run for run in self.runs if run.is_open), None)

    @property
    def accepts_builds(self) -> bool:
        return self.case.state_enum in BUILD_STATES


def _builds(case: Case) -> list[PrivateBuild]:
    return list(
        PrivateBuild.objects.filter(case=case)
        .select_related("case", "created_by")
        .prefetch_related("versions__product")
        .order_by("number")
    )


def _runs(case: Case) -> list[TestRun]:
    return list(
        TestRun.objects.filter(case=case)
        .select_related("case", "build", "started_by", "completed_by")
        .prefetch_related("results__recorded_by")
        .order_by("number")
    )


def builds(user: AnyUser, tracking_id: str) -> list[PrivateBuild]:
    return _builds(cases.internal_case(user, tracking_id))


def runs(user: AnyUser, tracking_id: str) -> list[TestRun]:
    return _runs(cases.internal_case(user, tracking_id))


def view(user: AnyUser, tracking_id: str) -> FixView:
    case = cases.internal_case(user, tracking_id)
    versions = [
        VersionChoice(VersionRef(v.product.slug, v.name), v.product.name, v.name)
        for v in catalogue.versions_of(case.products.all())
    ]
    return FixView(case, _builds(case), _runs(case), versions, can(user, Action.CASE_DEVELOP))


def get_run(user: AnyUser, tracking_id: str, number: int) -> TestRun:
    case = cases.internal_case(user, tracking_id)
    found = next((run for run in _runs(case) if run.number == number), None)
    if found is None:
        raise NotFound(f"no test run {number} on {case.tracking_id}")
    return found


def artifact(user: AnyUser, tracking_id: str, number: int) -> PrivateBuild:
    """An uploaded build to download; links have nothing stored."""
    build = _build(cases.internal_case(user, tracking_id), number)
    if not build.artifact:
        raise NotFound(f"build {number} is a link, not an uploaded file")
    return build


def evidence(user: AnyUser, tracking_id: str, run: int, position: int) -> TestResult:
    """A result whose evidence file can be downloaded."""
    item = _item(_run(cases.internal_case(user, tracking_id), run), position)
    if not item.evidence_file:
        raise NotFound(f"item {position} of test run {run} has no evidence file")
    return item


def shipping_facts(case: Case) -> dict[str, object]:
    """For the ready_for_release gate: the build that will ship (the latest) and whether a test
    run on exactly that build passed."""
    latest = PrivateBuild.objects.filter(case=case).order_by("-number").first()
    if latest is None:
        return {"shipping_build": "", "shipping_build_passed": False}
    passed = TestRun.objects.filter(build=latest, state=RunState.PASSED).exists()
    return {"shipping_build": str(latest), "shipping_build_passed": passed}


# Helpers -------------------------------------------------------------------------------------


def _writable(user: AnyUser, tracking_id: str) -> tuple[User, Case]:
    """The case locked for a change, and the actor. Those who cannot see the case (reporters
    included) get "not found" before their role is looked at; others without the right role
    get "forbidden"."""
    case = cases.lock_case(user, tracking_id)
    return require(user, Action.CASE_DEVELOP), case


def _in_state(case: Case, states: Sequence[State], what: str) -> None:
    if case.state_enum not in states:
        allowed = " or ".join(s.label.lower() for s in states)
        raise Conflict(f"{what} while the case is {allowed}; it is {case.state_enum.label.lower()}")


def _text(value: str, name: str, limit: int = MAX_TEXT) -> str:
    value = value.strip()
    if "\x00" in value:
        raise InvalidInput("must not contain NUL characters", field=name)
    if len(value) > limit:
        raise InvalidInput(f"at most {limit} characters", field=name)
    return value


def _next_number(model: type[Model], case: Case) -> int:
    """The next number of ``model`` on ``case``; the case is locked, so it is not taken twice."""
    highest = model._default_manager.filter(case=case).aggregate(Max("number"))["number__max"]
    return (highest or 0) + 1


def _build(case: Case, ref: int | PrivateBuild) -> PrivateBuild:
    if isinstance(ref, PrivateBuild):
        if ref.case_id != case.pk:
            raise InvalidInput(f"{ref} belongs to another case", field="build")
        ref = ref.number
    found = PrivateBuild.objects.filter(case=case, number=ref).first()
    if found is None:
        raise NotFound(f"no build {ref} on {case.tracking_id}")
    return found


def _latest(case: Case) -> PrivateBuild | None:
    return PrivateBuild.objects.filter(case=case).order_by("-number").first()


def _run(case: Case, ref: int | TestRun) -> TestRun:
    if isinstance(ref, TestRun):
        if ref.case_id != case.pk:
            raise InvalidInput(f"{ref} belongs to another case", field="run")
        ref = ref.number
    found = TestRun.objects.filter(case=case, number=ref).select_related("build").first()
    if found is None:
        raise NotFound(f"no test run {ref} on {case.tracking_id}")
    return found


def _item(run: TestRun, position: int) -> TestResult:
    found = run.results.filter(position=position).first()
    if found is None:
        raise NotFound(f"no item {position} in test run {run.number}")
    return found


def _collect(problems: dict[str, str], step: Callable[[], T]) -> T | None:
    """Run one check; its problems join ``problems`` (the first problem of a field wins)."""
    try:
        return step()
    except PayloadTooLarge:
        raise
    except InvalidInput as error:
        for name, problem in error.problems.items():
            problems.setdefault(name, problem)
        return None


@dataclass(frozen=True)
class _Link:
    url: str
    filename: str  # the last part of the path, for display


def _link(url: str) -> _Link:
    """A link to a build: http or https, a host, no credentials, no spaces or controls."""
    if len(url) > MAX_URL:
        raise InvalidInput(f"at most {MAX_URL} characters", field="url")
    if _CONTROL.search(url):
        raise InvalidInput("must not contain spaces or control characters", field="url")
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port
    except ValueError:
        raise InvalidInput("not a valid URL", field="url") from None
    if parts.scheme.lower() not in LINK_SCHEMES:
        raise InvalidInput("must be an http:// or https:// URL", field="url")
    if not host:
        raise InvalidInput("must name a host", field="url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("must not carry credentials (user:password@)", field="url")
    last = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    return _Link(url, display_name(last) if last else host)


def _digest(value: str) -> str:
    """A SHA-256 as given by a user: 64 hex digits ("" if none was given)."""
    text = value.strip().lower()
    if text and not SHA256.match(text):
        raise InvalidInput("a SHA-256 is 64 hexadecimal digits", field="sha256")
    return text


@dataclass(frozen=True)
class _Checked:
    """An upload that passed the checks, ready to be stored."""

    filename: str
    stream: IO[bytes]
    size: int
    content_type: str
    sha256: str


def _check_upload(upload: Upload, field: str) -> _Checked:
    name, content = upload
    stream: IO[bytes] = io.BytesIO(content) if isinstance(content, bytes) else content
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    if size == 0:
        raise InvalidInput("the file is empty", field=field)
    try:
        sniffed, digest = inspect(stream, size)
    except PayloadTooLarge as error:
        raise PayloadTooLarge(next(iter(error.problems.values())), field=field) from None
    return _Checked(display_name(name), stream, size, sniffed, digest)


def _targets(case: Case, refs: Iterable[str | tuple[str, str]]) -> list[object]:
    """The case's product versions named by ``refs``; each must be a version of one of the
    case's products."""
    available = {
        VersionRef(v.product.slug, v.name): v for v in catalogue.versions_of(case.products.all())
    }
    chosen: list[object] = []
    foreign: list[str] = []
    for raw in refs:
        ref = VersionRef.parse(raw) if isinstance(raw, str) else VersionRef(*raw)
        if "\x00" in str(ref):
            raise InvalidInput("must not contain NUL characters", field="versions")
        found = available.get(ref)
        if found is None:
            try:
                catalogue.resolve_version(ref.product, ref.version)
            except InvalidInput as error:
                raise InvalidInput(error.problems["version"], field="versions") from None
            foreign.append(str(ref))
        elif found not in chosen:
            chosen.append(found)
    if foreign:
        raise InvalidInput(
            f"not a version of the case's products: {', '.join(foreign)}", field="versions"
        )
    return chosen


# Builds --------------------------------------------------------------------------------------


@transaction.atomic
def add_build(
    user: AnyUser,
    tracking_id: str,
    *,
    artifact: Upload | None = None,
    url: str = "",
    sha256: str = "",
    versions: Iterable[str | tuple[str, str]] = (),
    notes: str = "",
) -> PrivateBuild:
    """Add the next private build: an uploaded file (its SHA-256 is computed, and compared with
    ``sha256`` if one is given) or a link with the build's SHA-256."""
    actor, case = _writable(user, tracking_id)
    _in_state(case, BUILD_STATES, "builds are added")
    problems: dict[str, str] = {}
    url = url.strip()
    if (artifact is None) == (not url):
        problems["artifact"] = (
            "give either an uploaded build or a link to one, not both"
            if url
            else "give an uploaded build or a link to one (url)"
        )
    digest = _collect(problems, lambda: _digest(sha256)) or ""
    link = _collect(problems, lambda: _link(url)) if url else None
    checked = None
    if artifact is not None and not url:
        checked = _collect(problems, lambda: _check_upload(artifact, "artifact"))
    targets = _collect(problems, lambda: _targets(case, versions)) or []
    notes = _collect(problems, lambda: _text(notes, "notes")) or ""
    if link and not digest and "sha256" not in problems:
        problems["sha256"] = "required with a link: the SHA-256 of the build (64 hex digits)"
    if checked and digest and digest != checked.sha256:
        problems["sha256"] = f"does not match the uploaded file, whose SHA-256 is {checked.sha256}"
    if problems:
        raise InvalidInput(problems)
    build = PrivateBuild(
        case=case,
        number=_next_number(PrivateBuild, case),
        url=link.url if link else "",
        sha256=checked.sha256 if checked else digest,
        size=checked.size if checked else None,
        filename=checked.filename if checked else link.filename if link else "",
        content_type=checked.content_type if checked else "",
        notes=notes,
        created_by=actor,
    )
    _save_with_file(build, "artifact", checked)
    build.versions.set(targets)  # type: ignore[arg-type]
    log = AuditLog(case, actor)
    where = f"{build.filename}, {build.size} bytes" if checked else build.url
    log.add("build", "build", "", f"{build.reference} {where}"[:10_000])
    if targets:
        log.add("build", f"build {build.number} versions", "", ", ".join(map(str, targets)))
    log.save()
    return build


def _save_with_file(instance: Model, field: str, checked: _Checked | None) -> None:
    """Write the file (if any) and then the row; a failed row takes its file with it."""
    stored = getattr(instance, field)
    try:
        if checked is not None:
            stored.save("upload", File(checked.stream), save=False)
        instance.save()
    except BaseException:
        if stored.name:
            stored.storage.delete(stored.name)
        raise


@transaction.atomic
def submit_for_testing(user: AnyUser, tracking_id: str, build: int | PrivateBuild) -> Case:
    """Move the case from in_development to in_testing with ``build``, which must be the latest
    build: the one that will ship."""
    actor, case = _writable(user, tracking_id)
    target = _build(case, build)
    latest = _latest(case)
    if latest is not None and latest.pk != target.pk:
        raise Conflict(f"{target} is not the latest build ({latest}): submit the build that ships")
    given = StepInput(build_reference=target.reference, reason=f"{target} ready for testing")
    return cases.transition(actor, tracking_id, State.IN_TESTING.value, given)


# Test runs -----------------------------------------------------------------------------------


def _items(items: Sequence[str]) -> list[str]:
    names = [item.strip() for item in items]
    if not names:
        raise InvalidInput("a test run needs at least one item", field="items")
    if len(names) > MAX_ITEMS:
        raise InvalidInput(f"at most {MAX_ITEMS} items", field="items")
    problems: list[str] = []
    seen: set[str] = set()
    for number, name in enumerate(names, 1):
        if not name:
            problems.append(f"item {number} is empty")
        elif len(name) > MAX_ITEM:
            problems.append(f"item {number} is longer than {MAX_ITEM} characters")
        elif "\x00" in name:
            problems.append(f"item {number} contains a NUL character")
        elif name.casefold() in seen:
            problems.append(f"item {number} repeats {name[:60]!r}")
        seen.add(name.casefold())
    if problems:
        raise InvalidInput("; ".join(problems), field="items")
    return names


@transaction.atomic
def start_run(
    user: AnyUser, tracking_id: str, build: int | PrivateBuild, items: Sequence[str]
) -> TestRun:
    """Start a test run of ``build`` with one result (pending) per item of the test plan."""
    actor, case = _writable(user, tracking_id)
    _in_state(case, (State.IN_TESTING,), "test runs start")
    target = _build(case, build)
    names = _items(items)
    still_open = TestRun.objects.filter(case=case, state=RunState.OPEN).first()
    if still_open is not None:
        raise Conflict(f"test run {still_open.number} is still open: complete it first")
    run = TestRun.objects.create(
        case=case, build=target, number=_next_number(TestRun, case), started_by=actor
    )
    TestResult.objects.bulk_create(
        TestResult(run=run, position=position, name=name) for position, name in enumerate(names, 1)
    )
    log = AuditLog(case, actor, run.started_at)
    log.add("test_run", f"test run {run.number}", "", f"open: {target}, {len(names)} items")
    log.save()
    return run


@transaction.atomic
def record_result(
    user: AnyUser,
    tracking_id: str,
    run: int | TestRun,
    position: int,
    result: str,
    evidence: str = "",
    attachment: Upload | None = None,
) -> TestResult:
    """Record the result of one item of an open run, with its evidence (text, and a file)."""
    actor, case = _writable(user, tracking_id)
    target = _run(case, run)
    if not target.is_open:
        raise Conflict(f"test run {target.number} is {target.state}: its results are final")
    item = _item(target, position)
    problems: dict[str, str] = {}
    outcome = result.strip().lower()
    if outcome not in {r.value for r in RESULTS}:
        problems["result"] = "must be one of " + ", ".join(r.value for r in RESULTS)
    evidence = _collect(problems, lambda: _text(evidence, "evidence")) or ""
    checked = None
    if attachment is not None:
        checked = _collect(problems, lambda: _check_upload(attachment, "attachment"))
    if problems:
        raise InvalidInput(problems)
    log = AuditLog(case, actor)
    where = f"run {target.number} item {position}"
    log.change(where, item.result, outcome, action="test_result")
    log.change(f"{where} evidence", item.evidence, evidence, action="test_result")
    replaced = item.evidence_file.name if checked else ""
    item.result, item.evidence = outcome, evidence
    item.recorded_by, item.recorded_at = actor, log.at
    if checked is not None:
        item.evidence_filename = checked.filename
        item.evidence_content_type = checked.content_type
        item.evidence_size = checked.size
        item.evidence_sha256 = checked.sha256
        log.add("test_result", f"{where} file", "", f"{checked.filename} (sha256:{checked.sha256})")
    _save_with_file(item, "evidence_file", checked)
    if replaced:
        storage = item.evidence_file.storage
        transaction.on_commit(lambda: storage.delete(replaced))
    log.save()
    return item


def _outcome(results: Sequence[TestResult]) -> RunState:
    """What a run comes to; pending items keep it from completing unless something failed."""
    if any(r.result == Outcome.FAIL for r in results):
        return RunState.FAILED
    pending = [f"{r.position}. {r.name}" for r in results if r.result == Outcome.PENDING]
    if pending:
        raise InvalidInput(f"items still pending: {'; '.join(pending)}", field="results")
    if any(r.result == Outcome.BLOCKED for r in results):
        return RunState.BLOCKED
    return RunState.PASSED


def _counts(results: Sequence[TestResult]) -> str:
    counted = [(o, sum(1 for r in results if r.result == o)) for o in Outcome]
    return ", ".join(f"{n} {o.label.lower()}" for o, n in counted if n)


def failure_report(run: TestRun, results: Sequence[TestResult]) -> str:
    """The rework step's reason: the failed items with their evidence."""
    lines = [f"Test run {run.number} of {run.build.reference} failed. The failures:"]
    failed = [r for r in results if r.result == Outcome.FAIL]
    for shown, r in enumerate(failed):
        if sum(len(line) + 1 for line in lines) > MAX_REASON:
            lines.append(f"… and {len(failed) - shown} more (see test run {run.number})")
            break
        text = r.evidence if len(r.evidence) <= QUOTED_EVIDENCE else r.evidence[:QUOTED_EVIDENCE]
        line = f"- {r.position}. {r.name}: " + (text.replace("\n", "\n  ") or "(no evidence)")
        if len(r.evidence) > QUOTED_EVIDENCE:
            line += " …"
        if r.evidence_filename:
            line += f"\n  evidence file: {r.evidence_filename} (sha256:{r.evidence_sha256})"
        lines.append(line)
    return "\n".join(lines)


@transaction.atomic
def complete_run(user: AnyUser, tracking_id: str, run: int | TestRun, summary: str = "") -> TestRun:
    """Decide an open run. A failed run sends the case back to development (the rework step);
    a passed run on the latest build moves it to ready_for_release. Both go through the
    workflow, so its gates apply."""
    actor, case = _writable(user, tracking_id)
    target = _run(case, run)
    if not target.is_open:
        raise Conflict(f"test run {target.number} is already {target.state}")
    summary = _text(summary, "summary")
    results = list(target.results.order_by("position"))
    state = _outcome(results)
    log = AuditLog(case, actor)
    log.change(f"test run {target.number}", target.state, state.value, action="test_run")
    target.state = state.value
    target.summary = summary or _counts(results)
    target.completed_by, target.completed_at = actor, log.at
    target.save()
    log.save()
    latest = _latest(case)
    if case.state_enum is State.IN_TESTING:
        if state is RunState.FAILED:
            given = StepInput(reason=failure_report(target, results))
            cases.transition(actor, tracking_id, State.IN_DEVELOPMENT.value, given)
        elif state is RunState.PASSED and latest is not None and latest.pk == target.build_id:
            report = (
                f"Test run {target.number} of {target.build.reference} passed: {target.summary}"
            )
            given = StepInput(reason=report)
            cases.transition(actor, tracking_id, State.READY_FOR_RELEASE.value, given)
    return _run(case, target.number)  # its case as it now stands
