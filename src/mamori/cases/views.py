"""Case pages. Each view parses a form, calls one service, and renders or redirects."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from mamori.accounts.services import internal_users
from mamori.assessment import services as assessment
from mamori.cases import forms, services
from mamori.core.channels import Channel
from mamori.core.workflow import StepInput
from mamori.errors import Conflict, Error, InvalidInput, PermissionDenied
from mamori.fixes import services as fixes
from mamori.products import services as catalogue
from mamori.releases import services as releases
from mamori.web.downloads import attachment_response

#: Errors shown on the case page as a message; "not found" still becomes a 404 page.
REFUSALS = (InvalidInput, Conflict, PermissionDenied)
#: States in which the case page offers possible duplicates.
DUPLICATE_CHECK_STATES = frozenset({"received", "triage", "reproducing"})


def _product_choices(request: HttpRequest) -> list[tuple[str, str]]:
    return [(p.slug, p.name) for p in catalogue.list_products(request.user)]


def _invalid(form: object) -> InvalidInput:
    errors = getattr(form, "errors", {})
    return InvalidInput({name: "; ".join(problems) for name, problems in errors.items()})


def _back(request: HttpRequest, tracking_id: str, error: Error | None = None) -> HttpResponse:
    if error is not None:
        messages.error(request, error.message)
    return redirect("cases:detail", tracking_id=tracking_id)


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    services.ensure_internal(request.user)
    form = forms.QueueForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    filters = services.QueueFilter(
        states=tuple(data.get("state") or ()),
        product=data.get("product", ""),
        team=data.get("team", ""),
        assignee=data.get("assignee", ""),
        severity=data.get("severity", ""),
        include_done=data.get("include_done", False),
    )
    cases = services.queue(request.user, filters)[:500]
    return render(request, "cases/queue.html", {"form": form, "cases": cases})


@login_required
@require_GET
def mine(request: HttpRequest) -> HttpResponse:
    cases = services.queue(request.user, services.QueueFilter(include_done=True))
    return render(request, "cases/mine.html", {"cases": cases})


@login_required
def new(request: HttpRequest) -> HttpResponse:
    internal = services.is_internal(request.user)
    post = request.POST if request.method == "POST" else None
    form = (
        forms.CaseForm(post, products=_product_choices(request))
        if internal
        else forms.ReportForm(post)
    )
    if post is not None and form.is_valid():
        data = form.cleaned_data
        draft = services.CaseDraft(
            title=data["title"],
            description=data["description"],
            source=Channel(data.get("source", Channel.WEB.value)),
            products=tuple(data.get("products", ())),
            reporter_name=data.get("reporter_name", ""),
            reporter_email=data.get("reporter_email", ""),
            reporter_organisation=data.get("reporter_organisation", ""),
        )
        try:
            case = services.create_case(request.user, draft)
        except InvalidInput as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"{case.tracking_id} created.")
            return redirect("cases:detail", tracking_id=case.tracking_id)
    return render(request, "cases/new.html", {"form": form}, status=422 if form.errors else 200)


@login_required
@require_GET
def detail(request: HttpRequest, tracking_id: str) -> HttpResponse:
    page = services.case_page(request.user, tracking_id)
    context: dict[str, object] = {"page": page, "case": page.case}
    if page.internal:
        case = page.case
        context["edit_form"] = forms.EditForm(
            initial={
                "title": case.title,
                "description": case.description,
                "products": [p.slug for p in case.products.all()],
                "owning_team": case.owning_team.slug if case.owning_team else "",
                "assignee": case.assignee.username if case.assignee else "",
            },
            products=_product_choices(request),
            teams=[(t.slug, t.name) for t in catalogue.list_teams(request.user)],
            people=[(u.username, str(u)) for u in internal_users()],
        )
        context["flag_form"] = forms.FlagForm()
        context["assessment"] = assessment.view(request.user, tracking_id)
        context["fix"] = fixes.view(request.user, tracking_id)
        context["release"] = releases.release_of(case)
        if case.state in DUPLICATE_CHECK_STATES:
            context["candidates"] = services.duplicate_candidates(request.user, tracking_id)
    return render(request, "cases/detail.html", context)


@login_required
@require_POST
def edit(request: HttpRequest, tracking_id: str) -> HttpResponse:
    form = forms.EditForm(
        request.POST,
        products=_product_choices(request),
        teams=[(t.slug, t.name) for t in catalogue.list_teams(request.user)],
        people=[(u.username, str(u)) for u in internal_users()],
    )
    if not form.is_valid():
        return _back(request, tracking_id, _invalid(form))
    data = form.cleaned_data
    changes = services.CaseChanges(**{**data, "products": tuple(data["products"])})
    try:
        services.update_case(request.user, tracking_id, changes)
    except REFUSALS as error:
        return _back(request, tracking_id, error)
    messages.success(request, "Saved.")
    return _back(request, tracking_id)


@login_required
@require_POST
def step(request: HttpRequest, tracking_id: str) -> HttpResponse:
    form = forms.StepForm(request.POST)
    if not form.is_valid():
        return _back(request, tracking_id, _invalid(form))
    data = form.cleaned_data
    target = data.pop("target")
    try:
        services.transition(request.user, tracking_id, target, StepInput(**data))
    except REFUSALS as error:
        return _back(request, tracking_id, error)
    messages.success(request, f"Moved to {target.replace('_', ' ')}.")
    return _back(request, tracking_id)


def _post(request: HttpRequest, tracking_id: str, *, note: bool) -> HttpResponse:
    form = forms.MessageForm(request.POST, request.FILES)
    if not form.is_valid():
        return _back(request, tracking_id, _invalid(form))
    body, uploads = form.cleaned_data["body"], form.cleaned_data["attachments"]
    try:
        services.post_message(request.user, tracking_id, body, uploads, internal_note=note)
    except REFUSALS as error:
        return _back(request, tracking_id, error)
    messages.success(request, "Note added." if note else "Message sent.")
    return _back(request, tracking_id)


@login_required
@require_POST
def message(request: HttpRequest, tracking_id: str) -> HttpResponse:
    return _post(request, tracking_id, note=False)


@login_required
@require_POST
def note(request: HttpRequest, tracking_id: str) -> HttpResponse:
    return _post(request, tracking_id, note=True)


@login_required
@require_POST
def flag(request: HttpRequest, tracking_id: str) -> HttpResponse:
    form = forms.FlagForm(request.POST)
    if not form.is_valid():
        return _back(request, tracking_id, _invalid(form))
    try:
        services.set_flag(
            request.user, tracking_id, form.cleaned_data["flag"], form.cleaned_data["at"]
        )
    except REFUSALS as error:
        return _back(request, tracking_id, error)
    return _back(request, tracking_id)


@login_required
@require_GET
def attachment(request: HttpRequest, tracking_id: str, attachment_id: int) -> FileResponse:
    return attachment_response(services.get_attachment(request.user, tracking_id, attachment_id))
