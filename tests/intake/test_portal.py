"""The public report form and the reporter's portal, driven as a browser without JavaScript would.

Every request is a plain GET or a POST of a form found in the page before it (its action, its
hidden fields, its CSRF token), with Django's CSRF checks on.
"""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from io import BytesIO
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mamori.accounts.models import User
from mamori.cases import services
from mamori.cases.models import Attachment, Case, Message, MessageKind, Via
from mamori.core.authz import Role
from mamori.core.workflow import State, StepInput
from mamori.intake.models import OutboundMail, PortalAccess, RateCounter
from tests import factories

TITLE = "Heap overflow in the firmware parser"
DESCRIPTION = "Sending a 70000-byte header crashes the device."
POC = b"%PDF-1.4 proof of concept\n"
NOTE_TEXT = "NOTE-zq81 exploitable through the heap spray"
NOTE_FILE = "internal-analysis-zq81.txt"
ASSIGNEE = "assignee-xk42"
TEAM = "team-vq17"
STRONG_PASSWORD = "correct-horse-battery-staple-7"


# A browser without JavaScript ----------------------------------------------------------------


@dataclasses.dataclass
class Form:
    action: str
    method: str
    enctype: str
    fields: dict[str, str]
    hidden: dict[str, str]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.scripts = 0
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script":
            self.scripts += 1
        elif tag == "form":
            self.forms.append(
                Form(
                    a.get("action", ""),
                    a.get("method", "get").lower(),
                    a.get("enctype", ""),
                    {},
                    {},
                )
            )
        elif tag in ("input", "select") and self.forms and "name" in a:
            form = self.forms[-1]
            form.fields[a["name"]] = a.get("value", "")
            if a.get("type") == "hidden":
                form.hidden[a["name"]] = a.get("value", "")
        elif tag == "textarea" and self.forms:
            self.forms[-1].fields[a["name"]] = ""


class Visitor:
    """A browser: keeps cookies, sends the language it prefers, submits the forms it is shown."""

    def __init__(self, language: str = "en", address: str = "198.51.100.7") -> None:
        self.client = Client(
            enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE=language, REMOTE_ADDR=address
        )
        self.page = ""

    def get(self, path: str, **headers: str):
        response = self.client.get(path, **headers)
        if not response.streaming:
            self.page = response.content.decode()
        return response

    def forms(self) -> list[Form]:
        parser = _Page()
        parser.feed(self.page)
        assert parser.scripts == 0, "pages work without JavaScript"
        return parser.forms

    def form(self, action: str) -> Form:
        found = [f for f in self.forms() if f.action == action]
        assert len(found) == 1, f"no form posting to {action} in the page"
        return found[0]

    def submit(self, action: str, data: dict[str, object], **headers: str):
        """POST the page's form for ``action``: its hidden fields (the CSRF token) and ``data``."""
        form = self.form(action)
        assert form.method == "post"
        assert "csrfmiddlewaretoken" in form.hidden
        unknown = set(data) - set(form.fields)
        assert not unknown, f"the form has no fields {unknown}"
        if any(isinstance(v, BytesIO | list) for v in data.values()):
            assert form.enctype == "multipart/form-data"
        response = self.client.post(action, {**form.hidden, **data}, **headers)
        if not response.streaming:
            self.page = response.content.decode()
        return response


def upload(name: str, content: bytes) -> BytesIO:
    stream = BytesIO(content)
    stream.name = name
    return stream


def report_data(**extra: object) -> dict[str, object]:
    return {"title": TITLE, "description": DESCRIPTION, **extra}


def submit(visitor: Visitor, **extra: object):
    visitor.get("/report/")
    return visitor.submit("/report/", report_data(**extra))


def submitted(visitor: Visitor, **extra: object) -> tuple[Case, str]:
    """Send a report; return its case and the portal path from the thank-you page."""
    response = submit(visitor, **extra)
    assert response.status_code == 302, visitor.page
    assert response["Location"] == "/report/thanks/"
    visitor.get("/report/thanks/")
    link = re.search(r'href="(https?://[^"]+/report/[A-Za-z0-9_-]{43}/)"', visitor.page)
    assert link is not None
    tracking_id = re.search(r"[A-Z]+-\d{4}-\d{4,}", visitor.page)
    assert tracking_id is not None
    return Case.objects.get(tracking_id=tracking_id.group()), urlsplit(link.group(1)).path


