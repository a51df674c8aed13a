"""Encrypted reports over real SMTP, decrypted with the team's key by the real gpg."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from email.header import Header

import pytest

from mamori.cases.models import Case
from mamori.intake.gpg import GnuPG
from mamori.intake.models import InboundMessage
from tests import gpg_keys
from tests.intake.conftest import SECURITY
from tests.intake.test_smtp import swaks
from tests.web import Browser

pytestmark = pytest.mark.integration

REPORT_JA = (
    "管理画面のログインフォームにSQLインジェクションの脆弱性があります。\n"
    "ユーザー名に ' OR 1=1 -- を入力すると認証を回避できます。\n"
    "対象: AcmeRouter ファームウェア 2.1.6（全角英数字ＡＢＣ１２３を含む）"
)
SUBJECT_JA = "【脆弱性報告】AcmeRouter 管理画面の認証回避"


@pytest.fixture(scope="module")
def team() -> Iterator[gpg_keys.Identity]:
    with gpg_keys.identity("Security Team <security@example.org>") as key:
        yield key


@pytest.fixture(scope="module")
def reporter() -> Iterator[gpg_keys.Identity]:
    with gpg_keys.identity("山田 太郎 <taro@example.jp>") as key:
        yield key


@pytest.fixture
def keyring(intake_settings, team, reporter):
    GnuPG(team.home).import_keys(reporter.public_key())
    intake_settings.MAMORI_INTAKE = dataclasses.replace(
        intake_settings.MAMORI_INTAKE, gnupg_home=team.home
    )
    return team


def _send(listener: tuple[str, int], raw: bytes, sender: str, tmp_path) -> None:
    path = tmp_path / "message.eml"
    path.write_bytes(raw)
    result = swaks(listener, "--from", sender, "--to", SECURITY, "--data", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_pgp_encrypted_japanese_report_in_iso_2022_jp_reads_correctly(
    listener, keyring, reporter, analyst, tmp_path
) -> None:
    raw = gpg_keys.pgp_mime_encrypted(
        REPORT_JA.encode("iso2022_jp"),
        sender=reporter,
        recipient=keyring,
        content_type="text/plain; charset=ISO-2022-JP",
        headers={"Subject": Header(SUBJECT_JA, "iso-2022-jp").encode(linesep="\r\n")},
    )
    assert "脆弱性".encode() not in raw  # nothing readable travels in the clear
    _send(listener, raw, reporter.email, tmp_path)

    case = Case.objects.get()
    assert case.title == SUBJECT_JA
    assert case.description.strip() == REPORT_JA
    assert case.language == "ja"
    inbound = InboundMessage.objects.get()
    assert (inbound.encryption, inbound.signature) == ("decrypted", "valid")
    assert inbound.signer_fingerprint == reporter.fingerprint

    browser = Browser()
    browser.client.force_login(analyst)
    page = browser.get(f"/cases/{case.tracking_id}/").content.decode()
    assert "ユーザー名に &#x27; OR 1=1 -- を入力すると認証を回避できます。" in page
    assert "ＡＢＣ１２３" in page
    mail_page = browser.get(f"/intake/cases/{case.tracking_id}/mail/").content.decode()
    assert "encryption: decrypted" in mail_page and "signature: valid" in mail_page
    raw_download = browser.get(f"/intake/cases/{case.tracking_id}/mail/{inbound.pk}/raw")
    assert raw_download["Content-Type"] == "application/octet-stream"
    assert raw_download["Content-Disposition"].startswith("attachment")
    assert b"".join(raw_download.streaming_content).rstrip() == raw.rstrip()


def test_a_report_encrypted_to_a_key_we_do_not_hold_is_kept_raw_and_flagged(
    listener, keyring, reporter, tmp_path
) -> None:
    with gpg_keys.identity("Someone Else <other@example.com>") as stranger:
        raw = gpg_keys.pgp_mime_encrypted(b"secret details", sender=reporter, recipient=stranger)
    _send(listener, raw, reporter.email, tmp_path)
    inbound = InboundMessage.objects.get()
    assert inbound.encryption == "no_key"
    case = inbound.case
    assert case is not None and case.state == "received"
    assert "could not be decrypted" in case.description
    note = case.messages.get(kind="note")
    assert "OpenPGP: no_key" in note.body
    with inbound.raw.open("rb") as handle:  # exactly what was sent (swaks ends it with CRLF)
        assert handle.read().rstrip(b"\r\n") == raw.rstrip(b"\r\n")


def test_an_inline_encrypted_reply_joins_the_thread(listener, keyring, reporter, tmp_path) -> None:
    first = gpg_keys.pgp_mime_encrypted(
        b"first report", sender=reporter, recipient=keyring, subject="Report"
    )
    _send(listener, first, reporter.email, tmp_path)
    case = Case.objects.get()
    reply = gpg_keys.inline_encrypted(
        "追加情報です。".encode(),
        sender=reporter,
        recipient=keyring,
        subject=f"Re: [{case.tracking_id}] Report",
    )
    _send(listener, reply, reporter.email, tmp_path)
    message = case.messages.get(kind="thread")
    assert "追加情報です。" in message.body
    assert message.via == "email"
