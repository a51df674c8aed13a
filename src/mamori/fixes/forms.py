"""Forms of the fix page: the UI's edge. They parse what was typed; the services judge it.

Field names are the names the services use in ``InvalidInput.problems``, so a refused value comes
back to the field it was typed in (``show_problems``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from mamori.errors import InvalidInput
from mamori.fixes import services
from mamori.fixes.models import Outcome


def show_problems(form: forms.Form, error: InvalidInput) -> None:
    """Attach a service's problems to the form's fields; others become form-wide errors."""
    for name, problem in error.problems.items():
        if name in form.fields:
            form.add_error(name, problem)
        elif name == "__all__":
            form.add_error(None, problem)
        else:
            form.add_error(None, f"{name.replace('_', ' ')}: {problem}")


def _text(label: Any, rows: int = 3, limit: int = services.MAX_TEXT) -> forms.CharField:
    return forms.CharField(
        label=label, required=False, max_length=limit, widget=forms.Textarea(attrs={"rows": rows})
    )


class BuildForm(forms.Form):
    artifact = forms.FileField(label=_("Upload the build"), required=False)
    url = forms.CharField(
        label=_("… or a link to it (http or https)"),
        required=False,
        max_length=services.MAX_URL,
        widget=forms.TextInput(attrs={"size": 60, "spellcheck": "false"}),
    )
    sha256 = forms.CharField(
        label=_("SHA-256 (required with a link; checked against an upload)"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"size": 66, "spellcheck": "false"}),
    )
    versions = forms.MultipleChoiceField(
        label=_("Product versions it fixes"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    notes = _text(_("Notes"))

    def __init__(self, *args: Any, versions: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["versions"].choices = versions  # type: ignore[attr-defined]


class RunForm(forms.Form):
    build = forms.TypedChoiceField(label=_("Build"), coerce=int)
    items = forms.CharField(
        label=_("Test plan: one item per line"),
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=services.MAX_ITEMS * (services.MAX_ITEM + 2),
    )

    def __init__(self, *args: Any, builds: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["build"].choices = builds  # type: ignore[attr-defined]

    def item_names(self) -> list[str]:
        """The lines of the test plan; blank lines are not items."""
        return [line for line in self.cleaned_data["items"].splitlines() if line.strip()]


class ResultForm(forms.Form):
    result = forms.ChoiceField(
        label=_("Result"),
        choices=[
            (Outcome.PASS.value, _("pass")),
            (Outcome.FAIL.value, _("fail")),
            (Outcome.BLOCKED.value, _("blocked")),
        ],
    )
    evidence = _text(_("Evidence"))
    attachment = forms.FileField(label=_("Evidence file"), required=False)


class CompleteForm(forms.Form):
    summary = _text(_("Summary (optional)"), rows=2)
