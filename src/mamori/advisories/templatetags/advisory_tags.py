"""Filters for the public pages: a text in the page's language, product names, statuses."""

from __future__ import annotations

from django import template

from mamori.core.advisory import Advisory, Status, Text, Vulnerability

register = template.Library()


@register.filter
def lang(text: Text, language: str) -> str:
    """``text`` in ``language``, falling back to English."""
    return text.get(language) if isinstance(text, Text) else ""


@register.filter
def products_with(vulnerability: Vulnerability, status: str) -> list[str]:
    return list(vulnerability.products(Status(status)))


@register.filter
def product_names(product_ids: list[str], advisory: Advisory) -> list[str]:
    names = []
    for pid in product_ids:
        try:
            names.append(advisory.product(pid).full_name)
        except KeyError:
            names.append(pid)
    return names


@register.filter
def other_language(language: str) -> str:
    return "ja" if language == "en" else "en"


@register.filter
def suffix(language: str) -> str:
    return "" if language == "en" else f".{language}"
