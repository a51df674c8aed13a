"""The fix page: private builds, test runs and their results, with plain forms (no JavaScript).

Each view parses a form, calls one service, and redirects (POST/redirect/GET); a refused value
re-renders the page with the form as it was typed and the problem at its field (status 422).
A refused action (a role, a step the workflow does not allow) comes back as a message.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from mamori.cases.attachments import served_type
from mamori.errors import Conflict, InvalidInput, PermissionDenied
from mamori.fixes import forms, services
from mamori.fixes.models import RunState, TestRun
from mamori.web.downloads import download

#: Refusals shown as a message; "not found" still becomes a 404 page.
REFUSALS = (Conflict, PermissionDenied)

Bound = django_forms.Form | None


def _upload(upload: UploadedFile[bytes] | None) -> services.Upload | None:
    if upload is None or upload.file is None:
        return None
    return (upload.name or "", upload.file)


def _page(
    request: HttpRequest, tracking_id: str, bound: Bound = None, where: tuple[int, int] = (0, 0)
) -> HttpResponse:
    """The page; ``bound`` is a refused form shown as posted (a result form at ``where``)."""
    view = services.view(request.user, tracking_id)
    choices = [(str(v.ref), v.label) for v in view.versions]
    builds = [(b.number, str(b)) for b in reversed(view.builds)]
    latest = view.latest

    def pick(fresh: django_forms.Form) -> django_forms.Form:
        return bound if type(bound) is type(fresh) else fresh

    runs = []
    for run in reversed(view.runs):
        items = []
        for item in run.results.all():
            form: Bound = None
            if run.is_open and view.can_develop:
                form = forms.ResultForm(
                    initial={"result": item.result, "evidence": item.evidence},
                    auto_id=f"run{run.number}-item{item.position}-%s",
                )
                if isinstance(bound, forms.ResultForm) and where == (run.number, item.position):
                    form = bound
            items.append((item, form))
        runs.append((run, items))
    context = {
        "view": view,
        "case": view.case,
        "runs": runs,
        "build_form": pick(forms.BuildForm(versions=choices)),
        "run_form": pick(
            forms.RunForm(builds=builds, initial={"build": latest.number if latest else None})
        ),
        "complete_form": pick(forms.CompleteForm()),
    }
    return render(request, "fixes/fix.html", context, status=422 if bound is not None else 200)


@login_required
@require_GET
def fix(request: HttpRequest, tracking_id: str) -> HttpResponse:
    return _page(request, tracking_id)


def _change(
    request: HttpRequest,
    tracking_id: str,
    form: django_forms.Form,
    apply: Callable[[], object],
    done: str | Callable[[object], str],
    where: tuple[int, int] = (0, 0),
) -> HttpResponse:
    """Validate ``form`` and run ``apply``; re-render with the problems, or redirect."""
    if form.is_valid():
        try:
            outcome = apply()
        except InvalidInput as error:
            forms.show_problems(form, error)
        except REFUSALS as error:
            messages.error(request, error.message)
            return redirect("fixes:fix", tracking_id=tracking_id)
        else:
            messages.success(request, done(outcome) if callable(done) else done)
            return redirect("fixes:fix", tracking_id=tracking_id)
    return _page(request, tracking_id, form, where)


@login_required
@require_POST
def add_build(request: HttpRequest, tracking_id: str) -> HttpResponse:
    view = services.view(request.user, tracking_id)
    choices = [(str(v.ref), v.label) for v in view.versions]
    form = forms.BuildForm(request.POST, request.FILES, versions=choices)

    def apply() -> object:
        d = form.cleaned_data
        return services.add_build(
            request.user,
            tracking_id,
            artifact=_upload(d["artifact"]),
            url=d["url"],
            sha256=d["sha256"],
            versions=d["versions"],
            notes=d["notes"],
        )

    return _change(request, tracking_id, form, apply, _("Build added."))


@login_required
@require_POST
def submit(request: HttpRequest, tracking_id: str, number: int) -> HttpResponse:
    try:
        services.submit_for_testing(request.user, tracking_id, number)
    except (InvalidInput, *REFUSALS) as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Build %(number)s is in testing.") % {"number": number})
    return redirect("fixes:fix", tracking_id=tracking_id)


@login_required
@require_POST
def start_run(request: HttpRequest, tracking_id: str) -> HttpResponse:
    builds = [(b.number, str(b)) for b in services.builds(request.user, tracking_id)]
    form = forms.RunForm(request.POST, builds=builds)

    def apply() -> object:
        d = form.cleaned_data
        return services.start_run(request.user, tracking_id, d["build"], form.item_names())

    return _change(request, tracking_id, form, apply, _("Test run started."))


@login_required
@require_POST
def record_result(
    request: HttpRequest, tracking_id: str, number: int, position: int
) -> HttpResponse:
    form = forms.ResultForm(request.POST, request.FILES, auto_id=f"run{number}-item{position}-%s")

    def apply() -> object:
        d = form.cleaned_data
        return services.record_result(
            request.user,
            tracking_id,
            number,
            position,
            d["result"],
            d["evidence"],
            _upload(d["attachment"]),
        )

    done = _("Result recorded.")
    return _change(request, tracking_id, form, apply, done, (number, position))


@login_required
@require_POST
def complete_run(request: HttpRequest, tracking_id: str, number: int) -> HttpResponse:
    form = forms.CompleteForm(request.POST)

    def apply() -> object:
        return services.complete_run(
            request.user, tracking_id, number, form.cleaned_data["summary"]
        )

    def done(run: object) -> str:
        assert isinstance(run, TestRun)
        text = {
            RunState.PASSED: _("Test run %(number)s passed."),
            RunState.FAILED: _("Test run %(number)s failed: the case is back in development."),
            RunState.BLOCKED: _("Test run %(number)s is blocked."),
        }[RunState(run.state)] % {"number": run.number}
        if run.case.state == "ready_for_release":
            text += " " + _("The case is ready for release.")
        return text

    return _change(request, tracking_id, form, apply, done)


@login_required
@require_GET
def artifact(request: HttpRequest, tracking_id: str, number: int) -> FileResponse:
    build = services.artifact(request.user, tracking_id, number)
    return download(build.artifact.open("rb"), build.filename, served_type(build.content_type))


@login_required
@require_GET
def evidence(request: HttpRequest, tracking_id: str, number: int, position: int) -> FileResponse:
    item = services.evidence(request.user, tracking_id, number, position)
    stream = item.evidence_file.open("rb")
    return download(stream, item.evidence_filename, served_type(item.evidence_content_type))
