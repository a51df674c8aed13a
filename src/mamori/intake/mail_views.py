"""The analysts' view of received mail: raw messages, what parsing found, held messages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from mamori.cases import services as cases
from mamori.errors import Conflict, PermissionDenied
from mamori.intake import services
from mamori.web.downloads import download


@login_required
@require_GET
def mail(request: HttpRequest, tracking_id: str) -> HttpResponse:
    received = services.received_mail(request.user, tracking_id)
    case = cases.internal_case(request.user, tracking_id)
    return render(request, "intake/mail.html", {"case": case, "received": received})


@login_required
@require_GET
def held(request: HttpRequest) -> HttpResponse:
    return render(request, "intake/held.html", {"held": services.held(request.user)})


@login_required
@require_GET
def raw(request: HttpRequest, tracking_id: str, inbound_id: int) -> FileResponse:
    inbound = services.raw_message(request.user, tracking_id, inbound_id)
    name = f"{tracking_id}-message-{inbound.pk}.eml"
    return download(inbound.raw.open("rb"), name, "application/octet-stream")


@login_required
@require_POST
def decide(request: HttpRequest, tracking_id: str, inbound_id: int) -> HttpResponse:
    into_thread = request.POST.get("decision") == "thread"
    try:
        services.release_held(request.user, tracking_id, inbound_id, into_thread=into_thread)
    except (Conflict, PermissionDenied) as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Added to the thread." if into_thread else "Discarded.")
    return redirect("intake:mail", tracking_id=tracking_id)
