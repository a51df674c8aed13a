"""A reporter never sees another reporter's case, an internal note, or internal state.

Through the JSON API (real bearer tokens) and the UI (real sessions, CSRF enforced). Another
reporter's case is "not found" (404), never "forbidden" (403), so its existence is not revealed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mamori.accounts.models import User
from mamori.cases import services
from mamori.cases.models import Attachment, Message
from mamori.core.authz import Role
from mamori.core.workflow import State, StepInput
from tests import factories

CVSS = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
NOTE_TEXT = "NOTE-zq81 exploitable through the heap spray in decode_block"
NOTE_FILE = "internal-triage-zq81.txt"
NOTE_FILE_CONTENT = b"internal analysis: do not share\n"
THREAD_FILE = "proof-of-concept.txt"
THREAD_FILE_CONTENT = b"curl -d @payload http://localhost/parse\n"
REPORTER_TEXT = "Here is my proof of concept."
REPLY_TEXT = "Thank you, we are looking into it."
ASSIGNEE = "assignee-xk42"
TEAM = "team-vq17"
PRODUCT = "product-wr55"

#: Keys of the internal case representation a reporter must never receive.
INTERNAL_KEYS = {
    "state",
    "state_changed_at",
    "source",
    "reporter_name",
    "reporter_email",
    "reporter_organisation",
    "products",
    "owning_team",
    "assignee",
    "cvss_score",
    "priority_score",
    "severity",
    "priority",
    "rework_count",
    "duplicate_of",
    "bug_reference",
    "build_reference",
    "release_reference",
    "flags",
    "updated_at",
    "audit",
    "notes",
    "timeline",
    "steps",
}
REPORTER_KEYS = {"tracking_id", "title", "description", "status", "created_at"}


@dataclass
class Scene:
    admin: User
    analyst: User
    alice: User  # reporter A
    bob: User  # reporter B
    case_a: str  # Alice's case, internally "reproducing", rated, assigned, with a note
    case_b: str  # Bob's case
    thread_file: int  # attachment on Alice's own thread message
    note_file: int  # attachment on an internal note on Alice's case


def _upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/plain")


@pytest.fixture
def scene(admin, analyst) -> Scene:
    assignee = factories.user(Role.ANALYST, ASSIGNEE)
    alice = factories.user(Role.REPORTER, "reporter-alice")
    bob = factories.user(Role.REPORTER, "reporter-bob")
    team = factories.team(admin, TEAM)
    product = factories.product(admin, PRODUCT, teams=(team,))

    case_a = factories.case(alice, title="Alice: overflow in parser", description="alice text")
    case_b = factories.case(bob, title="Bob: XSS in search", description="bob text")
    services.update_case(
        admin,
        case_a,
        services.CaseChanges(
            products=(product,),
            owning_team=team,
            assignee=assignee.username,
        ),
    )
    factories.rate(admin, case_a, "critical", CVSS)
    services.transition(admin, case_a, State.TRIAGE.value, StepInput())
    services.transition(admin, case_a, State.REPRODUCING.value, StepInput())

    mine = services.post_message(
        alice, case_a, REPORTER_TEXT, [_upload(THREAD_FILE, THREAD_FILE_CONTENT)]
    )
    services.post_message(analyst, case_a, REPLY_TEXT)
    note = services.post_message(
        assignee, case_a, NOTE_TEXT, [_upload(NOTE_FILE, NOTE_FILE_CONTENT)], internal_note=True
    )
    return Scene(
        admin=admin,
        analyst=analyst,
        alice=alice,
        bob=bob,
        case_a=case_a,
        case_b=case_b,
        thread_file=Attachment.objects.get(message=mine).pk,
        note_file=Attachment.objects.get(message=note).pk,
    )


def _content(response) -> bytes:
    """The body of a normal or streaming response.

    Reading a streaming response to the end makes the test client close it (and the stored file
    it streams from); closing it again here would also close the test's database connection.
    """
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def _csrf(client: Client, page: str = "/cases/mine/") -> str:
    """Load a page as a browser would and return the CSRF token the form would send."""
    response = client.get(page)
    assert response.status_code == 200
    return client.cookies["csrftoken"].value


# Reporter B and reporter A's case ---------------------------------------------------------------

OTHER_CASE_CALLS = [
    pytest.param("get", "", None, id="get-case"),
    pytest.param("get", "/messages", None, id="get-messages"),
    pytest.param("get", "/notes", None, id="get-notes"),
    pytest.param("get", "/audit", None, id="get-audit"),
    pytest.param("get", "/timeline", None, id="get-timeline"),
    pytest.param("get", "/steps", None, id="get-steps"),
    pytest.param("post", "/messages", {"body": "let me in"}, id="post-message"),
    pytest.param("post", "/transitions", {"target": "confirmed"}, id="post-transition"),
    pytest.param("post", "/transitions", {"target": "triage"}, id="post-illegal-transition"),
    pytest.param("get", "/attachments/{thread_file}", None, id="download-thread-file"),
    pytest.param("get", "/attachments/{note_file}", None, id="download-note-file"),
]


def _api(client: Client, method: str, path: str, body: dict[str, object] | None):
    if method == "get":
        return client.get(path)
    return client.post(path, data=body or {}, content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "suffix", "body"), OTHER_CASE_CALLS)
def test_other_reporter_gets_not_found_from_the_api(scene, api_for, method, suffix, body):
    suffix = suffix.format(thread_file=scene.thread_file, note_file=scene.note_file)
    client = api_for(scene.bob)
    messages_before = Message.objects.count()

    response = _api(client, method, f"/api/cases/{scene.case_a}{suffix}", body)
    nowhere = _api(client, method, f"/api/cases/VUL-1999-99999{suffix}", body)

    assert response.status_code == 404, response.content
    assert response.json()["error"] == "not_found"
    # Exactly what a case that does not exist answers: nothing tells the two apart.
    assert (nowhere.status_code, nowhere.json()["error"]) == (404, "not_found")
    body_text = response.content.decode()
    assert "reproducing" not in body_text
    assert "Alice" not in body_text
    assert Message.objects.count() == messages_before
    assert services.get_case(scene.admin, scene.case_a).state == State.REPRODUCING.value


@pytest.mark.django_db
def test_other_reporter_gets_not_found_from_the_ui(scene, client_for):
    client = client_for(scene.bob)
    token = _csrf(client)
    messages_before = Message.objects.count()

    page = client.get(f"/cases/{scene.case_a}/")
    posted = client.post(
        f"/cases/{scene.case_a}/message",
        {"body": "let me in", "csrfmiddlewaretoken": token},
    )
    thread_file = client.get(f"/cases/{scene.case_a}/files/{scene.thread_file}")
    note_file = client.get(f"/cases/{scene.case_a}/files/{scene.note_file}")

    assert page.status_code == 404
    assert posted.status_code == 404
    assert thread_file.status_code == 404
    assert note_file.status_code == 404
    for response in (page, posted, thread_file, note_file):
        text = _content(response).decode()
        assert "Alice" not in text
        assert REPORTER_TEXT not in text
    assert Message.objects.count() == messages_before
    # The same token on Bob's own case works: the 404 above is not a CSRF refusal.
    own = client.post(
        f"/cases/{scene.case_b}/message", {"body": "an update", "csrfmiddlewaretoken": token}
    )
    assert own.status_code == 302
    assert Message.objects.count() == messages_before + 1


@pytest.mark.django_db
def test_reporter_lists_only_their_own_cases(scene, api_for):
    internal_only = factories.case(scene.admin, title="Found by our own fuzzing")

    for who, own in ((scene.alice, scene.case_a), (scene.bob, scene.case_b)):
        for query in ("", "?include_done=true"):
            response = api_for(who).get(f"/api/cases{query}")
            assert response.status_code == 200
            listed = [c["tracking_id"] for c in response.json()]
            assert listed == [own], (who.username, query)
            assert internal_only not in listed


@pytest.mark.django_db
def test_reporter_ui_list_shows_only_their_own_cases(scene, client_for):
    page = client_for(scene.bob).get("/cases/mine/")

    assert page.status_code == 200
    text = page.content.decode()
    assert scene.case_b in text
    assert scene.case_a not in text
    assert "Alice" not in text


# Reporter A on their own case -----------------------------------------------------------------


@pytest.mark.django_db
def test_reporter_case_json_has_no_internal_keys(scene, api_for):
    client = api_for(scene.alice)

    detail = client.get(f"/api/cases/{scene.case_a}")
    listed = client.get("/api/cases")

    assert detail.status_code == 200
    assert set(detail.json()) == REPORTER_KEYS
    assert not INTERNAL_KEYS & set(detail.json())
    assert detail.json()["status"] == "under investigation"
    assert [set(c) for c in listed.json()] == [REPORTER_KEYS]
    assert listed.json()[0]["status"] == "under investigation"
    for response in (detail, listed):
        text = response.content.decode()
        for secret in ("reproducing", ASSIGNEE, TEAM, PRODUCT, CVSS, "critical", NOTE_TEXT):
            assert secret not in text


@pytest.mark.django_db
def test_reporter_creating_a_case_gets_the_reporter_view(scene, api_for):
    response = api_for(scene.alice).post(
        "/api/cases", {"title": "Second report"}, content_type="application/json"
    )

    assert response.status_code == 201
    assert set(response.json()) == REPORTER_KEYS
    assert response.json()["status"] == "received"


@pytest.mark.django_db
def test_reporter_thread_has_no_notes(scene, api_for):
    response = api_for(scene.alice).get(f"/api/cases/{scene.case_a}/messages")

    assert response.status_code == 200
    bodies = [m["body"] for m in response.json()]
    assert bodies == [REPORTER_TEXT, REPLY_TEXT]
    files = [a["id"] for m in response.json() for a in m["attachments"]]
    assert files == [scene.thread_file]
    text = response.content.decode()
    assert NOTE_TEXT not in text
    assert NOTE_FILE not in text
    assert ASSIGNEE not in text


@pytest.mark.parametrize("suffix", ["/notes", "/audit", "/timeline", "/steps"])
@pytest.mark.django_db
def test_reporter_gets_not_found_for_internal_parts_of_own_case(scene, api_for, suffix):
    response = api_for(scene.alice).get(f"/api/cases/{scene.case_a}{suffix}")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert NOTE_TEXT not in response.content.decode()
    assert "reproducing" not in response.content.decode()
    # An internal user gets the real thing from the same address.
    assert api_for(scene.analyst).get(f"/api/cases/{scene.case_a}{suffix}").status_code == 200


@pytest.mark.django_db
def test_reporter_ui_page_shows_the_thread_but_nothing_internal(scene, client_for):
    page = client_for(scene.alice).get(f"/cases/{scene.case_a}/")

    assert page.status_code == 200
    text = page.content.decode()
    assert REPORTER_TEXT in text
    assert REPLY_TEXT in text
    assert THREAD_FILE in text
    assert "under investigation" in text
    for secret in (
        NOTE_TEXT,
        NOTE_FILE,
        f"/files/{scene.note_file}",
        "reproducing",
        "Reproducing",
        ASSIGNEE,
        TEAM,
        PRODUCT,
        CVSS,
        "Internal notes",
        "Audit trail",
        "Next steps",
        f"/cases/{scene.case_a}/note",
        f"/cases/{scene.case_a}/step",
    ):
        assert secret not in text, secret


@pytest.mark.django_db
def test_internal_page_does_show_what_the_reporter_page_hides(scene, client_for):
    """Control for the test above: the secrets are really on the case, for internal users."""
    text = client_for(scene.analyst).get(f"/cases/{scene.case_a}/").content.decode()

    for secret in (NOTE_TEXT, NOTE_FILE, "Internal notes", ASSIGNEE, "Reproducing"):
        assert secret in text, secret


@pytest.mark.django_db
def test_note_attachment_is_not_found_for_the_reporter_but_downloadable_internally(
    scene, api_for, client_for
):
    api_path = f"/api/cases/{scene.case_a}/attachments/{scene.note_file}"
    ui_path = f"/cases/{scene.case_a}/files/{scene.note_file}"

    reporter_api = api_for(scene.alice).get(api_path)
    reporter_ui = client_for(scene.alice).get(ui_path)
    analyst_api = api_for(scene.analyst).get(api_path)
    analyst_ui = client_for(scene.analyst).get(ui_path)

    assert reporter_api.status_code == 404
    assert reporter_api.json()["error"] == "not_found"
    assert reporter_ui.status_code == 404
    assert NOTE_FILE_CONTENT not in _content(reporter_ui)
    assert analyst_api.status_code == 200
    assert analyst_api["Content-Disposition"].startswith("attachment")
    assert _content(analyst_api) == NOTE_FILE_CONTENT
    assert analyst_ui.status_code == 200
    assert _content(analyst_ui) == NOTE_FILE_CONTENT


@pytest.mark.django_db
def test_thread_attachment_is_downloadable_by_the_reporter(scene, api_for, client_for):
    for client, path in (
        (api_for(scene.alice), f"/api/cases/{scene.case_a}/attachments/{scene.thread_file}"),
        (client_for(scene.alice), f"/cases/{scene.case_a}/files/{scene.thread_file}"),
    ):
        response = client.get(path)
        assert response.status_code == 200
        disposition = response["Content-Disposition"]
        assert disposition.startswith("attachment"), disposition
        assert THREAD_FILE in disposition
        assert response["X-Content-Type-Options"] == "nosniff"
        assert _content(response) == THREAD_FILE_CONTENT


# Reporters and internal notes -----------------------------------------------------------------


@pytest.mark.django_db
def test_reporter_cannot_post_an_internal_note_through_the_api(scene, api_for):
    """Refused as "forbidden" by role, before the case is looked up.

    So the answer is the same for the reporter's own case, another reporter's case and a case
    that does not exist: it says nothing about which cases exist or what is inside them.
    """
    client = api_for(scene.alice)
    notes_before = Message.objects.filter(kind="note").count()

    answers = {
        tid: client.post(
            f"/api/cases/{tid}/notes", {"body": "sneaky"}, content_type="application/json"
        )
        for tid in (scene.case_a, scene.case_b, "VUL-1999-99999")
    }
    upload = client.post(
        f"/api/cases/{scene.case_a}/attachments",
        {"body": "sneaky", "note": "true", "files": _upload("x.txt", b"x")},
    )

    for tid, response in answers.items():
        assert response.status_code == 403, (tid, response.content)
        assert response.json()["error"] == "forbidden"
        assert tid not in response.content.decode()
        assert "reproducing" not in response.content.decode()
    assert len({r.content for r in answers.values()}) == 1
    assert upload.status_code == 403
    assert upload.json()["error"] == "forbidden"
    assert Message.objects.filter(kind="note").count() == notes_before
    assert Attachment.objects.count() == 2


@pytest.mark.django_db
def test_reporter_cannot_post_an_internal_note_through_the_ui(scene, client_for):
    client = client_for(scene.alice)
    token = _csrf(client, f"/cases/{scene.case_a}/")
    notes_before = Message.objects.filter(kind="note").count()

    response = client.post(
        f"/cases/{scene.case_a}/note", {"body": "sneaky", "csrfmiddlewaretoken": token}
    )

    assert response.status_code == 302
    assert Message.objects.filter(kind="note").count() == notes_before
    page = client.get(response["Location"])
    assert "sneaky" not in page.content.decode()
    assert "Internal notes" not in page.content.decode()


# Internal state must not leak through side channels ---------------------------------------------


@pytest.mark.django_db
def test_reporter_transition_attempts_do_not_reveal_the_internal_state(scene, api_for):
    """Whatever target a reporter tries, the answer must not depend on the internal state.

    Alice's case is internally "reproducing" (she is shown "under investigation"). A step the
    workflow offers from there and one it does not must be refused alike, and no answer may
    name the internal state.
    """
    client = api_for(scene.alice)

    answers = {
        target.value: client.post(
            f"/api/cases/{scene.case_a}/transitions",
            {"target": target.value, "reason": "please"},
            content_type="application/json",
        )
        for target in State
    }

    statuses = {target: response.status_code for target, response in answers.items()}
    assert set(statuses.values()) == {403}, statuses
    for target, response in answers.items():
        assert "reproducing" not in response.content.decode(), (target, response.content)
    assert services.get_case(scene.admin, scene.case_a).state == State.REPRODUCING.value


@pytest.mark.django_db
def test_reporter_ui_step_attempts_do_not_reveal_the_internal_state(scene, client_for):
    client = client_for(scene.alice)
    token = _csrf(client, f"/cases/{scene.case_a}/")

    for target in (State.CONFIRMED, State.TRIAGE, State.RELEASED):
        response = client.post(
            f"/cases/{scene.case_a}/step",
            {"target": target.value, "csrfmiddlewaretoken": token},
            follow=True,
        )
        text = response.content.decode()
        assert "reproducing" not in text, (target, re.findall(r".{0,60}reproducing.{0,20}", text))
    assert services.get_case(scene.admin, scene.case_a).state == State.REPRODUCING.value


LIST_FILTER_PROBES = [
    pytest.param("state", "reproducing", "triage", id="state"),
    pytest.param("severity", "critical", "low", id="severity"),
    pytest.param("assignee", ASSIGNEE, "nobody-at-all", id="assignee"),
    pytest.param("team", TEAM, "team-none", id="team"),
    pytest.param("product", PRODUCT, "product-none", id="product"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "true_value", "false_value"), LIST_FILTER_PROBES)
def test_reporter_list_filters_do_not_reveal_internal_fields(
    scene, api_for, name, true_value, false_value
):
    """Filtering one's own cases by an internal field must not answer "is it so?".

    Whatever the server does with such a filter for a reporter (ignore it or refuse it), the
    answer for the true value and for a false one must be the same.
    """
    client = api_for(scene.alice)

    hit = client.get("/api/cases", {name: true_value})
    miss = client.get("/api/cases", {name: false_value})

    assert (hit.status_code, hit.json()) == (miss.status_code, miss.json())


@pytest.mark.django_db
def test_reporter_case_order_does_not_reveal_severity(scene, api_for, client_for):
    """Rating one of a reporter's cases must not change how their list looks to them."""
    older = factories.case(scene.alice, title="First of two")
    newer = factories.case(scene.alice, title="Second of two")
    services.transition(scene.admin, older, State.TRIAGE.value, StepInput())
    services.transition(scene.admin, newer, State.TRIAGE.value, StepInput())
    api = api_for(scene.alice)
    ui = client_for(scene.alice)

    def order() -> tuple[list[str], list[str]]:
        listed = [c["tracking_id"] for c in api.get("/api/cases").json()]
        page = ui.get("/cases/mine/").content.decode()
        shown = [tid for tid in re.findall(r'href="/cases/([^/"]+)/"', page) if tid in listed]
        return [t for t in listed if t in (older, newer)], [t for t in shown if t in (older, newer)]

    before = order()
    factories.rate(scene.admin, newer, "critical")
    factories.rate(scene.admin, older, "low")
    after = order()

    assert before == ([newer, older], [newer, older])  # newest first
    assert after == before


