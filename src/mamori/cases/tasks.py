"""Background work of the cases app, run by `mamori worker`."""

from __future__ import annotations

from django_tasks import task

from mamori.cases import duplicates


@task(priority=-50)  # slow, and nobody waits for it: after mail and processing
def rank_duplicates(case_id: int) -> int:
    """Rank the open cases that may duplicate a newly arrived case; returns how many were kept."""
    return len(duplicates.rank_duplicates(case_id))
