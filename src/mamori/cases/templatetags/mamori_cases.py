from django import template

from mamori.cases.models import Case
from mamori.cases.services import reporter_state as _reporter_state

register = template.Library()


@register.filter
def reporter_state(case: Case) -> str:
    return _reporter_state(case).value


@register.filter
def label(value: str) -> str:
    return value.replace("_", " ")
