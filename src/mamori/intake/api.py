"""``POST /api/intake/reports``: reports from coordinators, support engineers and tools."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from mamori.intake import services

router = Router(tags=["intake"])


class ReportIn(Schema):
    title: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=100_000)
    source: Literal["", "email", "web", "api", "coordinator", "support", "public", "customer"] = ""
    source_detail: str = Field("", max_length=300)
    reporter_name: str = Field("", max_length=200)
    reporter_email: str = Field("", max_length=254)
    reporter_organisation: str = Field("", max_length=200)
    language: Literal["en", "ja"] = "en"


class ReportOut(Schema):
    tracking_id: str
    source: str
    link: str  # the secret tracking link: keep it private


@router.post("/intake/reports", response={201: ReportOut})
def submit(request: HttpRequest, payload: ReportIn) -> Status[ReportOut]:
    """Submit a report. The source comes from your token (set by an administrator with
    ``mamori token create --intake-source``); internal users may choose it."""
    token = getattr(request, "api_token", None)
    case, link = services.submit_report(
        request.user,
        getattr(token, "intake_source", ""),
        services.ApiReport(**payload.dict()),
    )
    return Status(201, ReportOut(tracking_id=case.tracking_id, source=case.source, link=link))
