"""The release pages, driven as a browser would (plain forms, CSRF tokens, no JavaScript): the
trains and out-of-band releases, one release with its cases, moves and refusals, subscribers."""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from mamori.accounts.models import User
from mamori.cases import services as cases
from mamori.core.authz import Role
from mamori.core.workflow import StepInput
from mamori.products import services as catalogue
from mamori.releases import services as releases
from mamori.releases.models import Delivery, Move, Notice, Release, Subscriber
from tests import factories


def post(client: Client, path: str, data: dict[str, object], **extra: object):
    """POST a form as the browser would after loading a page: with the CSRF cookie's token."""
    if "csrftoken" not in client.cookies:
        client.get("/cases/")
    token = client.cookies["csrftoken"].value
    return client.post(path, {**data, "csrfmiddlewaretoken": token}, **extra)


def text(response) -> str:
    return html.unescape(response.content.decode())


def developed(admin: User, product: str, team: str, title: str) -> str:
    """A case of ``product`` handed to ``team``: rated, its matrix answered, in development —
    which puts it into the next open monthly release."""
    tid = factories.case(admin, title, products=(product,))
    cases.update_case(admin, tid, cases.CaseChanges(owning_team=team, assignee=admin.username))
    factories.rate(admin, tid)
    for target in ("triage", "reproducing", "confirmed"):
        cases.transition(admin, tid, target, StepInput())
    factories.settle_matrix(admin, tid)
    cases.transition(admin, tid, "in_development", StepInput())
    return tid


@pytest.fixture
def manager(db: None) -> User:
    return factories.user(Role.RELEASE_MANAGER, "remi")


@pytest.fixture
def engineer(db: None) -> User:
    return factories.user(Role.PRODUCT_ENGINEER, "engineer-web")


@pytest.fixture
def world(admin: User, engineer: User) -> SimpleNamespace:
    """The portal of the web team (the engineer's) and billing of another team, each with a case
    in development, both in the next monthly release."""
    web = factories.team(admin, "web-team", members=(engineer,))
    other = factories.team(admin, "billing-team")
    factories.product(admin, "portal", teams=(web,))
    factories.product(admin, "billing", teams=(other,))
    catalogue.add_version(admin, "portal", catalogue.VersionDraft("2.x"))
    catalogue.add_version(admin, "billing", catalogue.VersionDraft("3.0"))
    portal = developed(admin, "portal", web, "Stored XSS in the portal")
    billing = developed(admin, "billing", other, "SQL injection in billing")
    train = releases.release_of(cases.get_case(admin, portal))
    assert train is not None and train == releases.release_of(cases.get_case(admin, billing))
    return SimpleNamespace(portal=portal, billing=billing, train=train.name)


def planned_after(name: str) -> str:
    """The monthly release after ``name``."""
    later = Release.objects.filter(kind="monthly", state="planned").exclude(name=name)
    after = later.filter(release_at__gt=Release.objects.get(name=name).release_at)
    return after.order_by("release_at").first().name


def out_of_band(manager: User, *tracking_ids: str) -> str:
    at = timezone.now() + timedelta(days=3)
    made = releases.create_out_of_band(
        manager, release_at=at, reason="exploited in the wild", tracking_ids=tracking_ids
    )
    return made.name


# The list of releases --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_release_manager_sees_the_trains_their_cases_and_the_form(
    manager, world, client_for
) -> None:
    page = client_for(manager).get("/releases/")
    assert page.status_code == 200
    body = text(page)
    assert "<script" not in body
    assert f'href="/releases/{world.train}/"' in body
    assert "Upcoming releases" in body and "Past releases" in body
    row = body[body.index(f'href="/releases/{world.train}/"') :].split("</tr>")[0]
    assert "<td>2</td>" in row  # both cases
    assert "Monthly" in row and "Planned" in row
    assert 'action="/releases/out-of-band"' in body
    assert 'type="datetime-local"' in body
    assert "No case calls for an out-of-band release." in body
    assert Release.objects.filter(kind="monthly").count() >= 12


@pytest.mark.django_db
def test_an_engineer_counts_only_their_teams_cases(engineer, world, client_for) -> None:
    client = client_for(engineer)
    body = text(client.get("/releases/"))
    row = body[body.index(f'href="/releases/{world.train}/"') :].split("</tr>")[0]
    assert "<td>1</td>" in row
    assert 'action="/releases/out-of-band"' not in body  # engineers do not create releases

    body = text(client.get(f"/releases/{world.train}/"))
    assert world.portal in body
    assert world.billing not in body and "SQL injection" not in body
    assert f"{world.portal} is in development" in body
    assert "/publish" not in body and "/move" not in body
    assert "Read only" in body