@pytest.mark.django_db
def test_reporter_default_list_does_not_reveal_spam_versus_closed(scene, api_for):
    """Spam and closed are both "closed" to a reporter; the list must treat them alike."""
    spam = factories.case(scene.alice, title="Marked as spam")
    closed = factories.case(scene.alice, title="Closed after spam")
    for tid in (spam, closed):
        services.transition(scene.admin, tid, State.TRIAGE.value, StepInput())
        services.transition(scene.admin, tid, State.SPAM.value, StepInput())
    services.transition(scene.admin, closed, State.CLOSED.value, StepInput())

    listed = {c["tracking_id"]: c["status"] for c in api_for(scene.alice).get("/api/cases").json()}

    assert (
        services.get_case(scene.alice, spam).state != services.get_case(scene.alice, closed).state
    )
    assert (spam in listed) == (closed in listed), listed


@pytest.mark.django_db
def test_reporter_views_do_not_change_with_internal_only_changes(scene, api_for, client_for):
    """Internal work that keeps the reporter-visible status must leave their views unchanged."""
    api = api_for(scene.alice)
    ui = client_for(scene.alice)

    def views() -> dict[str, object]:
        page = ui.get(f"/cases/{scene.case_a}/").content.decode()
        page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", page)
        return {
            "detail": api.get(f"/api/cases/{scene.case_a}").json(),
            "messages": api.get(f"/api/cases/{scene.case_a}/messages").json(),
            "page": page,
        }

    before = views()
    services.post_message(scene.analyst, scene.case_a, "another internal note", internal_note=True)
    factories.rate(scene.admin, scene.case_a, "low")
    services.update_case(scene.admin, scene.case_a, services.CaseChanges(assignee=""))
    services.transition(scene.admin, scene.case_a, State.CONFIRMED.value, StepInput())
    after = views()

    assert before["detail"]["status"] == "under investigation"
    assert after == before
