"""The release trains listen to the workflow: a case handed to its product team gets a train."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from mamori.cases.signals import state_changed
from mamori.core.workflow import State


@receiver(state_changed, dispatch_uid="releases.assign_on_development")
def _assign(sender: Any, case: Any, step: Any, actor: Any, **kwargs: Any) -> None:
    if step.target is State.IN_DEVELOPMENT and not step.is_rework:
        from mamori.releases.services import auto_assign

        auto_assign(case, actor)
