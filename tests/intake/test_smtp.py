"""The security mailbox over real SMTP: swaks (a standard mail client) to the listener, receipts
to a real SMTP sink, threading of replies, refusals, and recovery after a crash."""

from __future__ import annotations

import re
import subprocess
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from django.test import Client

from mamori.cases.models import Case, Message
from mamori.intake import services
from mamori.intake.models import InboundMessage, OutboundMail, SmtpRefusal
from tests.intake.conftest import SECURITY, Sink

pytestmark = pytest.mark.integration


def swaks(server: tuple[str, int], *args: str) -> subprocess.CompletedProcess[str]:
    host, port = server
    return subprocess.run(
        ["swaks", "--server", host, "--port", str(port), "--timeout", "20", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def send(server: tuple[str, int], message: EmailMessage, *, sender: str = "") -> None:
    """Send a prepared message with swaks, exactly as given."""
    path = Path(f"/tmp/mamori-test-{make_msgid()[1:9]}.eml")  # noqa: S108 - removed below
    path.write_bytes(bytes(message))
    try:
        result = swaks(
            server,
            "--from",
            sender or str(message["From"]).split("<")[-1].rstrip(">"),
            "--to",
            str(message["To"]),
            "--data",
            str(path),
        )
    finally:
        path.unlink()
    assert result.returncode == 0, result.stdout + result.stderr


def report(subject: str, body: str, *, sender: str = "alice@example.net", **headers: str):
    message = EmailMessage()
    message["From"] = f"Alice Researcher <{sender}>"
    message["To"] = SECURITY
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.net")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def test_mail_from_a_standard_client_becomes_a_case_and_a_receipt_arrives(
    listener: tuple[str, int], sink: Sink
) -> None:
    result = swaks(
        listener,
        "--from",
        "alice@example.net",
        "--to",
        SECURITY,
        "--header",
        "Subject: Heap overflow in AcmeRouter firmware",
        "--body",
        "Sending a long Host header crashes the admin interface.",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250 2.0.0 OK: stored as" in result.stdout

    receipts = sink.wait_for(1)
    case = Case.objects.get()
    assert case.state == "received"
    assert case.source == "email"
    assert case.title == "Heap overflow in AcmeRouter firmware"
    assert "long Host header" in case.description
    assert case.reporter_email == "alice@example.net"
    assert case.first_response_due_at is not None
    [receipt] = receipts
    assert receipt["To"] == "alice@example.net"
    assert case.tracking_id in receipt["Subject"]
    assert receipt["Auto-Submitted"] == "auto-replied"
    body = receipt.get_payload(decode=True).decode()
    assert "https://mamori.example.org/report/" in body
    assert OutboundMail.objects.get().status == "sent"
    inbound = InboundMessage.objects.get()
    assert inbound.status == "processed" and inbound.case == case
    with inbound.raw.open("rb") as handle:
        assert b"long Host header" in handle.read()


def test_other_recipients_are_refused(listener: tuple[str, int]) -> None:
    result = swaks(listener, "--from", "a@example.net", "--to", "ceo@example.org")
    assert result.returncode != 0
    assert "550 5.1.1" in result.stdout
    assert not InboundMessage.objects.exists()


def test_an_attachment_over_the_limit_is_refused_with_552_and_recorded(
    listener: tuple[str, int], tmp_path: Path
) -> None:
    big = tmp_path / "capture.pcap"
    big.write_bytes(b"\x00\x01" * 200_000)  # 400 kB, over the 256 KiB test limit
    result = swaks(listener, "--from", "bob@example.net", "--to", SECURITY, "--attach", f"@{big}")
    assert result.returncode != 0
    assert "552 5.3.4" in result.stdout
    assert "attachments are limited to" in result.stdout
    refusal = SmtpRefusal.objects.get()
    assert refusal.envelope_from == "bob@example.net"
    assert refusal.reply.startswith("552 5.3.4")
    assert not InboundMessage.objects.exists()
    assert not Case.objects.exists()


def test_a_message_over_the_size_limit_is_refused_with_552_and_recorded(
    listener: tuple[str, int], tmp_path: Path
) -> None:
    body = tmp_path / "body.txt"
    body.write_text(("x" * 76 + "\n") * 40_000)  # 3 MB, over the 2 MiB test limit
    result = swaks(listener, "--from", "bob@example.net", "--to", SECURITY, "--body", f"@{body}")
    assert result.returncode != 0
    assert "552 5.3.4 Message too big" in result.stdout
    assert SmtpRefusal.objects.get().reply.startswith("552 5.3.4 Message too big")
    assert not InboundMessage.objects.exists()


def test_the_reporters_reply_joins_the_thread_and_a_strangers_is_held(
    listener: tuple[str, int], sink: Sink
) -> None:
    first = report("XSS in the help centre", "The search box reflects input.")
    send(listener, first)
    [receipt] = sink.wait_for(1)
    case = Case.objects.get()

    by_reference = report(
        "Re: your receipt",
        "Here is a second payload.",
        In_Reply_To=str(receipt["Message-ID"]),
        References=str(receipt["Message-ID"]),
    )
    send(listener, by_reference)
    by_subject = report(f"More on [{case.tracking_id}]", "And a third.")
    send(listener, by_subject)
    stranger = report(
        f"Re: [{case.tracking_id}]", "I know about this too.", sender="mallory@example.com"
    )
    send(listener, stranger)

    thread = list(Message.objects.filter(case=case, kind="thread").order_by("pk"))
    assert [m.body.strip() for m in thread] == ["Here is a second payload.", "And a third."]
    assert all(m.from_reporter and m.via == "email" for m in thread)
    held = InboundMessage.objects.get(from_address="mallory@example.com")
    assert held.status == "held" and held.case == case
    assert "not its reporter" in held.held_reason
    assert Case.objects.count() == 1
    assert Message.objects.filter(case=case, kind="note", body__contains="is held").exists()


def test_the_same_message_sent_twice_is_one_case(listener: tuple[str, int], sink: Sink) -> None:
    message = report("SQL injection in login", "' OR 1=1 --")
    send(listener, message)
    send(listener, message)
    assert Case.objects.count() == 1
    assert InboundMessage.objects.count() == 1


def test_a_crash_between_storing_and_processing_is_recovered(
    intake_settings, transactional_db: None
) -> None:
    raw = bytes(report("CSRF in settings", "No token on the settings form."))
    # The listener stores the message, then dies before any worker runs its task.
    intake_settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    stored = services.store(raw, channel="smtp", envelope_to=[SECURITY])
    assert InboundMessage.objects.get(pk=stored.inbound.pk).status == "stored"
    assert not Case.objects.exists()

    intake_settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}
    }
    assert services.recover() == 1
    inbound = InboundMessage.objects.get(pk=stored.inbound.pk)
    assert inbound.status == "processed"
    assert inbound.case is not None and inbound.case.title == "CSRF in settings"
    assert services.recover() == 0


