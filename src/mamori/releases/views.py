"""Release pages: the trains and out-of-band releases, one release with its cases, subscribers.

Each view parses a form, calls one service, and redirects (POST/redirect/GET); a refused value
re-renders the page with the form as it was typed and the problem at its field (status 422).
A refused action (a role, a release that is not ready) comes back as a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from mamori.accounts.services import AnyUser
from mamori.core.ssvc import Urgency
from mamori.core.workflow import State
from mamori.errors import (
    ConfigurationError,
    Conflict,
    GateRefused,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from mamori.releases import forms, notify, services
from mamori.releases.models import Move

if TYPE_CHECKING:
    from mamori.cases.models import Case

#: Refusals shown as a message; "not found" still becomes a 404 page.
REFUSALS = (Conflict, PermissionDenied)

Bound = django_forms.Form | None


def _planned_names(user: AnyUser, but: str = "") -> list[str]:
    """The releases a case may still move to: planned, and not past a code-freeze cut-off."""
    now = timezone.now()
    planned = services.releases(user, include_published=False)
    return [r.name for r in planned if r.name != but and (r.cutoff_at is None or r.cutoff_at > now)]


# The list of releases --------------------------------------------------------------------------


def _suggestion_text(urgency: Urgency | None) -> str:
    if urgency is Urgency.IMMEDIATE:
        return _("Immediate: an out-of-band release is required")
    return _("Out-of-Cycle: an out-of-band release is suggested")


def _list_page(request: HttpRequest, bound: Bound = None) -> HttpResponse:
    user = request.user
    rows = services.overview(user)
    suggestions = [(s, _suggestion_text(s.urgency)) for s in services.out_of_band_suggestions(user)]
    may_publish = services.may_publish(user)
    context = {
        "sections": [
            (
                _("Upcoming releases"),
                [(r, n) for r, n in rows if not r.is_published],
                _("No planned release."),
            ),
            (
                _("Past releases"),
                [(r, n) for r, n in reversed(rows) if r.is_published],
                _("No release published yet."),
            ),
        ],
        "suggestions": suggestions,
        "may_publish": may_publish,
        "form": (bound or forms.OutOfBandForm()) if may_publish else None,
    }
    status = 422 if bound is not None else 200
    return render(request, "releases/list.html", context, status=status)


@login_required
@require_GET
def release_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request)


@login_required
@require_POST
def create(request: HttpRequest) -> HttpResponse:
    form = forms.OutOfBandForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            release = services.create_out_of_band(
                request.user,
                release_at=d["release_at"],
                reason=d["reason"],
                tracking_ids=d["cases"],
            )
        except InvalidInput as error:
            forms.show_problems(form, error)
        except (NotFound, Conflict) as error:  # a case typed wrong, or not being fixed
            form.add_error("cases", error.message)
        except PermissionDenied as error:
            messages.error(request, error.message)
            return redirect("releases:list")
        else:
            messages.success(request, _("Release %(name)s created.") % {"name": release.name})
            return redirect("releases:release", name=release.name)
    return _list_page(request, form)


# One release -----------------------------------------------------------------------------------


CaseRow = tuple["Case", bool, list[Move], Bound]


def _case_rows(
    cases: list[Case], targets: list[str], editing: bool, bound: Bound
) -> tuple[list[CaseRow], bool]:
    """Each case with whether it is ready, its moves and its move form (the posted one as
    posted); also whether the posted move form found its row."""
    posted = bound.data.get("tracking_id") if isinstance(bound, forms.MoveForm) else None
    placed = False
    rows: list[CaseRow] = []
    for case in cases:
        form: Bound = None
        if editing and targets:
            form = forms.MoveForm(
                initial={"tracking_id": case.tracking_id},
                releases=targets,
                auto_id=f"move-{case.tracking_id}-%s",
            )
            if posted == case.tracking_id:
                form, placed = bound, True
        ready = case.state_enum is State.READY_FOR_RELEASE
        rows.append((case, ready, services.moves_of(case), form))
    return rows, placed


def _release_page(request: HttpRequest, name: str, bound: Bound = None) -> HttpResponse:
    user = request.user
    release = services.get_release(user, name)
    cases = services.cases_in(user, release)
    manager = services.may_publish(user)
    editing = manager and not release.is_published
    targets = _planned_names(user, but=release.name) if editing else []
    rows, placed = _case_rows(cases, targets, editing, bound)
    if bound is not None and not placed and not isinstance(bound, forms.AddCaseForm):
        # No row on the page to show the problems at (a case that is not in this release).
        for field, problems in bound.errors.items():
            where = "" if field == "__all__" else f"{field}: "
            messages.error(request, where + " ".join(str(p) for p in problems))
    context = {
        "release": release,
        "cases": rows,
        "not_ready": services.not_ready(release, user),
        "may_publish": editing,
        "notice": notify.notice_of(user, release),
        "deliveries": notify.deliveries(user, release) if manager else None,
        "add_form": (
            bound if isinstance(bound, forms.AddCaseForm) else forms.AddCaseForm(auto_id="add-%s")
        ),
    }
    status = 422 if bound is not None else 200
    return render(request, "releases/release.html", context, status=status)


@login_required
@require_GET
def release(request: HttpRequest, name: str) -> HttpResponse:
    return _release_page(request, name)


def _assign(
    request: HttpRequest, name: str, form: django_forms.Form, target: Callable[[], str]
) -> HttpResponse:
    services.get_release(request.user, name)  # an unknown release is "not found"
    if form.is_valid():
        d = form.cleaned_data
        try:
            moved_to = services.assign(request.user, d["tracking_id"], target(), d["reason"])
        except InvalidInput as error:
            forms.show_problems(form, error)
        except NotFound as error:  # the case typed
            form.add_error("tracking_id", error.message)
        except REFUSALS as error:
            messages.error(request, error.message)
            return redirect("releases:release", name=name)
        else:
            done = _("%(case)s is in %(release)s.")
            messages.success(request, done % {"case": d["tracking_id"], "release": moved_to.name})
            return redirect("releases:release", name=name)
    return _release_page(request, name, form)


@login_required
@require_POST
def move(request: HttpRequest, name: str) -> HttpResponse:
    targets = _planned_names(request.user, but=name)
    form = forms.MoveForm(request.POST, releases=targets, auto_id="posted-%s")
    return _assign(request, name, form, lambda: form.cleaned_data["release"])


@login_required
@require_POST
def add(request: HttpRequest, name: str) -> HttpResponse:
    form = forms.AddCaseForm(request.POST, auto_id="add-%s")
    return _assign(request, name, form, lambda: name)


@login_required
@require_POST
def publish(request: HttpRequest, name: str) -> HttpResponse:
    try:
        release = services.publish(request.user, name)
    except GateRefused as error:
        refused = _("%(name)s was not published. Still missing: %(missing)s")
        messages.error(request, refused % {"name": name, "missing": "; ".join(error.missing)})
    except InvalidInput as error:
        refused = _("%(name)s was not published: %(problems)s")
        problems = "; ".join(error.problems.values())
        messages.error(request, refused % {"name": name, "problems": problems})
    except (*REFUSALS, ConfigurationError) as error:  # e.g. no signing key: say so, not a 500
        messages.error(request, error.message)
    else:
        messages.success(request, _("Release %(name)s published.") % {"name": release.name})
    return redirect("releases:release", name=name)


# Subscribers -----------------------------------------------------------------------------------


def _subscribers_page(request: HttpRequest, bound: Bound = None) -> HttpResponse:
    context = {
        "subscribers": notify.subscribers(request.user),
        "form": bound or forms.SubscriberForm(),
    }
    status = 422 if bound is not None else 200
    return render(request, "releases/subscribers.html", context, status=status)


@login_required
@require_GET
def subscribers(request: HttpRequest) -> HttpResponse:
    return _subscribers_page(request)


@login_required
@require_POST
def add_subscriber(request: HttpRequest) -> HttpResponse:
    form = forms.SubscriberForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            made = notify.add_subscriber(
                request.user, name=d["name"], email=d["email"], url=d["url"]
            )
        except InvalidInput as error:
            forms.show_problems(form, error)
        except PermissionDenied as error:
            messages.error(request, error.message)
            return redirect("releases:subscribers")
        else:
            messages.success(request, _("Subscriber %(name)s added.") % {"name": made.name})
            if made.secret:
                shown = _("The webhook secret of %(name)s, shown only now: %(secret)s")
                messages.warning(request, shown % {"name": made.name, "secret": made.secret})
            return redirect("releases:subscribers")
    return _subscribers_page(request, form)


@login_required
@require_POST
def remove_subscriber(request: HttpRequest, subscriber_id: int) -> HttpResponse:
    try:
        notify.remove_subscriber(request.user, subscriber_id)
    except PermissionDenied as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Subscriber removed: nothing more is sent to it."))
    return redirect("releases:subscribers")
