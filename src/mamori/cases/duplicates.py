"""Possible duplicates: ranked once, when a case arrives, by the worker; stored for the page.

Text similarity (TF-IDF over words, and character pairs for Japanese) plus shared products, CVE
ids and URLs (``mamori.core.similarity``), against the most recent open cases. Who may see which
candidates is decided in ``mamori.cases.services.duplicate_candidates``.
"""

from __future__ import annotations

from django.db import transaction

from mamori.cases.models import Case, DuplicateCandidate
from mamori.core.similarity import Candidate, Report, rank
from mamori.core.workflow import State

CANDIDATE_POOL = 2000  # the most recent open cases compared with a new one
CANDIDATES_KEPT = 5


def rank_duplicates(case_id: int) -> list[Candidate]:
    """Rank the open cases against a newly arrived one and keep the best (run by the worker)."""
    case = Case.objects.prefetch_related("products").get(pk=case_id)
    others = list(
        Case.objects.exclude(pk=case.pk)
        .filter(state__in=[s.value for s in State if s.owes_response])  # open, not set aside
        .prefetch_related("products")
        .order_by("-created_at")[:CANDIDATE_POOL]
    )
    ranked = rank(_report(case), [_report(other) for other in others], limit=CANDIDATES_KEPT)
    by_key = {other.tracking_id: other for other in others}
    with transaction.atomic():
        DuplicateCandidate.objects.filter(case=case).delete()
        DuplicateCandidate.objects.bulk_create(
            DuplicateCandidate(
                case=case, candidate=by_key[c.key], score=c.score, reasons=list(c.reasons)
            )
            for c in ranked
        )
    return ranked


def rank_later(case: Case) -> None:
    """Rank possible duplicates of ``case`` in the background, once it is committed."""
    from mamori.cases.tasks import rank_duplicates as task

    case_id = case.pk
    transaction.on_commit(lambda: task.enqueue(case_id))


RANKED_TEXT = 10_000  # characters of each description compared: enough to tell, and fast


def _report(case: Case) -> Report:
    return Report(
        key=case.tracking_id,
        text=f"{case.title}\n{case.description[:RANKED_TEXT]}",
        products=frozenset(p.slug for p in case.products.all()),
    )