def test_a_failure_while_processing_still_makes_a_case_with_the_raw_message(
    intake_settings, transactional_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = bytes(report("Crash me", "payload"))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected failure in the parser")

    monkeypatch.setattr(services, "parse", broken)  # fault injection, not a stand-in
    stored = services.store(raw, channel="smtp", envelope_from="carol@example.net")
    inbound = InboundMessage.objects.get(pk=stored.inbound.pk)
    assert inbound.status == "processed"
    assert "injected failure" in inbound.error
    case = inbound.case
    assert case is not None and case.state == "received"
    assert case.reporter_email == "carol@example.net"
    [attachment] = case.attachments.all()
    assert attachment.filename == "message.eml"
    with attachment.file.open("rb") as handle:
        assert handle.read() == raw
    assert Message.objects.filter(case=case, kind="note", body__contains="Parse error").exists()


def test_the_reporter_answers_by_mail_and_through_the_link_and_both_join_the_thread(
    listener: tuple[str, int], sink: Sink
) -> None:
    send(listener, report("Path traversal in the backup export", "GET /export?f=../../x"))
    [receipt] = sink.wait_for(1)
    link = re.search(r"https://mamori\.example\.org(/report/[\w-]+/)", _text(receipt))
    assert link, _text(receipt)
    case = Case.objects.get()

    answer = report(
        "Re: receipt", "By mail: it also works with %2e%2e.", In_Reply_To=receipt["Message-ID"]
    )
    send(listener, answer)
    browser = Client()
    assert case.tracking_id in browser.get(link.group(1)).content.decode()
    posted = browser.post(f"{link.group(1)}reply", {"body": "Through the link: PoC attached."})
    assert posted.status_code == 302

    thread = list(Message.objects.filter(case=case, kind="thread").order_by("pk"))
    assert [(m.via, m.body.strip()) for m in thread] == [
        ("email", "By mail: it also works with %2e%2e."),
        ("portal", "Through the link: PoC attached."),
    ]
    assert all(m.from_reporter for m in thread)


def _text(message: object) -> str:
    payload = message.get_payload(decode=True)  # type: ignore[attr-defined]
    return payload.decode() if isinstance(payload, bytes) else str(payload)