@pytest.mark.django_db
def test_public_cases_before_their_fix_are_suggested_for_an_out_of_band_release(
    admin, manager, world, client_for
) -> None:
    cases.set_flag(admin, world.portal, "P")
    body = text(client_for(manager).get("/releases/"))
    start = body.index("Out-of-band releases needed")
    section = body[start : body.index("Upcoming releases")]
    assert world.portal in section and world.billing not in section
    assert "Out-of-Cycle: an out-of-band release is suggested" in section
    assert world.train in section  # where it is now


@pytest.mark.django_db
def test_an_immediate_case_is_shown_as_requiring_an_out_of_band_release(
    admin, manager, world, client_for
) -> None:
    from mamori.assessment import services as assessment

    changes = assessment.RatingChanges(
        ssvc={
            "automatable": "yes",
            "value_density": "concentrated",
            "technical_impact": "total",
            "safety_impact": "negligible",
        }
    )
    assessment.update_rating(admin, world.billing, changes)
    assessment.record_fact(admin, world.billing, "exploited", timezone.localdate(), "a report")
    assert releases.effective_urgency(cases.get_case(admin, world.billing)).value == "immediate"
    body = text(client_for(manager).get("/releases/"))
    assert "Immediate: an out-of-band release is required" in body


@pytest.mark.django_db
def test_reporters_may_not_see_releases(admin, world, client_for) -> None:
    reporter = client_for(factories.user(Role.REPORTER, "rita"))
    assert reporter.get("/releases/").status_code == 403
    assert reporter.get(f"/releases/{world.train}/").status_code == 403
    assert reporter.get("/releases/subscribers/").status_code == 403
    assert client_for(admin).get("/releases/NO-SUCH-RELEASE/").status_code == 404


# Creating an out-of-band release -------------------------------------------------------------


@pytest.mark.django_db
def test_an_out_of_band_release_is_created_in_the_configured_time_zone(
    manager, world, client_for, settings
) -> None:
    settings.TIME_ZONE = "Asia/Tokyo"
    client = client_for(manager)
    page = post(
        client,
        "/releases/out-of-band",
        {
            "release_at": "2030-01-15T10:00",
            "reason": "exploited in the wild",
            "cases": f"{world.portal}\n\n",
        },
        follow=True,
    )
    assert page.status_code == 200
    release = Release.objects.get(kind="out_of_band")
    assert release.name == "OOB-2030-01-15-1"
    assert page.redirect_chain[-1][0] == f"/releases/{release.name}/"
    assert release.release_at == datetime(2030, 1, 15, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert release.created_by == manager
    body = text(page)
    assert "Release OOB-2030-01-15-1 created." in body
    assert world.portal in body and world.billing not in body
    assert f"{world.train} → {release.name}" in body  # the move, with its reason
    assert "out-of-band release: exploited in the wild" in body
    assert releases.release_of(cases.get_case(manager, world.portal)) == release


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"release_at": "2030-01-15T10:00", "reason": "  "}, "reason"),
        ({"release_at": "next tuesday", "reason": "exploited"}, "release_at"),
        ({"release_at": "2030-01-15T10:00", "reason": "x", "cases": "MAMORI-2020-9999"}, "cases"),
    ],
)
def test_a_refused_out_of_band_release_shows_the_problem_at_its_field(
    manager, world, client_for, data, field
) -> None:
    page = post(client_for(manager), "/releases/out-of-band", data)
    assert page.status_code == 422
    assert field in page.context["form"].errors
    assert text(page).count('class="errorlist') >= 1
    assert not Release.objects.filter(kind="out_of_band").exists()
    assert Move.objects.count() == 2  # the two cases entering the train, nothing more


@pytest.mark.django_db
def test_an_analysts_forged_out_of_band_release_is_refused(analyst, world, client_for) -> None:
    client = client_for(analyst)
    assert 'action="/releases/out-of-band"' not in text(client.get("/releases/"))
    page = post(
        client,
        "/releases/out-of-band",
        {"release_at": "2030-01-15T10:00", "reason": "forged", "cases": world.portal},
    )
    assert page.status_code == 302
    assert "your role may not" in text(client.get(page["Location"]))
    assert not Release.objects.filter(kind="out_of_band").exists()


