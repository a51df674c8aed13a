"""Bad mail through the whole intake (store, parse, route): each kind keeps the raw bytes, opens
a case an analyst can read, and never lets the sender's data act as code, path or header."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage

import pytest

from mamori.cases.models import Case
from mamori.intake import services
from mamori.intake.models import InboundMessage, OutboundMail
from tests.intake.conftest import SECURITY


def _deliver(raw: bytes) -> Case:
    stored = services.store(raw, channel="smtp", envelope_to=[SECURITY])
    inbound = InboundMessage.objects.get(pk=stored.inbound.pk)
    assert inbound.status == "processed", inbound.error
    with inbound.raw.open("rb") as handle:
        assert handle.read() == raw  # the exact bytes, whatever happened next
    assert inbound.case is not None
    return inbound.case


def _head(subject: str = "Report", extra: str = "") -> bytes:
    return (
        "From: Alice <alice@example.net>\r\n"
        f"To: {SECURITY}\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{abs(hash((subject, extra)))}@example.net>\r\n"
        "MIME-Version: 1.0\r\n" + extra
    ).encode()


@pytest.fixture
def intake(intake_settings, transactional_db: None):
    return intake_settings


def test_truncated_mime_keeps_what_is_readable_and_attaches_the_raw_message(intake) -> None:
    raw = _head(extra='Content-Type: multipart/mixed; boundary="b1"\r\n\r\n') + (
        b"--b1\r\nContent-Type: text/plain\r\n\r\nThe readable first part.\r\n"
        b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b"\r\nAAAA"
    )
    case = _deliver(raw)
    assert "The readable first part." in case.description
    assert "message.eml" in {a.filename for a in case.attachments.all()}


def test_a_missing_boundary_still_opens_a_case(intake) -> None:
    raw = (
        _head(extra="Content-Type: multipart/mixed\r\n\r\n") + b"--x\r\n\r\nbody text\r\n--x--\r\n"
    )
    case = _deliver(raw)
    assert case.state == "received"
    inbound = InboundMessage.objects.get(case=case)
    assert inbound.problems  # recorded for the analyst


@pytest.mark.parametrize(
    ("label", "payload"),
    [
        ("x-unknown-charset", "脆弱性の報告".encode("shift_jis")),
        ("us-ascii", "脆弱性の報告".encode()),  # a wrong label
        ("iso-8859-1", "脆弱性の報告".encode("euc_jp")),  # wrong, but decodes as Latin-1
    ],
)
def test_unknown_and_wrong_charset_labels_still_read_japanese(
    intake, label: str, payload: bytes
) -> None:
    raw = _head(subject=label, extra=f"Content-Type: text/plain; charset={label}\r\n\r\n")
    case = _deliver(raw + payload + b"\r\n")
    assert "脆弱性の報告" in case.description
    assert InboundMessage.objects.get(case=case).problems


def test_a_zip_bomb_is_stored_as_it_came_and_never_unpacked(intake) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * (50 * 1024 * 1024))  # 50 MB inside
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.net", SECURITY, "PoC"
    message.set_content("See the attachment.")
    message.add_attachment(bomb.getvalue(), "application", "zip", filename="poc.zip")
    case = _deliver(bytes(message))
    [attachment] = case.attachments.all()
    assert attachment.filename == "poc.zip"
    assert attachment.size == len(bomb.getvalue()) < 100_000
    with attachment.file.open("rb") as handle:
        assert handle.read() == bomb.getvalue()


@pytest.mark.parametrize(
    ("declared", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("C:\\Windows\\evil.exe", "evil.exe"),
        ("a\x00b.txt", "a_b.txt"),
    ],
)
def test_attachment_names_never_become_paths(intake, declared: str, shown: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.net", SECURITY, declared
    message.set_content("see file")
    message.add_attachment(b"data", "text", "plain", filename="placeholder.txt")
    raw = bytes(message).replace(b"placeholder.txt", declared.encode())
    case = _deliver(raw)
    [attachment] = case.attachments.all()
    assert attachment.filename == shown
    assert "/" not in attachment.file.name.rsplit("/", 1)[-1]
    assert declared.split("/")[-1] not in attachment.file.name


def test_header_injection_in_subject_and_name_stays_one_line(intake) -> None:
    raw = (
        b"From: =?utf-8?q?Mallory=0D=0ABcc:_victim@example.org?= <mallory@example.net>\r\n"
        b"To: security@example.org\r\n"
        b"Subject: =?utf-8?q?Hello=0D=0ABcc:_evil@example.org?=\r\n"
        b"Message-ID: <inject@example.net>\r\n\r\nbody\r\n"
    )
    case = _deliver(raw)
    assert "\r" not in case.title and "\n" not in case.title
    assert "\n" not in case.reporter_name
    receipt = OutboundMail.objects.get(case=case)
    assert "\n" not in receipt.subject and "\r" not in receipt.subject
    assert receipt.to == "mallory@example.net"


def test_html_with_scripts_becomes_inert_text(intake) -> None:
    raw = _head(extra="Content-Type: text/html; charset=utf-8\r\n\r\n") + (
        b"<html><head><script>alert('head')</script></head><body>"
        b"<p>Proof: <b>XSS</b></p><script>document.location='https://evil.example'</script>"
        b"<img src=x onerror=alert(1)></body></html>"
    )
    case = _deliver(raw)
    assert "Proof: XSS" in case.description
    assert "alert" not in case.description and "<" not in case.description
    assert "document.location" not in case.description


def test_a_text_longer_than_a_case_holds_is_cut_and_attached_whole(intake) -> None:
    long_text = "A" * 60_000 + "\n" + "脆弱性" * 15_000 + "\nEND-OF-REPORT\n"  # 105,000 chars
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.net", SECURITY, "Long"
    message.set_content(long_text)
    case = _deliver(bytes(message))
    assert case.title == "Long"  # a normal case, not an "unreadable message"
    assert len(case.description) <= 100_000
    assert case.description.endswith("attached as message.txt.]")
    [whole] = case.attachments.all()
    assert whole.filename == "message.txt"
    with whole.file.open("rb") as handle:
        assert handle.read().decode().strip().endswith("END-OF-REPORT")
    assert OutboundMail.objects.get(case=case).kind == "receipt"
