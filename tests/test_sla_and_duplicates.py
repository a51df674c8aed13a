"""The first-response SLA on the business calendar, duplicate candidates and the one-step
duplicate, and the reporter's answer to a request for information."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from click.testing import CliRunner

from mamori.cases import receiving
from mamori.cases import services as cases
from mamori.cases.models import Case, Message
from mamori.cli.main import cli
from mamori.core.authz import Role
from mamori.core.channels import Channel
from mamori.core.workflow import StepInput
from mamori.intake.models import OutboundMail
from tests import factories
from tests.web import Browser

TOKYO = ZoneInfo("Asia/Tokyo")


def _report(title: str, description: str = "", **extra: object) -> Case:
    return receiving.receive_report(
        receiving.IncomingReport(
            title=title,
            description=description,
            source=Channel.EMAIL,
            reporter_email="alice@example.net",
            **extra,  # type: ignore[arg-type]
        )
    )


@pytest.fixture
def tokyo_calendar(settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    settings.MAMORI_INTAKE = dataclasses.replace(
        settings.MAMORI_INTAKE,
        holidays=frozenset({date(2026, 11, 23)}),  # Labour Thanksgiving
    )
    return settings


def test_a_report_on_friday_afternoon_is_due_on_the_next_business_day(
    db: None, tokyo_calendar
) -> None:
    with time_machine.travel(datetime(2026, 11, 20, 15, 0, tzinfo=TOKYO), tick=False):
        case = _report("Friday report")
    # Saturday, Sunday and the Monday holiday do not count.
    assert case.first_response_due_at == datetime(2026, 11, 24, 15, 0, tzinfo=TOKYO)


def test_the_first_human_message_meets_the_sla_and_a_note_does_not(analyst) -> None:
    case = _report("Needs an answer")
    cases.post_message(analyst, case.tracking_id, "Only for us", internal_note=True)
    case.refresh_from_db()
    assert case.first_response_at is None
    cases.post_message(analyst, case.tracking_id, "Thank you, we are looking into it.")
    case.refresh_from_db()
    assert case.first_response_at is not None
    # ... and the reporter, who wrote by e-mail, gets the message by e-mail.
    reply = OutboundMail.objects.get(case=case, kind="reply")
    assert reply.to == "alice@example.net"
    assert f"[{case.tracking_id}]" in reply.subject
    assert "looking into it" in reply.body


def test_overdue_cases_stand_out_and_mamori_sla_lists_them(admin, analyst) -> None:
    with time_machine.travel(datetime(2026, 11, 2, 9, 0, tzinfo=TOKYO), tick=False):
        late = _report("Waiting too long")
        answered = _report("Answered in time")
        cases.post_message(analyst, answered.tracking_id, "On it.")
    internal = factories.case(analyst, "Found by us")  # no reporter, no SLA
    assert [c.tracking_id for c in receiving.overdue_cases()] == [late.tracking_id]

    browser = Browser()
    browser.client.force_login(analyst)
    page = browser.get("/cases/").content.decode()
    assert page.count("overdue since") == 1
    assert late.tracking_id in page and internal in page

    result = CliRunner().invoke(cli, ["sla"])
    assert result.exit_code == 0, result.output
    assert late.tracking_id in result.output
    assert answered.tracking_id not in result.output


def test_duplicate_candidates_are_ranked_and_marked_in_one_action(
    analyst, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # the worker ranks on arrival
        original = _report(
            "Stored XSS in the AcmeRouter admin console",
            "The device name field is rendered unescaped, see https://acme.example/kb/77 "
            "and CVE-2026-1234.",
        )
        _report("Slow login page", "The login page takes ten seconds to load.")
        twin = _report(
            "XSS in AcmeRouter admin console device name",
            "Device name is not escaped in the admin console (CVE-2026-1234).",
        )
    [best, *_rest] = cases.duplicate_candidates(analyst, twin.tracking_id)
    assert best.key == original.tracking_id
    assert any("CVE-2026-1234" in reason for reason in best.reasons)

    browser = Browser()
    browser.client.force_login(analyst)
    page = browser.get(f"/cases/{twin.tracking_id}/").content.decode()
    assert f"Mark as a duplicate of {original.tracking_id}" in page
    browser.post(
        f"/cases/{twin.tracking_id}/step",
        {"target": "duplicate", "duplicate_of": original.tracking_id},
    )
    twin.refresh_from_db()
    assert twin.state == "duplicate"  # straight from received, in one action
    assert twin.duplicate_of == original
    told = Message.objects.get(case=twin, kind="thread")
    assert "already reported" in told.body
    assert OutboundMail.objects.filter(case=twin, kind="reply").exists()


def test_the_reporters_answer_to_a_question_returns_the_case_to_triage(analyst) -> None:
    case = _report("Unclear report")
    cases.transition(analyst, case.tracking_id, "triage", StepInput())
    cases.transition(analyst, case.tracking_id, "needs_info", StepInput(reason="Which version?"))
    receiving.add_reporter_message(case.pk, "Version 2.1.6.", via="email")  # type: ignore[arg-type]
    case.refresh_from_db()
    assert case.state == "triage"
    assert case.state_entries.last().reason == "the reporter answered"


def test_unanswered_questions_close_after_the_configured_days(analyst) -> None:
    case = _report("Silent reporter")
    cases.transition(analyst, case.tracking_id, "triage", StepInput())
    cases.transition(analyst, case.tracking_id, "needs_info", StepInput(reason="Which version?"))
    assert receiving.close_unanswered(30) == []
    later = datetime.now(tz=TOKYO) + timedelta(days=31)
    assert receiving.close_unanswered(30, now=later) == [case.tracking_id]
    case.refresh_from_db()
    assert case.state == "closed"


def test_candidates_are_only_those_the_user_may_see(admin, django_capture_on_commit_callbacks):
    """A product engineer sees candidates among their team's cases only."""
    engineer = factories.user(Role.PRODUCT_ENGINEER)
    team = factories.team(admin, members=(engineer,))
    mine = factories.product(admin, teams=(team,))
    with django_capture_on_commit_callbacks(execute=True):
        hidden = _report("Buffer overflow in the parser of the image library")
        ours = _report("Buffer overflow in the parser of the image library", products=(mine,))
    assert [c.key for c in cases.duplicate_candidates(admin, ours.tracking_id)] == [
        hidden.tracking_id
    ]
    assert cases.duplicate_candidates(engineer, ours.tracking_id) == []
