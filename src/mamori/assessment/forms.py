"""Assessment forms: the UI's edge. They parse text into the services' values; the services judge.

Each form's field names are the names the services use in ``InvalidInput.problems``, so a refused
value comes back to the field it was typed in (``show_problems``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _

from mamori.assessment import services
from mamori.core.exploitation import Exploitability, PublicFact
from mamori.core.matrix import Affectedness, Justification, Resolution, VariantResult
from mamori.core.rating import Severity
from mamori.core.severity import Impact, Mitigation
from mamori.core.ssvc import Automatable, SafetyImpact, TechnicalImpact, ValueDensity
from mamori.errors import InvalidInput

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

MAX_VECTOR = 400
MAX_TEXT = services.MAX_TEXT
CVE_SEPARATORS = re.compile(r"[\s,;]+")


def _choices(enum: Iterable[StrEnum], *, blank: bool = False) -> list[tuple[str, str]]:
    found = [(member.value, str(getattr(member, "label", member.value))) for member in enum]
    return [("", "—"), *found] if blank else found


def _vector(label: StrOrPromise) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=MAX_VECTOR,
        widget=forms.TextInput(attrs={"size": 70, "spellcheck": "false"}),
    )


def _text(label: StrOrPromise, rows: int = 3) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": rows}),
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


class RatingForm(forms.Form):
    cvss_v3 = _vector(_("CVSS v3.1 vector"))
    cvss_v4 = _vector(_("CVSS v4.0 vector"))
    impact = forms.ChoiceField(
        label=_("Impact"), required=False, choices=_choices(Impact, blank=True)
    )
    user_action_required = forms.BooleanField(label=_("User action required"), required=False)
    minimal_impact = forms.BooleanField(label=_("Minimal impact"), required=False)
    mitigation = forms.ChoiceField(label=_("Mitigation"), choices=_choices(Mitigation))
    exploitability = forms.ChoiceField(
        label=_("Exploitability"), required=False, choices=_choices(Exploitability, blank=True)
    )
    cves = forms.CharField(
        label=_("CVE ids"),
        required=False,
        max_length=2000,
        help_text=_("Separated by spaces or commas."),
    )
    automatable = forms.ChoiceField(
        label=_("SSVC: Automatable"), required=False, choices=_choices(Automatable, blank=True)
    )
    value_density = forms.ChoiceField(
        label=_("SSVC: Value density"), required=False, choices=_choices(ValueDensity, blank=True)
    )
    technical_impact = forms.ChoiceField(
        label=_("SSVC: Technical impact"),
        required=False,
        choices=_choices(TechnicalImpact, blank=True),
    )
    safety_impact = forms.ChoiceField(
        label=_("SSVC: Safety impact"), required=False, choices=_choices(SafetyImpact, blank=True)
    )

    @staticmethod
    def initial_from(view: services.AssessmentView) -> dict[str, object]:
        a = view.assessment
        return {
            "cvss_v3": a.cvss_v3_vector,
            "cvss_v4": a.cvss_v4_vector,
            "impact": a.impact,
            "user_action_required": a.user_action_required,
            "minimal_impact": a.minimal_impact,
            "mitigation": a.mitigation,
            "exploitability": a.exploitability,
            "cves": " ".join(view.cves),
            **{name: getattr(a, f"ssvc_{name}") for name in services.SSVC_FIELDS},
        }

    def changes(self) -> services.RatingChanges:
        d = self.cleaned_data
        return services.RatingChanges(
            cvss_v3=d["cvss_v3"],
            cvss_v4=d["cvss_v4"],
            impact={
                "impact": d["impact"],
                "user_action_required": d["user_action_required"],
                "minimal_impact": d["minimal_impact"],
                "mitigation": d["mitigation"],
            },
            exploitability=d["exploitability"],
            cves=tuple(c for c in CVE_SEPARATORS.split(d["cves"]) if c),
            ssvc={name: d[name] for name in services.SSVC_FIELDS},
        )


class OverrideForm(forms.Form):
    severity_override = forms.ChoiceField(
        label=_("Severity"),
        required=False,
        choices=[("", _("— no override (use the derived severity)")), *_choices(Severity)],
    )
    override_reason = _text(_("Reason"))

    def changes(self) -> services.RatingChanges:
        d = self.cleaned_data
        return services.RatingChanges(
            severity_override=d["severity_override"], override_reason=d["override_reason"]
        )


class FactForm(forms.Form):
    fact = forms.ChoiceField(label=_("Fact"), choices=_choices(PublicFact))
    on = forms.DateField(
        label=_("Date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Empty to clear the fact."),
    )
    source = forms.CharField(
        label=_("Source"),
        required=False,
        max_length=services.MAX_SOURCE,
        help_text=_("A URL or a reference."),
    )


class MatrixRowForm(forms.Form):
    product = forms.CharField(widget=forms.HiddenInput, max_length=63)
    version = forms.CharField(widget=forms.HiddenInput, max_length=100)
    status = forms.ChoiceField(label=_("Status"), choices=_choices(Affectedness))
    justification = forms.ChoiceField(
        label=_("Justification"), required=False, choices=_choices(Justification, blank=True)
    )
    resolution = forms.ChoiceField(
        label=_("Resolution"), required=False, choices=_choices(Resolution, blank=True)
    )
    note = _text(_("Note"), rows=2)
    cvss_v3 = _vector(_("CVSS v3.1 vector for this version (optional)"))
    cvss_v4 = _vector(_("CVSS v4.0 vector for this version (optional)"))

    @staticmethod
    def initial_from(line: services.MatrixLine) -> dict[str, object]:
        row = line.row
        return {
            "product": line.product_slug,
            "version": line.version_name,
            "status": line.status.value,
            "justification": row.justification if row else "",
            "resolution": row.resolution if row else "",
            "note": row.note if row else "",
            "cvss_v3": row.cvss_v3_vector if row else "",
            "cvss_v4": row.cvss_v4_vector if row else "",
        }

    def key(self) -> tuple[str, str]:
        """The (product, version) this form is about, as posted."""
        return (self.data.get("product", ""), self.data.get("version", ""))

    def changes(self) -> services.RowChanges:
        d = self.cleaned_data
        return services.RowChanges(
            status=d["status"],
            justification=d["justification"],
            resolution=d["resolution"],
            note=d["note"],
            cvss_v3=d["cvss_v3"],
            cvss_v4=d["cvss_v4"],
        )


class VariantForm(forms.Form):
    product = forms.ChoiceField(label=_("Product"))
    version = forms.CharField(
        label=_("Version"),
        required=False,
        max_length=100,
        help_text=_("Empty for all versions."),
    )
    why = _text(_("Why it might share the flaw"))

    def __init__(self, *args: Any, products: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["product"].choices = products  # type: ignore[attr-defined]


class VariantResultForm(forms.Form):
    result = forms.ChoiceField(
        label=_("Result"),
        choices=_choices(r for r in VariantResult if r is not VariantResult.PENDING),
    )
    notes = _text(_("Notes"), rows=2)


class UploadForm(forms.Form):
    file = forms.FileField(label=_("File"))