def content(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.fixture
def limits(settings):
    """Set the rate limits of the public endpoints."""

    def set_limits(per_ip: int = 100, per_address: int = 100) -> None:
        settings.MAMORI_INTAKE = dataclasses.replace(
            settings.MAMORI_INTAKE, report_limit_per_ip=per_ip, report_limit_per_address=per_address
        )

    set_limits()
    return set_limits


# The form ------------------------------------------------------------------------------------


def test_report_in_english_opens_a_case_and_shows_the_link_once(db, limits) -> None:
    visitor = Visitor()
    visitor.get("/report/")
    form = visitor.form("/report/")
    assert form.enctype == "multipart/form-data"
    assert 'tabindex="-1"' in visitor.page and 'aria-hidden="true"' in visitor.page
    assert "Report a vulnerability" in visitor.page

    response = visitor.submit(
        "/report/",
        report_data(
            name="Aiko",
            email="Aiko@Example.org",
            organisation="Example Labs",
            credit="on",
            attachments=[upload("poc.pdf", POC), upload("notes.txt", b"step one\n")],
        ),
    )
    assert response.status_code == 302
    assert response["Location"] == "/report/thanks/"  # no secret in the redirect

    thanks = visitor.get("/report/thanks/")
    assert "no-store" in thanks["Cache-Control"]
    assert thanks["Referrer-Policy"] == "same-origin"
    assert "Bookmark this private link" in visitor.page
    case = Case.objects.get()
    assert case.tracking_id in visitor.page
    assert case.source == "web" and case.language == "en" and case.state == State.RECEIVED
    assert case.reporter is None
    assert (case.reporter_name, case.reporter_email) == ("Aiko", "Aiko@Example.org")
    assert case.reporter_organisation == "Example Labs"
    assert case.description.startswith(DESCRIPTION)
    assert case.description.endswith("Credit wanted: yes")
    assert sorted(a.filename for a in case.attachments.filter(message=None)) == [
        "notes.txt",
        "poc.pdf",
    ]
    link = re.search(r"https?://\S+/report/([A-Za-z0-9_-]{43})/", visitor.page)
    assert link is not None
    assert visitor.get(urlsplit(link.group()).path).status_code == 200

    visitor.get("/report/thanks/")
    assert link.group(1) not in visitor.page  # shown once


def test_the_receipt_is_queued_with_a_working_link(db, limits) -> None:
    visitor = Visitor()
    case, _path = submitted(visitor, email="reporter@example.org")
    mail = OutboundMail.objects.get(case=case)
    assert (mail.kind, mail.to) == ("receipt", "reporter@example.org")
    assert case.tracking_id in mail.subject
    link = re.search(r"https?://\S+/report/[A-Za-z0-9_-]{43}/", mail.body)
    assert link is not None
    other = Visitor()
    assert other.get(urlsplit(link.group()).path).status_code == 200
    assert TITLE in other.page


def test_without_an_email_no_receipt_and_no_credit(db, limits) -> None:
    case, _path = submitted(Visitor())
    assert not OutboundMail.objects.exists()
    assert case.description.endswith("Credit wanted: no")
    assert case.first_response_due_at is None
    assert PortalAccess.objects.filter(case=case).count() == 1


def test_report_in_japanese(db, limits) -> None:
    visitor = Visitor(language="ja")
    visitor.get("/report/")
    assert "脆弱性を報告する" in visitor.page
    assert '<html lang="ja">' in visitor.page
    case, path = submitted(visitor, email="taro@example.jp")
    assert case.language == "ja"
    assert "ご報告ありがとうございます" in visitor.page
    assert "ブックマーク" in visitor.page
    mail = OutboundMail.objects.get(case=case)
    assert "受け付けました" in mail.subject
    visitor.get(path)
    assert "受付済み" in visitor.page


def test_japanese_form_errors(db, limits) -> None:
    visitor = Visitor(language="ja")
    visitor.get("/report/")
    response = visitor.submit("/report/", {"title": "", "description": DESCRIPTION})
    assert response.status_code == 422
    assert "このフィールドは必須です。" in visitor.page
    assert not Case.objects.exists()


def test_the_language_switch_is_a_plain_form(db) -> None:
    visitor = Visitor()
    visitor.get("/report/")
    assert "Send report" in visitor.page
    response = visitor.submit("/i18n/setlang/", {"language": "ja"})
    assert response.status_code == 302 and response["Location"] == "/report/"
    visitor.get("/report/")
    assert "報告を送信" in visitor.page
    visitor.submit("/i18n/setlang/", {"language": "en"})
    visitor.get("/report/")
    assert "Send report" in visitor.page


def test_a_logged_in_reporter_owns_the_report(db, limits) -> None:
    reporter = factories.user(Role.REPORTER, "reporter-rin")
    visitor = Visitor()
    visitor.client.force_login(reporter)
    case, _path = submitted(visitor)
    assert case.reporter == reporter
    visitor.get("/cases/mine/")
    assert case.tracking_id in visitor.page


def test_an_analyst_using_the_form_is_not_the_reporter(db, limits, analyst) -> None:
    visitor = Visitor()
    visitor.client.force_login(analyst)
    case, _path = submitted(visitor)
    assert case.reporter is None


def test_honeypot_answers_like_a_success_and_stores_nothing(db, limits) -> None:
    visitor = Visitor()
    response = submit(
        visitor,
        email="bot@example.org",
        website="http://spam.example",
        attachments=upload("x.txt", b"spam"),
    )
    assert response.status_code == 302 and response["Location"] == "/report/thanks/"
    assert visitor.get("/report/thanks/").status_code == 200
    assert not Case.objects.exists()
    assert not Attachment.objects.exists()
    assert not OutboundMail.objects.exists()
    assert not PortalAccess.objects.exists()
    assert not RateCounter.objects.exists()


def test_rate_limit_per_client_address(db, limits) -> None:
    limits(per_ip=2)
    visitor = Visitor(address="203.0.113.9")
    assert submit(visitor).status_code == 302
    assert submit(visitor).status_code == 302
    visitor.get("/report/")
    refused = visitor.submit("/report/", report_data(), HTTP_X_FORWARDED_FOR="192.0.2.1")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert "Too many submissions from your network address" in visitor.page
    assert Case.objects.count() == 2
    assert submit(Visitor(address="203.0.113.10")).status_code == 302


def test_rate_limit_per_email_address(db, limits) -> None:
    limits(per_address=1)
    assert submit(Visitor(address="192.0.2.1"), email="Mallory@Example.org").status_code == 302
    refused = submit(Visitor(address="192.0.2.2", language="ja"), email="mallory@example.org")
    assert refused.status_code == 429
    assert "このメールアドレス" in refused.content.decode()
    assert Case.objects.count() == 1
    assert submit(Visitor(address="192.0.2.3"), email="other@example.org").status_code == 302


def test_oversize_attachment_is_refused_and_nothing_stored(db, limits, settings) -> None:
    settings.MAMORI_MAX_ATTACHMENT_BYTES = 1000
    visitor = Visitor()
    response = submit(
        visitor, attachments=[upload("small.txt", b"ok"), upload("big.bin", b"x" * 2000)]
    )
    assert response.status_code == 422
    assert "“big.bin” is too large: a file may be at most" in visitor.page
    assert not Case.objects.exists()
    assert not Attachment.objects.exists()
    assert not RateCounter.objects.exists()


def test_a_body_over_the_limit_is_refused(db, limits, settings) -> None:
    settings.MAMORI_MAX_ATTACHMENT_BYTES = 1000
    settings.MAMORI_MAX_BODY_BYTES = 2000
    response = submit(Visitor(), attachments=upload("huge.bin", b"x" * 10_000))
    assert response.status_code == 413
    assert not Case.objects.exists()


# The portal ----------------------------------------------------------------------------------


@pytest.fixture
def reported(db, limits, admin) -> tuple[Visitor, Case, str]:
    """A report from the form, then triaged, rated and assigned, with a reply and a note."""
    visitor = Visitor()
    case, path = submitted(visitor, attachments=upload("poc.pdf", POC))
    factories.user(Role.ANALYST, ASSIGNEE)
    factories.team(admin, TEAM)
    services.update_case(
        admin,
        case.tracking_id,
        services.CaseChanges(owning_team=TEAM, assignee=ASSIGNEE),
    )
    factories.rate(admin, case.tracking_id, "critical")
    services.transition(admin, case.tracking_id, State.TRIAGE.value, StepInput())
    services.post_message(
        admin,
        case.tracking_id,
        NOTE_TEXT,
        [SimpleUploadedFile(NOTE_FILE, b"internal only\n")],
        internal_note=True,
    )
    services.post_message(
        admin,
        case.tracking_id,
        "Thanks, which firmware version?",
        [SimpleUploadedFile("questions.txt", b"1. version\n")],
    )
    return visitor, case, path


def test_the_portal_shows_the_reporters_view_only(reported) -> None:
    visitor, case, path = reported
    response = visitor.get(path)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "same-origin"
    page = visitor.page
    assert case.tracking_id in page and TITLE in page and DESCRIPTION in page
    assert "Under investigation" in page
    assert "poc.pdf" in page and "questions.txt" in page
    assert "Thanks, which firmware version?" in page
    for secret in (NOTE_TEXT, NOTE_FILE, ASSIGNEE, TEAM, "critical", "triage", "Triage"):
        assert secret not in page, secret
    visitor.get(path, HTTP_ACCEPT_LANGUAGE="ja")
    assert "調査中" in visitor.page


def test_reply_through_the_portal_joins_the_thread(reported) -> None:
    visitor, case, path = reported
    visitor.get(path)
    response = visitor.submit(
        f"{path}reply",
        {"body": "Firmware 2.3.1, see the log.", "attachments": upload("crash.log", b"boom\n")},
    )
    assert response.status_code == 302 and response["Location"] == path
    message = Message.objects.get(case=case, body="Firmware 2.3.1, see the log.")
    assert (message.kind, message.via, message.from_reporter) == (
        MessageKind.THREAD,
        Via.PORTAL,
        True,
    )
    attachment = message.attachments.get()
    visitor.get(path)
    assert "Your message has been sent." in visitor.page
    assert "Firmware 2.3.1, see the log." in visitor.page
    download = visitor.get(f"{path}files/{attachment.pk}")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    assert 'filename="crash.log"' in download["Content-Disposition"]
    assert content(download) == b"boom\n"


def test_an_empty_reply_is_refused(reported) -> None:
    visitor, _case, path = reported
    visitor.get(path)
    before = Message.objects.count()
    response = visitor.submit(f"{path}reply", {"body": "  "})
    assert response.status_code == 422
    assert "Write a message or attach a file." in visitor.page
    assert Message.objects.count() == before


def test_an_oversize_reply_attachment_is_refused(reported, settings) -> None:
    visitor, _case, path = reported
    settings.MAMORI_MAX_ATTACHMENT_BYTES = 100
    visitor.get(path)
    before = (Message.objects.count(), Attachment.objects.count())
    response = visitor.submit(
        f"{path}reply", {"body": "big", "attachments": upload("a.bin", b"x" * 500)}
    )
    assert response.status_code == 422
    assert "“a.bin” is too large" in visitor.page
    assert (Message.objects.count(), Attachment.objects.count()) == before


def test_replies_are_rate_limited_per_client_address(reported, limits) -> None:
    visitor, _case, path = reported
    limits(per_ip=2)  # the report itself counted once
    visitor.get(path)
    assert visitor.submit(f"{path}reply", {"body": "one"}).status_code == 302
    visitor.get(path)
    assert visitor.submit(f"{path}reply", {"body": "two"}).status_code == 429
    assert not Message.objects.filter(body="two").exists()


def test_downloads_through_the_link(reported) -> None:
    visitor, case, path = reported
    own = case.attachments.get(message=None)
    response = visitor.get(f"{path}files/{own.pk}")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert content(response) == POC
    note_file = Attachment.objects.get(filename=NOTE_FILE)
    assert note_file.case == case
    assert visitor.get(f"{path}files/{note_file.pk}").status_code == 404


def test_another_cases_attachment_through_my_link_is_not_found(reported) -> None:
    visitor, _case, path = reported
    other, _other_path = submitted(
        Visitor(address="192.0.2.99"), attachments=upload("theirs.txt", b"secret\n")
    )
    theirs = other.attachments.get()
    response = visitor.get(f"{path}files/{theirs.pk}")
    assert response.status_code == 404
    assert b"secret" not in content(response)


@pytest.mark.parametrize(
    "token",
    [
        "A" * 43,  # well formed, unknown
        "abc",  # malformed
        "A" * 44,
        "%2e%2e",
    ],
)
def test_unknown_or_malformed_links_are_not_found(reported, token) -> None:
    visitor, case, _path = reported
    own = case.attachments.get(message=None)
    assert visitor.get(f"/report/{token}/").status_code == 404
    assert visitor.get(f"/report/{token}/files/{own.pk}").status_code == 404


def test_a_forged_link_cannot_post(reported) -> None:
    visitor, _case, path = reported
    visitor.get(path)
    form = visitor.form(f"{path}reply")
    forged = "B" * 43
    response = visitor.client.post(f"/report/{forged}/reply", {**form.hidden, "body": "hi"})
    assert response.status_code == 404
    assert not Message.objects.filter(body="hi").exists()


def test_a_tracking_id_is_not_a_link(reported) -> None:
    visitor, case, _path = reported
    assert visitor.get(f"/report/{case.tracking_id}/").status_code == 404
    own = case.attachments.get(message=None)
    assert visitor.get(f"/report/{case.tracking_id}/files/{own.pk}").status_code == 404


def test_the_digest_is_not_a_link(reported) -> None:
    visitor, case, _path = reported
    digest = PortalAccess.objects.filter(case=case).first()
    assert digest is not None
    assert visitor.get(f"/report/{digest.digest}/").status_code == 404


# Accounts from the portal --------------------------------------------------------------------


def account_data(**extra: str) -> dict[str, object]:
    return {
        "username": "aiko",
        "email": "aiko@example.org",
        "password1": STRONG_PASSWORD,
        "password2": STRONG_PASSWORD,
        **extra,
    }


def test_create_an_account_from_the_portal(reported) -> None:
    visitor, case, path = reported
    visitor.get(path)
    response = visitor.submit(f"{path}account", account_data())
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.tracking_id}/"
    user = User.objects.get(username="aiko")
    assert user.role == Role.REPORTER and not user.must_change_password
    assert user.check_password(STRONG_PASSWORD)
    case.refresh_from_db()
    assert case.reporter == user
    assert visitor.get(f"/cases/{case.tracking_id}/").status_code == 200
    visitor.get("/cases/mine/")
    assert case.tracking_id in visitor.page

    assert Visitor().client.login(username="aiko", password=STRONG_PASSWORD)

    visitor.get(path)
    assert f'action="{path}account"' not in visitor.page
    assert visitor.client.post(f"{path}account", {}).status_code in (403, 422)


