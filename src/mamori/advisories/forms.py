"""Forms of the advisory page: the UI's edge. They parse what was typed; the services judge it.

Field names are the names ``update_public_text`` uses in ``InvalidInput.problems`` (``cwe_id``,
``title_en`` …), so a refused value comes back to the field it was typed in (``show_problems``).
The FAQ is a list of rows of four fields (``faq_<n>_question_en`` …; blank rows are ignored) and
"fixed in" is one field per affected version of the matrix (``fixed_<n>``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _

from mamori.advisories import services
from mamori.errors import InvalidInput

if TYPE_CHECKING:
    from django.forms import BoundField
    from django_stubs_ext import StrOrPromise

    from mamori.advisories.models import PublicText

FAQ_ROWS = 5  # blank rows offered below the questions already written
FAQ_KEYS = ("question_en", "answer_en", "question_ja", "answer_ja")
MAX_VERSIONS = 500  # "fixed in" rows a posted form may carry
_FAQ_LABELS = {
    "question_en": _("Question (English)"),
    "answer_en": _("Answer (English)"),
    "question_ja": _("Question (Japanese)"),
    "answer_ja": _("Answer (Japanese)"),
}
_FAQ_FIELD = re.compile(r"faq_(\d+)_(?:question|answer)_(?:en|ja)\Z")
TEXT_FIELDS = (
    "title_en",
    "title_ja",
    "summary_en",
    "summary_ja",
    "description_en",
    "description_ja",
    "mitigations_en",
    "mitigations_ja",
    "cwe_id",
    "cwe_name",
    "restart_required",
    "credit",
    "credit_name",
    "credit_organization",
)


def show_problems(form: forms.Form, error: InvalidInput) -> None:
    """Attach a service's problems to the form's fields; others become form-wide errors."""
    for name, problem in error.problems.items():
        if name in form.fields:
            form.add_error(name, problem)
        elif name == "__all__":
            form.add_error(None, problem)
        else:
            form.add_error(None, f"{name.replace('_', ' ')}: {problem}")


def _line(label: StrOrPromise, limit: int) -> forms.CharField:
    return forms.CharField(label=label, required=False, max_length=limit)


def _text(label: StrOrPromise, rows: int = 4) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=services.MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": rows}),
    )


class TextForm(forms.Form):
    title_en = _line(_("Title (English)"), 300)
    title_ja = _line(_("Title (Japanese)"), 300)
    summary_en = _text(_("Summary (English)"), 3)
    summary_ja = _text(_("Summary (Japanese)"), 3)
    description_en = _text(_("Description (English)"))
    description_ja = _text(_("Description (Japanese)"))
    mitigations_en = _text(_("Mitigations and workarounds (English)"))
    mitigations_ja = _text(_("Mitigations and workarounds (Japanese)"))
    cwe_id = forms.CharField(
        label=_("CWE id"),
        required=False,
        max_length=16,
        widget=forms.TextInput(attrs={"placeholder": "CWE-79", "spellcheck": "false"}),
    )
    cwe_name = _line(_("CWE name"), 300)
    restart_required = forms.BooleanField(label=_("Restart required"), required=False)
    credit = forms.BooleanField(label=_("The reporter agreed to be credited"), required=False)
    credit_name = _line(_("Credit: name"), 200)
    credit_organization = _line(_("Credit: organisation"), 200)

    def __init__(
        self,
        *args: Any,
        affected: list[tuple[str, str]],
        faq_rows: int = FAQ_ROWS,
        **kwargs: Any,
    ) -> None:
        """``affected``: (key, label) of each affected version, the key "<product> <version>".

        A posted form has the FAQ rows it was posted with, and its "fixed in" rows carry their
        version's key, so a value always lands on the version it was typed for, even if the
        matrix changed in between.
        """
        super().__init__(*args, **kwargs)
        if self.is_bound:
            labels = dict(affected)
            faq_rows = self._posted_rows()
            affected = [(key, labels.get(key, key)) for key in self._posted_keys()]
        self.versions = affected
        self.faq_count = min(faq_rows, services.MAX_FAQ + 1)
        for n in range(self.faq_count):
            for key, label in _FAQ_LABELS.items():
                long = key.startswith("answer")
                self.fields[f"faq_{n}_{key}"] = _text(label, 2) if long else _line(label, 1000)
        for n, (version, name) in enumerate(affected):
            self.fields[f"fixed_{n}_key"] = forms.CharField(
                widget=forms.HiddenInput, initial=version, max_length=200
            )
            self.fields[f"fixed_{n}"] = forms.CharField(label=name, required=False, max_length=100)

    def _posted_rows(self) -> int:
        numbers = [int(m.group(1)) for name in self.data if (m := _FAQ_FIELD.match(name))]
        return max(numbers, default=-1) + 1

    def _posted_keys(self) -> list[str]:
        keys: list[str] = []
        while len(keys) < MAX_VERSIONS and f"fixed_{len(keys)}_key" in self.data:
            keys.append(str(self.data[f"fixed_{len(keys)}_key"]))
        return keys

    @staticmethod
    def initial_from(text: PublicText, affected: list[tuple[str, str]]) -> dict[str, object]:
        initial: dict[str, object] = {name: getattr(text, name) for name in TEXT_FIELDS}
        for n, item in enumerate(text.faq):
            for key in FAQ_KEYS:
                initial[f"faq_{n}_{key}"] = item.get(key, "")
        for n, (key, _label) in enumerate(affected):
            initial[f"fixed_{n}"] = text.fixed_versions.get(key, "")
        return initial

    # For the template: the fields in their groups.

    def text_fields(self) -> list[BoundField]:
        return [self[name] for name in TEXT_FIELDS]

    def faq_fields(self) -> list[list[BoundField]]:
        return [[self[f"faq_{n}_{key}"] for key in FAQ_KEYS] for n in range(self.faq_count)]

    def fixed_fields(self) -> list[tuple[BoundField, BoundField]]:
        """(the fixed version, its hidden key) of each affected version."""
        return [(self[f"fixed_{n}"], self[f"fixed_{n}_key"]) for n in range(len(self.versions))]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for n in range(self.faq_count):
            row = {key: data.get(f"faq_{n}_{key}", "").strip() for key in FAQ_KEYS}
            if not any(row.values()):
                continue
            for key in ("question_en", "answer_en"):
                if not row[key]:
                    self.add_error(f"faq_{n}_{key}", _("Every question needs it in English."))
        return data

    def changes(self, kept: Mapping[str, str]) -> services.TextChanges:
        """The texts as typed; ``kept``: the fixed versions stored, of versions not on the form."""
        d = self.cleaned_data
        faq = []
        for n in range(self.faq_count):
            row = {key: d[f"faq_{n}_{key}"].strip() for key in FAQ_KEYS}
            if any(row.values()):
                faq.append(row)
        typed = {d[f"fixed_{n}_key"]: d[f"fixed_{n}"] for n in range(len(self.versions))}
        fixed = {**{k: v for k, v in kept.items() if k not in typed}, **typed}
        return services.TextChanges(
            **{name: d[name] for name in TEXT_FIELDS}, faq=faq, fixed_versions=fixed
        )


class ReissueForm(forms.Form):
    summary = forms.CharField(
        label=_("What changed in this revision"),
        max_length=500,
        widget=forms.TextInput(attrs={"size": 60}),
    )
