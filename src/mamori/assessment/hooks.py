"""How the assessment plugs into the cases app: gate facts and flag changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.dispatch import receiver

from mamori.assessment import services
from mamori.assessment.models import Assessment
from mamori.cases.audit import AuditLog
from mamori.cases.gates import provide_facts
from mamori.cases.models import Case
from mamori.cases.signals import flag_raised
from mamori.core.workflow import Flag


@provide_facts
def gate_facts(case: Case) -> Mapping[str, object]:
    a = Assessment.objects.filter(case=case).first()
    vector = (a.cvss_v4_vector or a.cvss_v3_vector) if a else ""
    return {
        "cvss_vector": vector,
        "open_investigations": tuple(services.open_investigations_of(case)),
    }


@receiver(flag_raised)
def _flag_raised(sender: Any, case: Case, flag: Flag, actor: Any = None, **_: Any) -> None:
    # Attacks observed and exploit code public change the SSVC exploitation and the priority.
    if flag in (Flag.A, Flag.X, Flag.P):
        log = AuditLog(case, actor)
        services.refresh(case, log)
        log.save()
