from __future__ import annotations

from django import forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from mamori.accounts import services
from mamori.accounts.models import User


class PasswordChange(auth_views.PasswordChangeView):
    """Changing the password also clears the one-time-password flag."""

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        assert isinstance(self.request.user, User)
        services.password_changed(self.request.user)
        return response


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)
    form = TokenForm(request.POST or None)
    issued = ""
    if request.method == "POST" and form.is_valid():
        issued = services.issue_token(request.user, form.cleaned_data["name"])
        form = TokenForm()
    context = {"form": form, "issued": issued, "tokens": request.user.api_tokens.all()}
    return render(request, "accounts/tokens.html", context)
