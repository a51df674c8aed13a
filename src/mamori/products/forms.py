from __future__ import annotations

from django import forms

from mamori.core.catalogue import SupportStatus


class ProductForm(forms.Form):
    slug = forms.SlugField(max_length=63)
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea, required=False, max_length=10_000)
    teams = forms.MultipleChoiceField(required=False)


class VersionForm(forms.Form):
    name = forms.CharField(max_length=100)
    support_status = forms.ChoiceField(choices=[(s.value, s.label) for s in SupportStatus])
    support_ends_on = forms.DateField(required=False, help_text="YYYY-MM-DD")
    released_on = forms.DateField(required=False, help_text="YYYY-MM-DD")


class ComponentForm(forms.Form):
    purl = forms.CharField(max_length=500, label="Package URL")
    name = forms.CharField(max_length=200, required=False)


class AliasForm(forms.Form):
    alias = forms.CharField(max_length=200)


class TeamForm(forms.Form):
    slug = forms.SlugField(max_length=63)
    name = forms.CharField(max_length=200)


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    remove = forms.BooleanField(required=False)