def test_account_form_refusals(reported) -> None:
    visitor, case, path = reported
    factories.user(Role.REPORTER, "taken")
    cases = [
        (account_data(password2="something-else-entirely-9"), "The two passwords differ."),
        (account_data(password1="short", password2="short"), "This password is too short."),
        (account_data(password1="aiko@example.org", password2="aiko@example.org"), "too similar"),
        (account_data(username="taken"), "This username is taken."),
        (account_data(username="no spaces"), "Enter a valid username."),
    ]
    for data, problem in cases:
        visitor.get(path)
        response = visitor.submit(f"{path}account", data)
        assert response.status_code == 422, problem
        assert problem in visitor.page, problem
    assert not User.objects.filter(username__in=["aiko", "no spaces"]).exists()
    case.refresh_from_db()
    assert case.reporter is None


def test_account_form_in_japanese(reported) -> None:
    visitor, _case, path = reported
    visitor.get(path, HTTP_ACCEPT_LANGUAGE="ja")
    assert "アカウントを作成" in visitor.page
    response = visitor.submit(
        f"{path}account", account_data(password2="x" * 20), HTTP_ACCEPT_LANGUAGE="ja"
    )
    assert response.status_code == 422
    assert "2つのパスワードが一致しません。" in visitor.page


def test_the_case_of_another_account_is_not_taken_over(db, limits) -> None:
    reporter = factories.user(Role.REPORTER, "reporter-rin")
    visitor = Visitor()
    visitor.client.force_login(reporter)
    case, path = submitted(visitor)
    stranger = Visitor(address="192.0.2.50")
    stranger.get(path)
    assert f'action="{path}account"' not in stranger.page
    form = Visitor(address="192.0.2.51")
    form.get("/report/")
    hidden = form.form("/report/").hidden
    response = form.client.post(f"{path}account", {**hidden, **account_data()})
    assert response.status_code == 422
    assert "already belongs to an account" in response.content.decode()
    assert not User.objects.filter(username="aiko").exists()
    case.refresh_from_db()
    assert case.reporter == reporter
