"""Forms of the public report page and the reporter's portal: they parse and validate."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from mamori.accounts.models import User
from mamori.cases.forms import MultipleFileField
from mamori.cases.services import MAX_TEXT
from mamori.errors import InvalidInput
from mamori.intake import portal

#: The trap for robots: a field people never see, named to tempt form fillers.
HONEYPOT = "website"
MAX_FILES = 10
_FOOTER_ROOM = 100  # the description's footer (credit wanted) must fit within MAX_TEXT


class AttachmentsField(MultipleFileField):
    """Several files, each within ``MAMORI_MAX_ATTACHMENT_BYTES``."""

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile[bytes]]:
        uploads: list[UploadedFile[bytes]] = super().clean(data, initial)
        if len(uploads) > MAX_FILES:
            raise forms.ValidationError(
                _("Attach at most %(count)s files."), params={"count": MAX_FILES}
            )
        limit = int(settings.MAMORI_MAX_ATTACHMENT_BYTES)
        for upload in uploads:
            if (upload.size or 0) > limit:
                raise forms.ValidationError(
                    _("“%(name)s” is too large: a file may be at most %(limit)s."),
                    params={"name": upload.name, "limit": filesizeformat(limit)},
                )
        return uploads


class PortalForm(forms.Form):
    def add_problems(self, error: InvalidInput) -> None:
        """Show a service's refusal on the form, on the field it names when there is one."""
        for name, problem in error.problems.items():
            field = "attachments" if name == "attachment" else name
            self.add_error(field if field in self.fields else None, problem)


class ReportForm(PortalForm):
    title = forms.CharField(
        label=_("Title"), max_length=300, help_text=_("A one-line summary of the problem.")
    )
    description = forms.CharField(
        label=_("Description"),
        widget=forms.Textarea(attrs={"rows": 12}),
        max_length=MAX_TEXT - _FOOTER_ROOM,
        help_text=_(
            "Which product and version are affected, how to reproduce the problem, and what an "
            "attacker could do with it."
        ),
    )
    name = forms.CharField(label=_("Your name"), max_length=200, required=False)
    email = forms.EmailField(
        label=_("E-mail address"),
        required=False,
        help_text=_(
            "Optional, but without it we cannot send you a receipt or tell you about progress."
        ),
    )
    organisation = forms.CharField(label=_("Organisation"), max_length=200, required=False)
    attachments = AttachmentsField(
        label=_("Attachments"),
        required=False,
        help_text=_("Proof of concept, logs, screenshots. You can select several files."),
    )
    credit = forms.BooleanField(
        label=_("I would like to be credited in the security advisory"), required=False
    )
    website = forms.CharField(
        label=_("Website"),
        required=False,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    def submission(self) -> portal.Submission:
        data = self.cleaned_data
        return portal.Submission(
            title=data["title"],
            description=data["description"],
            name=data["name"],
            email=data["email"],
            organisation=data["organisation"],
            credit=data["credit"],
            files=portal.incoming_files(data["attachments"]),
        )


class ReplyForm(PortalForm):
    body = forms.CharField(
        label=_("Message"),
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        max_length=MAX_TEXT,
    )
    attachments = AttachmentsField(label=_("Attachments"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("body", "").strip() and not data.get("attachments"):
            raise forms.ValidationError(_("Write a message or attach a file."))
        return data


class AccountForm(PortalForm):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text=_("Letters, digits and @ . + - _ only."),
    )
    email = forms.EmailField(label=_("E-mail address"))
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html,
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            candidate = User(username=data.get("username", ""), email=data.get("email", ""))
            try:
                password_validation.validate_password(first, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data

    def account(self) -> portal.NewAccount:
        data = self.cleaned_data
        return portal.NewAccount(data["username"], data["email"], data["password1"])
