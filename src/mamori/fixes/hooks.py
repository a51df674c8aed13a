"""How the fixes app plugs into the cases app: the ready_for_release gate's facts."""

from __future__ import annotations

from collections.abc import Mapping

from mamori.cases.gates import provide_facts
from mamori.cases.models import Case
from mamori.fixes import services


@provide_facts
def gate_facts(case: Case) -> Mapping[str, object]:
    return services.shipping_facts(case)
