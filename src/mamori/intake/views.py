"""The public report page and the reporter's portal. Each view parses, calls one service, renders.

Pages that show the secret of a tracking link are never cached and tell the browser not to send
their address in a ``Referer`` to any other site.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mamori.errors import InvalidInput
from mamori.intake import links, portal
from mamori.intake.forms import HONEYPOT, AccountForm, ReplyForm, ReportForm
from mamori.web.downloads import attachment_response

#: Where the form's answer waits for the thank-you page: read once, then gone.
SUBMITTED = "mamori.intake.submitted"
#: Not "no-referrer": a page under it sends "Origin: null" with its forms, which Django's CSRF
#: check refuses. "same-origin" keeps the link's address from every other site all the same.
REFERRER_POLICY = "same-origin"


def _client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "")  # X-Forwarded-For is not trusted


def _private(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)
    response["Referrer-Policy"] = REFERRER_POLICY
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_http_methods(["GET", "POST"])
def report(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and request.POST.get(HONEYPOT):
        return redirect("report:thanks")  # a robot: the answer of a success, nothing stored
    form = ReportForm(request.POST, request.FILES) if request.method == "POST" else ReportForm()
    if form.is_bound and form.is_valid():
        try:
            submitted = portal.submit_report(
                form.submission(), client_ip=_client_ip(request), user=request.user
            )
        except InvalidInput as error:
            form.add_problems(error)
        else:
            request.session[SUBMITTED] = [submitted.tracking_id, submitted.token]
            return redirect("report:thanks")
    status = 422 if form.errors else 200
    return render(request, "intake/report.html", {"form": form}, status=status)


@require_GET
def thanks(request: HttpRequest) -> HttpResponse:
    tracking_id, token = request.session.pop(SUBMITTED, None) or ("", "")
    context = {"tracking_id": tracking_id, "link": links.url(token) if token else ""}
    return _private(render(request, "intake/thanks.html", context))


def _portal(
    request: HttpRequest,
    token: str,
    reply_form: ReplyForm | None = None,
    account_form: AccountForm | None = None,
) -> HttpResponse:
    page = portal.open_portal(token)
    context = {
        "page": page,
        "token": token,
        "reply_form": reply_form or ReplyForm(),
        "account_form": account_form or AccountForm(),
    }
    failed = any(f is not None and f.errors for f in (reply_form, account_form))
    return _private(render(request, "intake/portal.html", context, status=422 if failed else 200))


@require_GET
def portal_page(request: HttpRequest, token: str) -> HttpResponse:
    return _portal(request, token)


@require_POST
def reply(request: HttpRequest, token: str) -> HttpResponse:
    form = ReplyForm(request.POST, request.FILES)
    if form.is_valid():
        files = portal.incoming_files(form.cleaned_data["attachments"])
        try:
            portal.reply(token, form.cleaned_data["body"], files, client_ip=_client_ip(request))
        except InvalidInput as error:
            form.add_problems(error)
        else:
            messages.success(request, _("Your message has been sent."))
            return _private(redirect("report:portal", token=token))
    return _portal(request, token, reply_form=form)


@require_POST
def account(request: HttpRequest, token: str) -> HttpResponse:
    form = AccountForm(request.POST)
    if form.is_valid():
        try:
            user, tracking_id = portal.create_account(
                token, form.account(), client_ip=_client_ip(request)
            )
        except InvalidInput as error:
            form.add_problems(error)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Your account is ready. This report is now in it."))
            return redirect("cases:detail", tracking_id=tracking_id)
    return _portal(request, token, account_form=form)


@require_GET
def attachment(request: HttpRequest, token: str, attachment_id: int) -> FileResponse:
    response = attachment_response(portal.attachment(token, attachment_id))
    response["Referrer-Policy"] = REFERRER_POLICY
    return response
