"""Forms: the UI's edge. They parse and validate; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms

from mamori.cases.services import MAX_TEXT
from mamori.core.channels import Channel
from mamori.core.rating import Severity
from mamori.core.workflow import Flag, State


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []


class CaseForm(forms.Form):
    title = forms.CharField(max_length=300)
    description = forms.CharField(widget=forms.Textarea, required=False, max_length=MAX_TEXT)
    source = forms.ChoiceField(choices=[(c.value, c.label) for c in Channel], initial="internal")
    products = forms.MultipleChoiceField(required=False)
    reporter_name = forms.CharField(max_length=200, required=False)
    reporter_email = forms.EmailField(required=False)
    reporter_organisation = forms.CharField(max_length=200, required=False)

    def __init__(self, *args: Any, products: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["products"].choices = products  # type: ignore[attr-defined]


class ReportForm(forms.Form):
    """What an external reporter fills in."""

    title = forms.CharField(max_length=300)
    description = forms.CharField(widget=forms.Textarea, max_length=MAX_TEXT)


class EditForm(forms.Form):
    title = forms.CharField(max_length=300)
    description = forms.CharField(widget=forms.Textarea, required=False, max_length=MAX_TEXT)
    products = forms.MultipleChoiceField(required=False)
    owning_team = forms.ChoiceField(required=False)
    assignee = forms.ChoiceField(required=False)

    def __init__(
        self,
        *args: Any,
        products: list[tuple[str, str]],
        teams: list[tuple[str, str]],
        people: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["products"].choices = products  # type: ignore[attr-defined]
        self.fields["owning_team"].choices = [("", "—"), *teams]  # type: ignore[attr-defined]
        self.fields["assignee"].choices = [("", "—"), *people]  # type: ignore[attr-defined]


class StepForm(forms.Form):
    target = forms.ChoiceField(choices=[(s.value, s.label) for s in State])
    reason = forms.CharField(widget=forms.Textarea, required=False, max_length=MAX_TEXT)
    duplicate_of = forms.CharField(max_length=40, required=False)
    bug_reference = forms.CharField(max_length=300, required=False)
    build_reference = forms.CharField(max_length=300, required=False)
    release_reference = forms.CharField(max_length=300, required=False)


class MessageForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea, required=False, max_length=MAX_TEXT)
    attachments = MultipleFileField(required=False)


class FlagForm(forms.Form):
    flag = forms.ChoiceField(choices=[(f.value, f"{f.value} — {f.label}") for f in Flag])
    at = forms.DateTimeField(required=False, help_text="empty for now")


class QueueForm(forms.Form):
    state = forms.MultipleChoiceField(required=False, choices=[(s.value, s.label) for s in State])
    product = forms.CharField(required=False, max_length=63)
    team = forms.CharField(required=False, max_length=63)
    assignee = forms.CharField(required=False, max_length=150)
    severity = forms.ChoiceField(
        required=False, choices=[("", "any"), *[(s.value, s.label) for s in Severity]]
    )
    include_done = forms.BooleanField(required=False, label="include closed")
