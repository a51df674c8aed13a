"""Forms of the release pages: the UI's edge. They parse what was typed; the services judge it.

Field names are the names the services use in ``InvalidInput.problems`` (``release_at``,
``reason``, ``name``, ``email``, ``url``), so a refused value comes back to the field it was typed
in (``show_problems``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mamori.errors import InvalidInput
from mamori.releases import services

MAX_CASES = 200
TRACKING_SEPARATORS = re.compile(r"[\s,;]+")


def show_problems(form: forms.Form, error: InvalidInput) -> None:
    """Attach a service's problems to the form's fields; others become form-wide errors."""
    for name, problem in error.problems.items():
        if name in form.fields:
            form.add_error(name, problem)
        elif name == "__all__":
            form.add_error(None, problem)
        else:
            form.add_error(None, f"{name.replace('_', ' ')}: {problem}")


def _reason(label: Any = None) -> forms.CharField:
    return forms.CharField(
        label=label or _("Reason"),
        required=False,  # the service says what is missing, at this field
        max_length=services.MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class OutOfBandForm(forms.Form):
    release_at = forms.DateTimeField(
        label=_("Release time"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    reason = _reason(_("Why an out-of-band release"))
    cases = forms.CharField(
        label=_("Cases"),
        required=False,
        max_length=MAX_CASES * 40,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=_("Tracking ids, one per line. They move out of their monthly releases."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        zone = settings.TIME_ZONE
        self.fields["release_at"].help_text = _("In the %(zone)s time zone.") % {"zone": zone}

    def clean_release_at(self) -> datetime:
        """The wall-clock time typed, in ``settings.TIME_ZONE`` (whatever zone is active)."""
        value: datetime = self.cleaned_data["release_at"]
        typed = timezone.make_naive(value) if timezone.is_aware(value) else value
        return typed.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))

    def clean_cases(self) -> tuple[str, ...]:
        found = [t for t in TRACKING_SEPARATORS.split(self.cleaned_data["cases"]) if t]
        if len(found) > MAX_CASES:
            raise forms.ValidationError(_("At most %(count)s cases.") % {"count": MAX_CASES})
        return tuple(dict.fromkeys(found))


class MoveForm(forms.Form):
    """Move one case of the release to another (planned) release."""

    tracking_id = forms.CharField(widget=forms.HiddenInput, max_length=40)
    release = forms.ChoiceField(label=_("Move to"))
    reason = _reason()

    def __init__(self, *args: Any, releases: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["release"].choices = [(name, name) for name in releases]  # type: ignore[attr-defined]


class AddCaseForm(forms.Form):
    """Put a case that is in no release (or in another one) into this release."""

    tracking_id = forms.CharField(label=_("Tracking id"), max_length=40)
    reason = _reason()


class SubscriberForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    email = forms.CharField(
        label=_("E-mail address"),
        required=False,
        max_length=254,
        widget=forms.EmailInput,
    )
    url = forms.CharField(
        label=_("… or a webhook URL"),
        required=False,
        max_length=500,
        widget=forms.URLInput(attrs={"size": 60}),
        help_text=_("Webhooks are signed with a secret shown once, right after they are added."),
    )