# One release -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_release_manager_moves_a_case_with_a_reason(manager, world, client_for) -> None:
    client = client_for(manager)
    body = text(client.get(f"/releases/{world.train}/"))
    assert body.count(f'action="/releases/{world.train}/move"') == 2
    assert f'href="/cases/{world.portal}/"' in body and f'href="/cases/{world.billing}/"' in body
    assert f"{world.portal} is in development" in body
    assert f"{world.billing} is in development" in body
    later = planned_after(world.train)

    refused = post(
        client,
        f"/releases/{world.train}/move",
        {"tracking_id": world.portal, "release": later, "reason": ""},
    )
    assert refused.status_code == 422
    form = refused.context["cases"][0][3]
    assert "reason" in form.errors
    assert releases.release_of(cases.get_case(manager, world.portal)).name == world.train

    page = post(
        client,
        f"/releases/{world.train}/move",
        {"tracking_id": world.portal, "release": later, "reason": "the fix needs a new API"},
        follow=True,
    )
    assert page.redirect_chain[-1][0] == f"/releases/{world.train}/"
    assert f"{world.portal} is in {later}." in text(page)
    assert releases.release_of(cases.get_case(manager, world.portal)).name == later
    move = Move.objects.filter(case__tracking_id=world.portal).last()
    assert (move.reason, move.actor) == ("the fix needs a new API", manager)
    body = text(client.get(f"/releases/{later}/"))
    assert world.portal in body and "the fix needs a new API" in body


@pytest.mark.django_db
def test_cases_move_only_to_releases_still_open(manager, world, client_for) -> None:
    later = planned_after(world.train)
    body = text(client_for(manager).get(f"/releases/{world.train}/"))
    assert f'<option value="{later}">' in body
    frozen = Release.objects.get(name=later).cutoff_at
    with time_machine.travel(frozen + timedelta(minutes=1), tick=False):
        body = text(client_for(manager).get(f"/releases/{world.train}/"))
    assert f'<option value="{later}">' not in body  # its code freeze has begun
    assert f'<option value="{planned_after(later)}">' in body


@pytest.mark.django_db
def test_a_published_release_is_listed_as_past_and_offers_no_forms(
    manager, world, client_for
) -> None:
    name = out_of_band(manager, world.portal)
    Release.objects.filter(name=name).update(state="published", published_at=timezone.now())
    client = client_for(manager)
    body = text(client.get("/releases/"))
    past = body[body.index("Past releases") :]
    assert f'href="/releases/{name}/"' in past
    body = text(client.get(f"/releases/{name}/"))
    assert "Published" in body and world.portal in body
    assert "/publish" not in body and "/move" not in body and "/add" not in body


@pytest.mark.django_db
def test_a_case_is_added_to_an_out_of_band_release(manager, world, client_for) -> None:
    client = client_for(manager)
    name = out_of_band(manager)
    refused = post(client, f"/releases/{name}/add", {"tracking_id": "MAMORI-2020-9999"})
    assert refused.status_code == 422
    assert "tracking_id" in refused.context["add_form"].errors
    page = post(
        client,
        f"/releases/{name}/add",
        {"tracking_id": world.billing, "reason": "ships with the portal fix"},
        follow=True,
    )
    assert f"{world.billing} is in {name}." in text(page)
    assert releases.release_of(cases.get_case(manager, world.billing)).name == name


@pytest.mark.django_db
def test_publishing_is_refused_with_every_missing_item(manager, world, client_for) -> None:
    client = client_for(manager)
    page = post(client, f"/releases/{world.train}/publish", {}, follow=True)
    body = text(page)
    assert f"{world.train} was not published. Still missing:" in body
    assert f"every case ready for release: {world.billing} is in development" in body
    assert f"every case ready for release: {world.portal} is in development" in body
    assert Release.objects.get(name=world.train).state == "planned"

    empty = out_of_band(manager)
    body = text(post(client, f"/releases/{empty}/publish", {}, follow=True))
    assert f"release {empty} has no cases to publish" in body
    assert Release.objects.get(name=empty).state == "planned"


