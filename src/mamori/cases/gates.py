"""Facts that other apps contribute to the workflow's gates.

The cases app owns the workflow but not everything its gates look at: the CVSS vectors and the
affected matrix belong to the assessment app, which depends on cases (never the other way round).
An app registers a provider once, in its ``AppConfig.ready``; ``facts`` asks every provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mamori.cases.models import Case

FactsProvider = Callable[["Case"], Mapping[str, object]]

_providers: list[FactsProvider] = []


def provide_facts(provider: FactsProvider) -> FactsProvider:
    """Register ``provider``: it returns ``CaseFacts`` fields for a case."""
    if provider not in _providers:
        _providers.append(provider)
    return provider


def contributed(case: Case) -> dict[str, object]:
    found: dict[str, object] = {}
    for provider in _providers:
        found.update(provider(case))
    return found
