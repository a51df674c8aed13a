"""Catalogue pages: products, versions, components, aliases and teams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from mamori.core.catalogue import SupportStatus
from mamori.errors import Conflict, InvalidInput, PermissionDenied
from mamori.products import forms, services

REFUSALS = (InvalidInput, Conflict, PermissionDenied)


def _team_choices(request: HttpRequest) -> list[tuple[str, str]]:
    return [(t.slug, t.name) for t in services.list_teams(request.user)]


Data = dict[str, Any]


def _submit(
    request: HttpRequest, form: django_forms.Form, action: Callable[[Data], object], done: str
) -> bool:
    """Validate ``form`` and run ``action``; report the outcome as a message."""
    if not form.is_valid():
        for field, problems in form.errors.items():
            messages.error(request, f"{field}: {'; '.join(str(p) for p in problems)}")
        return False
    try:
        action(form.cleaned_data)
    except REFUSALS as error:
        messages.error(request, error.message)
        return False
    messages.success(request, done)
    return True


@login_required
def product_list(request: HttpRequest) -> HttpResponse:
    form = forms.ProductForm(request.POST or None)
    form.fields["teams"].choices = _team_choices(request)  # type: ignore[attr-defined]
    if request.method == "POST":

        def create(d: Data) -> object:
            draft = services.ProductDraft(d["slug"], d["name"], d["description"], tuple(d["teams"]))
            return services.create_product(request.user, draft)

        if _submit(request, form, create, "Product created."):
            return redirect("products:detail", slug=form.cleaned_data["slug"])
    products = services.list_products(request.user)
    return render(request, "products/list.html", {"products": products, "form": form})


@login_required
@require_GET
def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    context = {
        "product": services.get_product(request.user, slug),
        "version_form": forms.VersionForm(),
        "component_form": forms.ComponentForm(),
        "alias_form": forms.AliasForm(),
    }
    return render(request, "products/detail.html", context)


@login_required
@require_POST
def add_version(request: HttpRequest, slug: str) -> HttpResponse:
    def create(d: Data) -> object:
        draft = services.VersionDraft(
            d["name"], SupportStatus(d["support_status"]), d["support_ends_on"], d["released_on"]
        )
        return services.add_version(request.user, slug, draft)

    _submit(request, forms.VersionForm(request.POST), create, "Version added.")
    return redirect("products:detail", slug=slug)


@login_required
@require_POST
def add_component(request: HttpRequest, slug: str) -> HttpResponse:
    def create(d: Data) -> object:
        return services.add_component(request.user, slug, d["purl"], d["name"])

    _submit(request, forms.ComponentForm(request.POST), create, "Component added.")
    return redirect("products:detail", slug=slug)


@login_required
@require_POST
def add_alias(request: HttpRequest, slug: str) -> HttpResponse:
    def create(d: Data) -> object:
        return services.add_alias(request.user, slug, d["alias"])

    _submit(request, forms.AliasForm(request.POST), create, "Alias added.")
    return redirect("products:detail", slug=slug)


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    form = forms.TeamForm(request.POST or None)
    if request.method == "POST":

        def create(d: Data) -> object:
            return services.create_team(request.user, d["slug"], d["name"])

        if _submit(request, form, create, "Team created."):
            return redirect("products:teams")
    teams = services.list_teams(request.user)
    return render(request, "products/teams.html", {"teams": teams, "form": form})


@login_required
@require_POST
def team_member(request: HttpRequest, slug: str) -> HttpResponse:
    def apply(d: Data) -> object:
        return services.set_membership(request.user, slug, d["username"], not d["remove"])

    _submit(request, forms.MemberForm(request.POST), apply, "Team updated.")
    return redirect("products:teams")
