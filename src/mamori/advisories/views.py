"""The advisory page of a case: the public texts, what is still missing, early mitigation
advisories, and every published revision with the form to re-issue.

Each view parses a form, calls one service, and redirects (POST/redirect/GET); a refused value
re-renders the page with the form as it was typed and the problem at its field (status 422).
A refused action (a role, an advisory that cannot be issued yet) comes back as a message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from mamori.advisories import forms, services
from mamori.advisories.models import Advisory, Revision
from mamori.assessment import services as assessment
from mamori.cases import services as cases
from mamori.core.matrix import Affectedness
from mamori.errors import Conflict, Error, GateRefused, InvalidInput, NotFound, PermissionDenied
from mamori.releases import services as releases

if TYPE_CHECKING:
    from mamori.cases.models import Case

#: Refusals shown as a message; "not found" still becomes a 404 page.
REFUSALS = (Conflict, PermissionDenied)

Bound = django_forms.Form | None


def affected_versions(case: Case) -> list[tuple[str, str]]:
    """(key, label) of each affected version in the matrix; the key as ``fixed_versions`` has it."""
    return [
        (f"{line.product_slug} {line.version_name}", f"{line.product_name} {line.version_name}")
        for line in assessment.matrix_of(case)
        if line.status is Affectedness.AFFECTED
    ]


def revision_url(advisory_id: str, number: int) -> str:
    """The public page of one revision, as it was issued (next to the current one)."""
    return services.page_url(advisory_id).removesuffix(".html") + f"/v{number}.html"


def _advisory_rows(
    advisories: list[Advisory], editing: bool, bound: Bound, bound_id: str
) -> list[tuple[Advisory, str, list[tuple[Revision, str]], Bound]]:
    rows = []
    for advisory in advisories:
        revisions = [
            (r, revision_url(advisory.advisory_id, r.number)) for r in advisory.revisions.all()
        ]
        form: Bound = None
        if editing:
            form = forms.ReissueForm(auto_id=f"reissue-{advisory.advisory_id}-%s")
            if bound is not None and bound_id == advisory.advisory_id:
                form = bound
        rows.append((advisory, services.page_url(advisory.advisory_id), revisions, form))
    return rows


def _page(
    request: HttpRequest, tracking_id: str, bound: Bound = None, bound_id: str = ""
) -> HttpResponse:
    user = request.user
    case = cases.internal_case(user, tracking_id)
    text = services.public_text(user, tracking_id)
    editing = services.may_edit(user)
    affected = affected_versions(case)
    context: dict[str, object] = {
        "case": case,
        "text": text,
        "affected": [(label, text.fixed_versions.get(key, "")) for key, label in affected],
        "editing": editing,
        "missing": services.missing_for_bulletin(case),
        "needs_early": services.needs_early_advisory(case),
        "release": releases.release_of(case),
        "advisories": _advisory_rows(
            services.advisories_of(user, tracking_id), editing, bound, bound_id
        ),
    }
    if editing:
        context["form"] = (
            bound
            if isinstance(bound, forms.TextForm)
            else forms.TextForm(
                initial=forms.TextForm.initial_from(text, affected),
                affected=affected,
                faq_rows=len(text.faq) + forms.FAQ_ROWS,  # the questions and blank rows
            )
        )
    status = 422 if bound is not None else 200
    return render(request, "advisories/advisory.html", context, status=status)


@login_required
@require_GET
def advisory(request: HttpRequest, tracking_id: str) -> HttpResponse:
    return _page(request, tracking_id)


def _refused(request: HttpRequest, error: Error) -> None:
    if isinstance(error, GateRefused):
        messages.error(
            request,
            _("Not published. Still missing: %(missing)s") % {"missing": "; ".join(error.missing)},
        )
    elif isinstance(error, InvalidInput):
        problems = "; ".join(error.problems.values())
        messages.error(request, _("Not published: %(problems)s") % {"problems": problems})
    else:
        messages.error(request, error.message)


@login_required
@require_POST
def text(request: HttpRequest, tracking_id: str) -> HttpResponse:
    case = cases.internal_case(request.user, tracking_id)
    affected = affected_versions(case)
    form = forms.TextForm(request.POST, affected=affected)
    if form.is_valid():
        try:
            kept = services.public_text(request.user, tracking_id).fixed_versions
            services.update_public_text(request.user, tracking_id, form.changes(kept))
        except InvalidInput as error:
            forms.show_problems(form, error)
        except REFUSALS as error:
            messages.error(request, error.message)
            return redirect("advisories:advisory", tracking_id=tracking_id)
        else:
            messages.success(request, _("Public texts saved."))
            return redirect("advisories:advisory", tracking_id=tracking_id)
    return _page(request, tracking_id, form)


@login_required
@require_POST
def early(request: HttpRequest, tracking_id: str) -> HttpResponse:
    try:
        revision = services.publish_early_advisory(request.user, tracking_id)
    except (InvalidInput, *REFUSALS) as error:
        _refused(request, error)
    else:
        done = _("Early mitigation advisory %(id)s published.")
        messages.success(request, done % {"id": revision.advisory.advisory_id})
    return redirect("advisories:advisory", tracking_id=tracking_id)


@login_required
@require_POST
def reissue(request: HttpRequest, tracking_id: str, advisory_id: str) -> HttpResponse:
    ids = [a.advisory_id for a in services.advisories_of(request.user, tracking_id)]
    if advisory_id not in ids:
        raise NotFound(f"no advisory {advisory_id[:40]!r}")
    form = forms.ReissueForm(request.POST, auto_id=f"reissue-{advisory_id}-%s")
    if form.is_valid():
        try:
            revision = services.reissue(request.user, advisory_id, form.cleaned_data["summary"])
        except InvalidInput as error:
            if set(error.problems) <= set(form.fields):
                forms.show_problems(form, error)
                return _page(request, tracking_id, form, advisory_id)
            _refused(request, error)
        except REFUSALS as error:
            _refused(request, error)
        else:
            done = _("%(id)s revision %(number)s published.")
            messages.success(request, done % {"id": advisory_id, "number": revision.number})
        return redirect("advisories:advisory", tracking_id=tracking_id)
    return _page(request, tracking_id, form, advisory_id)
