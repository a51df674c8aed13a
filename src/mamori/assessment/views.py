"""Assessment pages: the rating, the affected matrix with the variant checks, threat intelligence.

Each view parses a form, calls one service, and redirects (POST/redirect/GET); a refused value
re-renders the page with the form as it was typed and the problem at its field (status 422).
A refused action (a role or a product that is not the user's) comes back as a message.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms as django_forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from mamori.accounts.services import can
from mamori.assessment import forms, imports, services
from mamori.assessment.models import VariantCheck
from mamori.cases import services as cases
from mamori.core.authz import Action
from mamori.errors import Conflict, Error, InvalidInput, PayloadTooLarge, PermissionDenied
from mamori.products import services as catalogue

#: Refusals shown as a message; "not found" still becomes a 404 page.
REFUSALS = (Conflict, PermissionDenied)
#: Warnings of an import shown as messages; the import history lists them all.
SHOWN_WARNINGS = 5


def _refused(request: HttpRequest, error: Error, to: str, **kwargs: str) -> HttpResponse:
    messages.error(request, error.message)
    return redirect(reverse(to, kwargs=kwargs or None))


# The assessment page ---------------------------------------------------------------------------


def _assessment_page(
    request: HttpRequest, tracking_id: str, bound: django_forms.Form | None = None
) -> HttpResponse:
    view = services.view(request.user, tracking_id)
    context: dict[str, object] = {
        "view": view,
        "a": view.assessment,
        "case": view.case,
        "cvss": [("CVSS v3.1", view.v3), ("CVSS v4.0", view.v4)],
    }
    if view.can_edit:
        a = view.assessment
        fresh: dict[str, django_forms.Form] = {
            "rating_form": forms.RatingForm(initial=forms.RatingForm.initial_from(view)),
            "override_form": forms.OverrideForm(
                initial={
                    "severity_override": a.severity_override,
                    "override_reason": a.override_reason,
                }
            ),
            "fact_form": forms.FactForm(),
        }
        for name, form in fresh.items():
            context[name] = bound if type(bound) is type(form) else form
    return render(
        request, "assessment/assessment.html", context, status=422 if bound is not None else 200
    )


@login_required
@require_GET
def assessment(request: HttpRequest, tracking_id: str) -> HttpResponse:
    return _assessment_page(request, tracking_id)


def _change(
    request: HttpRequest,
    tracking_id: str,
    form: django_forms.Form,
    apply: Callable[[], object],
) -> HttpResponse:
    """Validate ``form`` and run ``apply``; re-render with the problems or redirect."""
    if not form.is_valid():
        return _assessment_page(request, tracking_id, form)
    try:
        apply()
    except InvalidInput as error:
        forms.show_problems(form, error)
        return _assessment_page(request, tracking_id, form)
    except REFUSALS as error:
        return _refused(request, error, "assessment:assessment", tracking_id=tracking_id)
    messages.success(request, _("Assessment saved."))
    return redirect("assessment:assessment", tracking_id=tracking_id)


@login_required
@require_POST
def rating(request: HttpRequest, tracking_id: str) -> HttpResponse:
    form = forms.RatingForm(request.POST)
    return _change(
        request,
        tracking_id,
        form,
        lambda: services.update_rating(request.user, tracking_id, form.changes()),
    )


@login_required
@require_POST
def override(request: HttpRequest, tracking_id: str) -> HttpResponse:
    form = forms.OverrideForm(request.POST)
    return _change(
        request,
        tracking_id,
        form,
        lambda: services.update_rating(request.user, tracking_id, form.changes()),
    )


@login_required
@require_POST
def fact(request: HttpRequest, tracking_id: str) -> HttpResponse:
    form = forms.FactForm(request.POST)

    def apply() -> object:
        d = form.cleaned_data
        return services.record_fact(request.user, tracking_id, d["fact"], d["on"], d["source"])

    return _change(request, tracking_id, form, apply)


# The affected matrix and the variant checks ----------------------------------------------------


Bound = django_forms.Form | None


def _row_forms(
    lines: list[services.MatrixLine], editing: bool, bound: Bound
) -> tuple[list[tuple[services.MatrixLine, Bound]], bool]:
    """A form for each row the user may edit; the posted one as it was posted. Also whether
    the posted form found its row."""
    posted = bound.key() if isinstance(bound, forms.MatrixRowForm) else None
    placed = False
    rows: list[tuple[services.MatrixLine, Bound]] = []
    for number, line in enumerate(lines):
        form: Bound = None
        if editing and line.editable:
            initial = forms.MatrixRowForm.initial_from(line)
            form = forms.MatrixRowForm(initial=initial, auto_id=f"row{number}-%s")
            if posted == (line.product_slug, line.version_name):
                form, placed = bound, True
        rows.append((line, form))
    return rows, placed


def _check_forms(
    checks: list[VariantCheck], editing: bool, bound: Bound, bound_check: int | None
) -> tuple[list[tuple[VariantCheck, Bound]], bool]:
    """A result form for each pending check, as ``_row_forms`` does for rows."""
    placed = False
    rows: list[tuple[VariantCheck, Bound]] = []
    for check in checks:
        form: Bound = None
        if editing and check.result == "pending":
            form = forms.VariantResultForm(auto_id=f"check{check.pk}-%s")
            if bound_check == check.pk and isinstance(bound, forms.VariantResultForm):
                form, placed = bound, True
        rows.append((check, form))
    return rows, placed


def _matrix_page(
    request: HttpRequest, tracking_id: str, bound: Bound = None, bound_check: int | None = None
) -> HttpResponse:
    user = request.user
    case = cases.internal_case(user, tracking_id)
    lines = services.matrix(user, tracking_id)
    editing = can(user, Action.MATRIX_EDIT)
    rows, row_placed = _row_forms(lines, editing, bound)
    checks = services.variant_checks(user, tracking_id)
    check_rows, check_placed = _check_forms(checks, editing, bound, bound_check)
    context: dict[str, object] = {
        "case": case,
        "rows": rows,
        "open": services.open_investigations_in(lines),
        "checks": check_rows,
        "can_edit_matrix": editing,
    }
    if editing:
        products = [(p.slug, p.name) for p in catalogue.list_products(user)]
        context["variant_form"] = (
            bound if isinstance(bound, forms.VariantForm) else forms.VariantForm(products=products)
        )
    placed = row_placed or check_placed or isinstance(bound, forms.VariantForm)
    if bound is not None and not placed:
        # No row on the page to show the problems at (e.g. a version that does not exist).
        for name, problems in bound.errors.items():
            where = "" if name == "__all__" else f"{name}: "
            messages.error(request, where + " ".join(str(p) for p in problems))
    status = 422 if bound is not None else 200
    return render(request, "assessment/matrix.html", context, status=status)


@login_required
@require_GET
def matrix(request: HttpRequest, tracking_id: str) -> HttpResponse:
    return _matrix_page(request, tracking_id)


def _matrix_change(
    request: HttpRequest,
    tracking_id: str,
    form: django_forms.Form,
    apply: Callable[[], object],
    done: str,
    check: int | None = None,
) -> HttpResponse:
    if form.is_valid():
        try:
            apply()
        except InvalidInput as error:
            forms.show_problems(form, error)
        except REFUSALS as error:
            return _refused(request, error, "assessment:matrix", tracking_id=tracking_id)
        else:
            messages.success(request, done)
            return redirect("assessment:matrix", tracking_id=tracking_id)
    return _matrix_page(request, tracking_id, form, check)


@login_required
@require_POST
def matrix_row(request: HttpRequest, tracking_id: str) -> HttpResponse:
    form = forms.MatrixRowForm(request.POST, auto_id="posted-%s")

    def apply() -> object:
        product, version = form.cleaned_data["product"], form.cleaned_data["version"]
        return services.set_matrix_row(request.user, tracking_id, product, version, form.changes())

    return _matrix_change(request, tracking_id, form, apply, _("Matrix row saved."))


@login_required
@require_POST
def variant_add(request: HttpRequest, tracking_id: str) -> HttpResponse:
    products = [(p.slug, p.name) for p in catalogue.list_products(request.user)]
    form = forms.VariantForm(request.POST, products=products)

    def apply() -> object:
        d = form.cleaned_data
        return services.add_variant_check(
            request.user, tracking_id, d["product"], d["version"], d["why"]
        )

    return _matrix_change(request, tracking_id, form, apply, _("Variant check added."))


@login_required
@require_POST
def variant_result(request: HttpRequest, tracking_id: str, check_id: int) -> HttpResponse:
    form = forms.VariantResultForm(request.POST, auto_id=f"check{check_id}-%s")

    def apply() -> object:
        d = form.cleaned_data
        return services.record_variant_result(
            request.user, tracking_id, check_id, d["result"], d["notes"]
        )

    done = _("Variant check result recorded.")
    return _matrix_change(request, tracking_id, form, apply, done, check_id)


# Threat intelligence ---------------------------------------------------------------------------


def upload_limit(service_limit: int) -> int:
    """The largest file this page takes: the service's limit, or the request body limit for
    uploads (``BodySizeLimitMiddleware``), whichever is smaller."""
    web = settings.MAMORI_MAX_BODY_BYTES + settings.MAMORI_MAX_ATTACHMENT_BYTES
    return min(service_limit, web)


@login_required
@require_GET
def threat_intel(request: HttpRequest) -> HttpResponse:
    context = {
        "imports": imports.history(request.user),
        "can_import": can(request.user, Action.THREAT_IMPORT),
        "kev_form": forms.UploadForm(auto_id="kev-%s"),
        "epss_form": forms.UploadForm(auto_id="epss-%s"),
        "kev_limit": upload_limit(imports.MAX_KEV_BYTES),
        "epss_limit": upload_limit(imports.MAX_EPSS_BYTES),
        "feeds": settings.MAMORI_THREAT_FEEDS,
    }
    return render(request, "assessment/threat_intel.html", context)


Importer = Callable[..., imports.ImportResult]


def _upload(request: HttpRequest, importer: Importer, limit: int) -> HttpResponse:
    form = forms.UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for problems in form.errors.values():
            messages.error(request, " ".join(str(p) for p in problems))
        return redirect("threat_intel:page")
    upload = form.cleaned_data["file"]
    try:
        if upload.size > upload_limit(limit):
            size = upload_limit(limit) // (1024 * 1024)
            raise PayloadTooLarge(
                _("%(name)s is larger than %(size)s MiB: import it with the command line.")
                % {"name": upload.name, "size": size}
            )
        result = importer(request.user, upload.read(), f"upload {upload.name}")
    except (InvalidInput, *REFUSALS) as error:
        return _refused(request, error, "threat_intel:page")
    messages.success(request, result.message)
    for warning in result.warnings[:SHOWN_WARNINGS]:
        messages.warning(request, warning)
    if len(result.warnings) > SHOWN_WARNINGS:
        more = len(result.warnings) - SHOWN_WARNINGS
        messages.warning(
            request, _("… and %(count)s more warnings: see the import history.") % {"count": more}
        )
    return redirect("threat_intel:page")


@login_required
@require_POST
def import_kev(request: HttpRequest) -> HttpResponse:
    return _upload(request, imports.import_kev, imports.MAX_KEV_BYTES)


@login_required
@require_POST
def import_epss(request: HttpRequest) -> HttpResponse:
    return _upload(request, imports.import_epss, imports.MAX_EPSS_BYTES)