@pytest.mark.django_db
def test_an_analysts_forged_publish_and_move_are_refused(analyst, world, client_for) -> None:
    client = client_for(analyst)
    body = text(client.get(f"/releases/{world.train}/"))
    assert "/publish" not in body and "/move" not in body and "/add" not in body
    page = post(client, f"/releases/{world.train}/publish", {})
    assert page.status_code == 302
    assert "your role may not" in text(client.get(page["Location"]))
    later = planned_after(world.train)
    page = post(
        client,
        f"/releases/{world.train}/move",
        {"tracking_id": world.portal, "release": later, "reason": "forged"},
    )
    assert page.status_code == 302
    assert releases.release_of(cases.get_case(analyst, world.portal)).name == world.train
    assert Release.objects.get(name=world.train).state == "planned"


@pytest.mark.django_db
def test_the_advance_notification_and_its_deliveries(manager, analyst, world, client_for) -> None:
    release = Release.objects.get(name=world.train)
    summary = {
        "release": release.name,
        "release_date": release.release_at.isoformat(),
        "bulletins": 2,
        "highest_severity": "Important",
        "products": ["Billing", "Portal"],
        "restart_required": True,
    }
    notice = Notice.objects.create(release=release, summary=summary)
    hook = Subscriber.objects.create(
        name="Customer SOC", kind="webhook", url="https://soc.example.com/hook", secret="s" * 32
    )
    Delivery.objects.create(
        notice=notice, subscriber=hook, state="failed", attempts=6, last_error="timed out"
    )
    body = text(client_for(manager).get(f"/releases/{world.train}/"))
    assert "Advance notification" in body and "Billing, Portal" in body and "Important" in body
    row = body[body.index("Customer SOC") :].split("</tr>")[0]
    assert "Failed" in row and "<td>6</td>" in row and "timed out" in row

    body = text(client_for(analyst).get(f"/releases/{world.train}/"))
    assert "Billing, Portal" in body  # the summary is what subscribers were told
    assert "Customer SOC" not in body and "timed out" not in body


@pytest.mark.django_db
def test_the_case_page_shows_its_release_and_the_advisory_link(admin, world, client_for) -> None:
    body = text(client_for(admin).get(f"/cases/{world.portal}/"))
    assert f'href="/releases/{world.train}/"' in body
    assert f'href="/cases/{world.portal}/advisory/"' in body


# Subscribers -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_subscribers_are_added_listed_and_removed(manager, client_for) -> None:
    client = client_for(manager)
    assert client.get("/releases/subscribers/").status_code == 200
    page = post(
        client,
        "/releases/subscribers/add",
        {"name": "Ops list", "email": "ops@example.com"},
        follow=True,
    )
    assert "Subscriber Ops list added." in text(page)
    page = post(
        client,
        "/releases/subscribers/add",
        {"name": "Customer SOC", "url": "https://soc.example.com/hook"},
        follow=True,
    )
    hook = Subscriber.objects.get(name="Customer SOC")
    body = text(page)
    assert f"shown only now: {hook.secret}" in body
    assert "ops@example.com" in body and "https://soc.example.com/hook" in body
    assert hook.secret not in text(client.get("/releases/subscribers/"))  # once only

    page = post(client, f"/releases/subscribers/{hook.pk}/remove", {}, follow=True)
    assert "nothing more is sent to it" in text(page)
    hook.refresh_from_db()
    assert not hook.active
    assert post(client, "/releases/subscribers/99999/remove", {}).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "Both", "email": "a@example.com", "url": "https://example.com/h"}, "url"),
        ({"name": "Neither"}, "url"),
        ({"name": "Bad mail", "email": "not-an-address"}, "email"),
        ({"name": "FTP", "url": "ftp://example.com/hook"}, "url"),
        ({"name": "", "email": "a@example.com"}, "name"),
    ],
)
def test_a_refused_subscriber_shows_the_problem_at_its_field(
    manager, client_for, data, field
) -> None:
    page = post(client_for(manager), "/releases/subscribers/add", data)
    assert page.status_code == 422
    assert field in page.context["form"].errors
    assert not Subscriber.objects.exists()


@pytest.mark.django_db
def test_only_release_managers_manage_subscribers(analyst, client_for) -> None:
    client = client_for(analyst)
    assert client.get("/releases/subscribers/").status_code == 403
    page = post(client, "/releases/subscribers/add", {"name": "x", "email": "x@example.com"})
    assert page.status_code == 302
    assert not Subscriber.objects.exists()
