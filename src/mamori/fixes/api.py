"""The fixes' JSON API: private builds, test runs and their results."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from django.http import FileResponse, HttpRequest
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field
from pydantic import ValidationError as PydanticError

from mamori.cases.attachments import served_type
from mamori.errors import InvalidInput
from mamori.fixes import services
from mamori.fixes.models import PrivateBuild, TestResult, TestRun
from mamori.web.downloads import download

router = Router(tags=["fixes"])

VersionName = Annotated[str, Field(max_length=200)]
ItemName = Annotated[str, Field(max_length=services.MAX_ITEM)]


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class BuildIn(Strict):
    url: str = Field("", max_length=services.MAX_URL)
    sha256: str = Field("", max_length=100)
    versions: list[VersionName] = Field(default_factory=list, max_length=200)
    notes: str = Field("", max_length=services.MAX_TEXT)


class BuildOut(Schema):
    number: int
    reference: str
    kind: str  # "upload" or "link"
    url: str
    filename: str
    size: int | None
    sha256: str
    content_type: str
    versions: list[str]  # product/version
    notes: str
    created_by: str | None
    created_at: datetime
    download: str | None  # the API path of an uploaded build


def _build(build: PrivateBuild) -> BuildOut:
    tid = build.case.tracking_id
    return BuildOut(
        number=build.number,
        reference=build.reference,
        kind="upload" if build.artifact else "link",
        url=build.url,
        filename=build.filename,
        size=build.size,
        sha256=build.sha256,
        content_type=build.content_type,
        versions=[f"{v.product.slug}/{v.name}" for v in build.versions.all()],
        notes=build.notes,
        created_by=build.created_by.username if build.created_by else None,
        created_at=build.created_at,
        download=f"/api/cases/{tid}/builds/{build.number}/artifact" if build.artifact else None,
    )


class EvidenceFileOut(Schema):
    filename: str
    size: int | None
    sha256: str
    download: str


class ResultOut(Schema):
    position: int
    name: str
    result: str
    evidence: str
    evidence_file: EvidenceFileOut | None
    recorded_by: str | None
    recorded_at: datetime | None


class RunOut(Schema):
    number: int
    build: int
    state: str
    summary: str
    started_by: str | None
    started_at: datetime
    completed_by: str | None
    completed_at: datetime | None
    results: list[ResultOut]
    case_state: str  # where the case stands after this request


def _result(run: TestRun, item: TestResult) -> ResultOut:
    path = f"/api/cases/{run.case.tracking_id}/runs/{run.number}/results/{item.position}"
    return ResultOut(
        position=item.position,
        name=item.name,
        result=item.result,
        evidence=item.evidence,
        evidence_file=EvidenceFileOut(
            filename=item.evidence_filename,
            size=item.evidence_size,
            sha256=item.evidence_sha256,
            download=f"{path}/evidence",
        )
        if item.evidence_file
        else None,
        recorded_by=item.recorded_by.username if item.recorded_by else None,
        recorded_at=item.recorded_at,
    )


def _run(run: TestRun) -> RunOut:
    return RunOut(
        number=run.number,
        build=run.build.number,
        state=run.state,
        summary=run.summary,
        started_by=run.started_by.username if run.started_by else None,
        started_at=run.started_at,
        completed_by=run.completed_by.username if run.completed_by else None,
        completed_at=run.completed_at,
        results=[_result(run, item) for item in run.results.all()],
        case_state=run.case.state,
    )


# Builds --------------------------------------------------------------------------------------


@router.get("/cases/{tracking_id}/builds", response=list[BuildOut])
def list_builds(request: HttpRequest, tracking_id: str) -> list[BuildOut]:
    return [_build(b) for b in services.builds(request.user, tracking_id)]


MULTIPART_FIELDS = ("url", "sha256", "notes")


def _problems(error: PydanticError) -> InvalidInput:
    return InvalidInput(
        {".".join(str(p) for p in e["loc"]) or "body": e["msg"] for e in error.errors()}
    )


def _from_json(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        raise InvalidInput("the request body must be JSON or multipart", field="body") from None
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object", field="body")
    try:
        return BuildIn.model_validate(data).model_dump()
    except PydanticError as error:
        raise _problems(error) from None


def _from_multipart(request: HttpRequest) -> dict[str, Any]:
    unknown = (set(request.POST) - {*MULTIPART_FIELDS, "versions"}) | (
        set(request.FILES) - {"artifact"}
    )
    if unknown:
        raise InvalidInput({name[:64]: "Extra inputs are not permitted" for name in unknown})
    given: dict[str, Any] = {}
    for name in MULTIPART_FIELDS:
        values = request.POST.getlist(name)
        if len(values) > 1:
            raise InvalidInput("give it once", field=name)
        given[name] = values[0] if values else ""
    given["versions"] = request.POST.getlist("versions")
    try:
        fields = BuildIn.model_validate(given).model_dump()
    except PydanticError as error:
        raise _problems(error) from None
    files = request.FILES.getlist("artifact")
    if len(files) > 1:
        raise InvalidInput("one file per build", field="artifact")
    if files and files[0].file is not None:
        fields["artifact"] = (files[0].name or "", files[0].file)
    return fields


@router.post(
    "/cases/{tracking_id}/builds",
    response={201: BuildOut},
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": BuildIn.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "artifact": {"type": "string", "format": "binary"},
                            "sha256": {"type": "string"},
                            "versions": {"type": "array", "items": {"type": "string"}},
                            "notes": {"type": "string"},
                        },
                        "required": ["artifact"],
                    }
                },
            }
        }
    },
)
def add_build(request: HttpRequest, tracking_id: str) -> Status[BuildOut]:
    """A link to a build as JSON (``url``, ``sha256``, ``versions`` as product/version,
    ``notes``), or an uploaded build as multipart (``artifact`` and the same fields; a given
    ``sha256`` must match the file's)."""
    multipart = request.content_type == "multipart/form-data"
    fields = _from_multipart(request) if multipart else _from_json(request)
    build = services.add_build(request.user, tracking_id, **fields)
    return Status(201, _build(build))


@router.get("/cases/{tracking_id}/builds/{number}/artifact")
def build_artifact(request: HttpRequest, tracking_id: str, number: int) -> FileResponse:
    build = services.artifact(request.user, tracking_id, number)
    return download(build.artifact.open("rb"), build.filename, served_type(build.content_type))


class SubmittedOut(Schema):
    tracking_id: str
    state: str
    build_reference: str


@router.post("/cases/{tracking_id}/builds/{number}/submit", response=SubmittedOut)
def submit_build(request: HttpRequest, tracking_id: str, number: int) -> SubmittedOut:
    case = services.submit_for_testing(request.user, tracking_id, number)
    return SubmittedOut(
        tracking_id=case.tracking_id, state=case.state, build_reference=case.build_reference
    )


# Test runs -----------------------------------------------------------------------------------


@router.get("/cases/{tracking_id}/runs", response=list[RunOut])
def list_runs(request: HttpRequest, tracking_id: str) -> list[RunOut]:
    return [_run(r) for r in services.runs(request.user, tracking_id)]


class RunIn(Strict):
    build: int
    items: list[ItemName] = Field(max_length=services.MAX_ITEMS)


@router.post("/cases/{tracking_id}/runs", response={201: RunOut})
def start_run(request: HttpRequest, tracking_id: str, body: RunIn) -> Status[RunOut]:
    run = services.start_run(request.user, tracking_id, body.build, body.items)
    return Status(201, _run(services.get_run(request.user, tracking_id, run.number)))


class ResultIn(Strict):
    result: str = Field(max_length=16)
    evidence: str = Field("", max_length=services.MAX_TEXT)


@router.put("/cases/{tracking_id}/runs/{number}/results/{position}", response=ResultOut)
def record_result(
    request: HttpRequest, tracking_id: str, number: int, position: int, body: ResultIn
) -> ResultOut:
    services.record_result(request.user, tracking_id, number, position, body.result, body.evidence)
    run = services.get_run(request.user, tracking_id, number)
    return _result(run, next(i for i in run.results.all() if i.position == position))


@router.get("/cases/{tracking_id}/runs/{number}/results/{position}/evidence")
def result_evidence(
    request: HttpRequest, tracking_id: str, number: int, position: int
) -> FileResponse:
    item = services.evidence(request.user, tracking_id, number, position)
    stream = item.evidence_file.open("rb")
    return download(stream, item.evidence_filename, served_type(item.evidence_content_type))


class CompleteIn(Strict):
    summary: str = Field("", max_length=services.MAX_TEXT)


@router.post("/cases/{tracking_id}/runs/{number}/complete", response=RunOut)
def complete_run(request: HttpRequest, tracking_id: str, number: int, body: CompleteIn) -> RunOut:
    """Decide the run (the body may be ``{}``): a failed run sends the case back to development,
    a passed run on the latest build moves it to ready for release."""
    services.complete_run(request.user, tracking_id, number, body.summary)
    return _run(services.get_run(request.user, tracking_id, number))
