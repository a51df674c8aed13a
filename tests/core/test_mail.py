"""The mail parser: whatever arrives, it reads what it can, says what it could not, never raises."""

from __future__ import annotations

import base64
import email.message
import email.parser
import io
import random
import tarfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mamori.core import mail
from mamori.core.mail import MailAttachment, ParsedMail, header_message_id, parse
from mamori.core.pgp import Decryption, Encryption, Signature, Verification

JAPANESE = "脆弱性のご報告。ログイン画面でＸＳＳが発生します。"
MS_JAPANESE = "①髙﨑さんからの報告"  # NEC special characters and IBM extended kanji


def message(*headers: str, body: bytes = b"", eol: bytes = b"\r\n") -> bytes:
    head = eol.join(h.encode("utf-8", "surrogateescape") for h in headers)
    return head + eol + eol + body


def plain(body: bytes, *headers: str, charset: str = "utf-8", subject: str = "report") -> bytes:
    return message(
        "From: Reporter <reporter@example.org>",
        "To: psirt@example.org",
        f"Subject: {subject}",
        "MIME-Version: 1.0",
        f"Content-Type: text/plain; charset={charset}",
        *headers,
        body=body,
    )


def multipart(
    *parts: bytes, subtype: str = "mixed", params: str = "", boundary: str = "B"
) -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return message(
        "From: reporter@example.org",
        "Subject: report",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"{params}',
        body=b"preamble\r\n" + body + b"--" + boundary.encode() + b"--\r\n",
    )


def part(content_type: str, body: bytes, *headers: str) -> bytes:
    return message(f"Content-Type: {content_type}", *headers, body=body)


def iso2022jp_ms(text: str) -> bytes:
    """ISO-2022-JP as Outlook writes it (CP50220): JIS X 0208 rows plus Microsoft's."""
    out, kanji = bytearray(), False
    for char in text:
        if ord(char) < 0x80:
            out += b"\x1b(B" if kanji else b""
            out.append(ord(char))
            kanji = False
            continue
        out += b"" if kanji else b"\x1b$B"
        kanji = True
        s1, s2 = char.encode("cp932")
        j1 = (s1 - (0x70 if s1 < 0xA0 else 0xB0)) * 2
        if s2 < 0x9F:
            out += bytes((j1 - 1, s2 - (0x1F if s2 < 0x7F else 0x20)))
        else:
            out += bytes((j1, s2 - 0x7E))
    return bytes(out + (b"\x1b(B" if kanji else b""))


def b_word(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


# --- A fake that implements the Pgp protocol --------------------------------------------------

GOOD_SIGNATURE = b"-----BEGIN PGP SIGNATURE-----\r\ngood\r\n-----END PGP SIGNATURE-----\r\n"
VALID = Verification(Signature.VALID, fingerprint="A" * 40, signer="Reporter", detail="good sig")


@dataclass
class FakePgp:
    """Decrypts ciphertexts it holds a plaintext for; a signature is good if it is GOOD."""

    plaintexts: dict[bytes, bytes] = field(default_factory=dict)
    inner_verification: Verification = field(default_factory=Verification)
    decrypted: list[bytes] = field(default_factory=list)
    detached: list[tuple[bytes, bytes]] = field(default_factory=list)
    cleartext: list[bytes] = field(default_factory=list)

    def decrypt(self, armored_or_binary: bytes) -> Decryption:
        self.decrypted.append(armored_or_binary)
        for marker, plaintext in self.plaintexts.items():
            if marker in armored_or_binary:
                return Decryption(
                    Encryption.DECRYPTED, plaintext, self.inner_verification, "decrypted"
                )
        return Decryption(Encryption.NO_KEY, detail="no secret key for 0x1234ABCD")

    def verify_detached(self, signed: bytes, signature: bytes) -> Verification:
        self.detached.append((signed, signature))
        good = signature.replace(b"\r\n", b"\n") == GOOD_SIGNATURE.replace(b"\r\n", b"\n")
        return VALID if good else Verification(Signature.BAD, detail="bad")

    def verify_cleartext(self, text: bytes) -> Verification:
        self.cleartext.append(text)
        return VALID if b"\ngood\n" in text.replace(b"\r\n", b"\n") else Verification(Signature.BAD)


def armour(ciphertext: str, *headers: str) -> str:
    lines = ["-----BEGIN PGP MESSAGE-----", *headers, "", ciphertext, "=abcd"]
    return "\n".join([*lines, "-----END PGP MESSAGE-----"])


# --- Headers ---------------------------------------------------------------------------------


def test_a_plain_message_is_read_whole() -> None:
    raw = message(
        'From: "Taro Yamada" <taro@example.jp>',
        "To: PSIRT <psirt@example.org>, other@example.org",
        "Cc: cc@example.org",
        "Subject: XSS in the login page",
        "Message-ID: <abc.123@example.jp>",
        "In-Reply-To: <prev@example.org>",
        "References: <first@example.org>\r\n <prev@example.org>",
        "Date: Tue, 03 Mar 2026 10:00:00 +0900",
        "Content-Type: text/plain; charset=us-ascii",
        body=b"Hello,\r\n\r\nThe login page is vulnerable.\r\n",
    )
    parsed = parse(raw)
    assert parsed == ParsedMail(
        message_id="<abc.123@example.jp>",
        in_reply_to="<prev@example.org>",
        references=("<first@example.org>", "<prev@example.org>"),
        subject="XSS in the login page",
        from_name="Taro Yamada",
        from_address="taro@example.jp",
        to_addresses=("psirt@example.org", "other@example.org"),
        cc_addresses=("cc@example.org",),
        date=datetime(2026, 3, 3, 1, 0, tzinfo=UTC),
        text="Hello,\n\nThe login page is vulnerable.",
        language="en",
    )
    assert parsed.date is not None and parsed.date.utcoffset() == timedelta(hours=9)


@pytest.mark.parametrize(
    "subject",
    [
        "=?utf-8?q?Hello=0D=0ABcc:_evil@example.org?=",
        "=?utf-8?b?SGVsbG8NCkJjYzogZXZpbEBleGFtcGxlLm9yZw==?=",
        "=?utf-8?q?Hello=0ABcc:_evil@example.org=00?=",
        "=?utf-8?q?Hello=E2=80=A8Bcc:_evil@example.org?=",
    ],
)
def test_encoded_line_breaks_never_survive_into_the_subject(subject: str) -> None:
    parsed = parse(plain(b"x", subject=subject))
    assert parsed.subject == "Hello Bcc: evil@example.org"


def test_encoded_line_breaks_never_survive_into_the_sender_name() -> None:
    raw = message(
        "From: =?utf-8?q?Mallory=0D=0ABcc:_evil@example.org=0D=0A?= <mallory@example.org>",
        body=b"x",
    )
    parsed = parse(raw)
    assert parsed.from_name == "Mallory Bcc: evil@example.org"
    assert parsed.from_address == "mallory@example.org"


def test_the_subject_is_one_line_of_at_most_300_characters() -> None:
    parsed = parse(plain(b"x", subject="abcdef\t" * 100))
    assert parsed.subject == ("abcdef " * 43)[:300]
    assert len(parsed.subject) == 300


@pytest.mark.parametrize(
    ("from_header", "problem"),
    [
        ("From: Reporter <reporter>", "From: 'reporter' is not a valid address"),
        ("From: <a@b@c>", "From: 'c' is not a valid address"),
        ("From: x@-bad-.example", "From: 'x@-bad-.example' is not a valid address"),
        ("X-Nothing: here", "From: no sender"),
    ],
)
def test_a_missing_or_invalid_sender_is_empty_and_explained(from_header: str, problem: str) -> None:
    parsed = parse(message(from_header, body=b"x"))
    assert parsed.from_address == ""
    assert problem in parsed.problems


def test_two_senders_take_the_first_and_say_so() -> None:
    parsed = parse(message("From: a@example.org, b@example.org", body=b"x"))
    assert parsed.from_address == "a@example.org"
    assert "From: 2 senders, the first one taken" in parsed.problems


def test_an_unreadable_date_is_none_and_explained() -> None:
    parsed = parse(plain(b"x", "Date: the day after tomorrow"))
    assert parsed.date is None
    assert "Date: 'the day after tomorrow' is not a date" in parsed.problems


def test_a_date_without_a_known_zone_is_taken_as_utc() -> None:
    parsed = parse(plain(b"x", "Date: Tue, 3 Mar 2026 10:00:00 -0000"))
    assert parsed.date == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "automatic"),
    [
        ("Auto-Submitted: auto-replied", True),
        ("Auto-Submitted: auto-generated; owner-email=x@example.org", True),
        ("Auto-Submitted: no", False),
        ("Precedence: bulk", True),
        ("Precedence: junk", True),
        ("Precedence: list", True),
        ("Precedence: first-class", False),
        ("List-Id: <security.lists.example.org>", True),
        ("X-Auto-Response-Suppress: OOF, AutoReply", True),
        ("X-Priority: 1", False),
    ],
)
def test_automatic_mail_is_recognised(header: str, automatic: bool) -> None:
    assert parse(plain(b"x", header)).auto_submitted is automatic


def test_a_bounce_is_automatic() -> None:
    raw = multipart(part("text/plain", b"Delivery failed"), subtype="report")
    assert parse(raw).auto_submitted


# --- Japanese and other charsets --------------------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "body", "text"),
    [
        ("ISO-2022-JP", JAPANESE.encode("iso2022_jp"), JAPANESE),
        ("Shift_JIS", JAPANESE.encode("cp932"), JAPANESE),
        ("EUC-JP", JAPANESE.encode("euc_jp"), JAPANESE),
        ("UTF-8", JAPANESE.encode("utf-8"), JAPANESE),
        ("ISO-2022-JP", iso2022jp_ms(MS_JAPANESE), MS_JAPANESE),
        ("Shift_JIS", MS_JAPANESE.encode("cp932"), MS_JAPANESE),
        ("iso-2022-jp", b"\x1b(I6\x1b(B" + "タカナの報告".encode("iso2022_jp"), "ｶタカナの報告"),
        ("EUC-JP", "𠮟られた報告".encode("euc_jis_2004"), "𠮟られた報告"),  # JIS X 0213
    ],
)
def test_japanese_bodies_are_decoded(charset: str, body: bytes, text: str) -> None:
    parsed = parse(plain(body, charset=charset))
    assert (parsed.text, parsed.problems, parsed.language) == (text, (), "ja")


@pytest.mark.parametrize("charset", ["ISO-2022-JP", "Shift_JIS", "EUC-JP", "UTF-8"])
def test_japanese_subjects_are_decoded(charset: str) -> None:
    codec = {"ISO-2022-JP": "iso2022_jp", "Shift_JIS": "cp932"}.get(charset, charset)
    encoded = base64.b64encode(JAPANESE.encode(codec)).decode()
    parsed = parse(plain(b"x", subject=f"=?{charset}?B?{encoded}?="))
    assert parsed.subject == JAPANESE
    assert parsed.problems == ()


def test_a_japanese_subject_with_microsoft_characters_is_decoded() -> None:
    encoded = base64.b64encode(iso2022jp_ms(MS_JAPANESE)).decode()
    parsed = parse(plain(b"x", subject=f"[Report] =?ISO-2022-JP?B?{encoded}?="))
    assert parsed.subject == f"[Report] {MS_JAPANESE}"


def test_a_character_split_across_two_encoded_words_survives() -> None:
    data = "日本語".encode()
    first, second = base64.b64encode(data[:4]).decode(), base64.b64encode(data[4:]).decode()
    parsed = parse(plain(b"x", subject=f"=?UTF-8?B?{first}?=\r\n =?UTF-8?B?{second}?= end"))
    assert parsed.subject == "日本語 end"
    assert parsed.problems == ()


def test_raw_utf8_headers_are_read() -> None:
    raw = plain(b"x", subject=JAPANESE)
    parsed = parse(raw)
    assert parsed.subject == JAPANESE
    assert parsed.problems == ()


def test_raw_shift_jis_headers_are_read_and_flagged() -> None:
    raw = plain(b"x").replace(b"Subject: report", b"Subject: " + JAPANESE.encode("cp932"))
    parsed = parse(raw)
    assert parsed.subject == JAPANESE
    assert parsed.problems == ("Subject: no charset declared, decoded as Shift_JIS (cp932)",)


@pytest.mark.parametrize(
    ("filename_header", "expected"),
    [
        ("Content-Disposition: attachment; filename*=UTF-8''%E5%A0%B1%E5%91%8A.pdf", "報告.pdf"),
        (
            "Content-Disposition: attachment; filename*0*=UTF-8''%E5%A0%B1;\r\n"
            " filename*1*=%E5%91%8A.pdf",
            "報告.pdf",
        ),
        ("Content-Disposition: attachment; filename*=shift_jis''%95%F1%8D%90.pdf", "報告.pdf"),
        (
            'Content-Disposition: attachment; filename="=?ISO-2022-JP?B?GyRCSnM5cBsoQi5wZGY=?="',
            "報告.pdf",
        ),
        (f'Content-Disposition: attachment; filename="{b_word("報告.pdf", "euc_jp")}"', "報告.pdf"),
        (f'Content-Disposition: attachment; filename="{b_word("報告.pdf", "cp932")}"', "報告.pdf"),
    ],
)
def test_japanese_attachment_names_are_decoded(filename_header: str, expected: str) -> None:
    raw = multipart(
        part("text/plain", b"see attached"), part("application/pdf", b"%PDF-1.7", filename_header)
    )
    parsed = parse(raw)
    (attachment,) = parsed.attachments
    assert parsed.problems == ()
    assert attachment.filename == expected
    assert attachment.content_type == "application/pdf"
    assert attachment.data == b"%PDF-1.7"


@pytest.mark.parametrize(
    ("name", "codec", "problems"),
    [
        ("報告書.pdf", "utf-8", ()),
        ("報告書.pdf", "cp932", ("part 2: no charset declared, decoded as Shift_JIS (cp932)",)),
        ("報告書.pdf", "euc_jp", ("part 2: no charset declared, decoded as EUC-JP",)),
        ("crème brûlée.pdf", "latin-1", ("part 2: no charset declared, decoded as windows-1252",)),
    ],
)
def test_raw_8bit_attachment_names_are_decoded(
    name: str, codec: str, problems: tuple[str, ...]
) -> None:
    disposition = b'Content-Disposition: attachment; filename="' + name.encode(codec) + b'"'
    raw = multipart(
        part("text/plain", b"see attached"),
        b"Content-Type: application/pdf\r\n" + disposition + b"\r\n\r\n%PDF",
    )
    parsed = parse(raw)
    assert parsed.attachments[0].filename == name
    assert parsed.problems == problems


def test_the_content_type_name_serves_when_there_is_no_disposition() -> None:
    encoded = b_word("報告.txt", "utf-8")
    raw = multipart(part(f'application/octet-stream; name="{encoded}"', b"data"))
    assert parse(raw).attachments[0].filename == "報告.txt"


@pytest.mark.parametrize(
    ("label", "body", "text", "used"),
    [
        ("x-foo", "こんにちは".encode("cp932"), "こんにちは", "Shift_JIS (cp932)"),
        ("x-foo", "こんにちは".encode("euc_jp"), "こんにちは", "EUC-JP"),
        ("x-foo", "こんにちは".encode("iso2022_jp"), "こんにちは", "ISO-2022-JP (iso2022_jp)"),
        ("x-foo", "naïve".encode(), "naïve", "UTF-8"),
        ("unknown-8bit", "naïve".encode("latin-1"), "naïve", "windows-1252"),
        ("rot13", b"caf\xe9", "café", "windows-1252"),  # a codec, not a charset
        ("unicode-escape", "\\u0041 naïve".encode(), "\\u0041 naïve", "UTF-8"),  # not a charset
    ],
)
def test_an_unknown_charset_falls_back_and_says_so(
    label: str, body: bytes, text: str, used: str
) -> None:
    raw = multipart(part("text/plain", b"hello"), part(f"text/plain; charset={label}", body))
    parsed = parse(raw)
    assert parsed.text == f"hello\n\n{text}"
    assert parsed.problems == (f"part 2: unknown charset {label!r}, decoded as {used}",)


@pytest.mark.parametrize(
    ("label", "body", "text", "used"),
    [
        ("us-ascii", "naïve".encode(), "naïve", "UTF-8"),
        ("utf-8", JAPANESE.encode("cp932"), JAPANESE, "Shift_JIS (cp932)"),
        ("utf-8", JAPANESE.encode("euc_jp"), JAPANESE, "EUC-JP"),
        ("iso-2022-jp", JAPANESE.encode("cp932"), JAPANESE, "Shift_JIS (cp932)"),
        ("utf-8", b"caf\xe9 cr\xe8me", "café crème", "windows-1252"),
        ("utf-8", b"\x93caf\xe9\x94", "\u201ccafé\u201d", "windows-1252"),
        ("utf-8", b"caf\xe9\x81", "café\x81", "ISO-8859-1 (latin-1)"),  # 0x81: not windows-1252
        ("utf-7", b"+2D0- lone surrogate", "+2D0- lone surrogate", "UTF-8"),
        (
            "utf-8",
            "Grüße aus München".encode() + b"\xff",
            "Grüße aus München\\xff",
            "UTF-8, 1 undecodable byte(s) shown as \\xNN",
        ),
    ],
)
def test_a_wrong_charset_label_falls_back_and_says_so(
    label: str, body: bytes, text: str, used: str
) -> None:
    parsed = parse(plain(body, charset=label))
    assert parsed.text == text
    assert parsed.problems == (
        f"message: bytes do not fit the declared charset {label!r}, decoded as {used}",
    )


@pytest.mark.parametrize(
    ("label", "codec", "used"),
    [
        ("iso-8859-1", "euc_jp", "EUC-JP"),
        ("windows-1252", "euc_jp", "EUC-JP"),
        ("iso-8859-15", "cp932", "Shift_JIS (cp932)"),
    ],
)
def test_japanese_under_a_single_byte_label_is_still_read(
    label: str, codec: str, used: str
) -> None:
    # Every byte "decodes" as Latin-1; only reading it as Japanese shows the label is wrong.
    parsed = parse(plain(JAPANESE.encode(codec), charset=label))
    assert parsed.text == JAPANESE
    assert parsed.problems == (
        f"message: the declared charset {label!r} does not fit the text, decoded as {used}",
    )


@pytest.mark.parametrize(
    ("label", "text"),
    [
        ("iso-8859-1", "¥é crème brûlée, àéèù"),  # Latin-1 that cp932 or EUC-JP would accept
        ("iso-8859-2", "Zażółć gęślą jaźń"),
        ("windows-1251", "Уязвимость"),
        (
            "iso-8859-1",
            "café \u2013 \u201cquoted\u201d",
        ),  # read as windows-1252, as every client does
        ("gb2312", "漏洞报告"),
        ("big5", "漏洞報告"),
        ("ks_c_5601-1987", "취약점 보고"),
    ],
)
def test_other_charsets_real_mail_uses(label: str, text: str) -> None:
    codec = {"iso-8859-1": "cp1252", "ks_c_5601-1987": "cp949"}.get(label, label)
    parsed = parse(plain(text.encode(codec), charset=label))
    assert (parsed.text, parsed.problems, parsed.language) == (text, (), "en")


def test_language_is_japanese_only_when_the_text_mostly_is() -> None:
    assert parse(plain("報告です。よろしくお願いします。".encode())).language == "ja"
    english = "This is a long English report about a vulnerability. " * 5
    assert parse(plain(f"{english}\n-- \n山田".encode())).language == "en"
    assert parse(plain("这是一份漏洞报告".encode())).language == "en"  # Chinese: no kana


# --- Structure and damage ---------------------------------------------------------------------


def test_alternative_prefers_plain_text() -> None:
    raw = multipart(
        part("text/plain; charset=utf-8", b"The plain version"),
        part("text/html; charset=utf-8", b"<p>The <b>HTML</b> version</p>"),
        subtype="alternative",
    )
    parsed = parse(raw)
    assert (parsed.text, parsed.html_converted) == ("The plain version", False)


def test_alternative_falls_back_to_html_when_the_plain_part_is_empty() -> None:
    raw = multipart(
        part("text/plain", b" \r\n"), part("text/html", b"<p>Only here</p>"), subtype="alternative"
    )
    assert (parse(raw).text, parse(raw).html_converted) == ("Only here", True)


def test_html_only_mail_is_converted_and_its_scripts_dropped() -> None:
    html = (
        b"<html><head><script>alert('head')</script></head><body>"
        b"<p onclick=\"steal()\">Report</p><script>document.location='https://evil/'</script>"
        b"<img src=x onerror=alert(1)><a href='https://example.org/poc'>proof</a></body></html>"
    )
    raw = message("From: a@example.org", "Content-Type: text/html; charset=utf-8", body=html)
    parsed = parse(raw)
    assert parsed.text == "Report\nproof (https://example.org/poc)"
    assert parsed.html_converted
    for script in ("alert", "document", "evil", "steal", "<"):
        assert script not in parsed.text


def test_alternative_with_related_images_keeps_the_images_as_attachments() -> None:
    related = multipart(
        part("text/html", b"<p>See <img src='cid:shot'></p>"),
        part("image/png", b"\x89PNG", 'Content-Disposition: inline; filename="shot.png"'),
        subtype="related",
        boundary="R",
    ).split(b"\r\n\r\n", 1)
    nested = related[0].split(b"MIME-Version: 1.0\r\n")[1] + b"\r\n\r\n" + related[1]
    raw = multipart(part("text/plain", b"See the screenshot"), nested, subtype="alternative")
    parsed = parse(raw)
    assert parsed.text == "See the screenshot"
    assert [a.filename for a in parsed.attachments] == ["shot.png"]


def test_a_truncated_multipart_keeps_every_readable_part() -> None:
    attachment = base64.encodebytes(b"A" * 300)
    raw = multipart(
        part("text/plain", b"Hello there"),
        part(
            "application/octet-stream",
            attachment,
            'Content-Disposition: attachment; filename="dump.bin"',
            "Content-Transfer-Encoding: base64",
        ),
    )
    raw = raw[: raw.index(attachment) + 101]  # cut inside the base64, no closing boundary
    parsed = parse(raw)
    assert parsed.text == "Hello there"
    (dump,) = parsed.attachments
    assert (dump.filename, dump.data) == ("dump.bin", b"A" * 75)
    assert "message: the closing boundary is missing (truncated?)" in parsed.problems


def test_a_multipart_without_a_boundary_is_read_as_text() -> None:
    raw = message(
        "From: a@example.org",
        "Content-Type: multipart/mixed",
        body=b"--XX\r\nContent-Type: text/plain\r\n\r\nHello\r\n--XX--\r\n",
    )
    parsed = parse(raw)
    assert "Hello" in parsed.text
    assert "message: multipart without a boundary; read as text" in parsed.problems


def test_a_boundary_that_never_appears_keeps_the_body_as_text() -> None:
    raw = message(
        "From: a@example.org",
        'Content-Type: multipart/mixed; boundary="nowhere"',
        body=b"Just some text\r\n",
    )
    parsed = parse(raw)
    assert parsed.text == "Just some text"
    assert "message: the multipart boundary never appears; read as text" in parsed.problems


@pytest.mark.parametrize(
    ("encoded", "data", "problem"),
    [
        (b"SGVsbG8gd29ybGQ", b"Hello world", "bad base64 padding"),
        (b"SGVs!!bG8gd29y*bGQ=", b"Hello world", "invalid characters in base64 data (skipped)"),
        (b"SGVsbG8gd29ybGQhI", b"Hello world!", "truncated base64 data"),
    ],
)
def test_damaged_base64_is_decoded_as_far_as_it_goes(
    encoded: bytes, data: bytes, problem: str
) -> None:
    raw = multipart(
        part(
            "application/octet-stream",
            encoded,
            "Content-Disposition: attachment; filename=x.bin",
            "Content-Transfer-Encoding: base64",
        )
    )
    parsed = parse(raw)
    assert parsed.attachments[0].data == data
    assert any(p.startswith("part 1: ") and problem in p for p in parsed.problems)


def test_damaged_quoted_printable_keeps_the_text() -> None:
    raw = plain(
        b"caf=C3=A9 =ZZ broken=\r\nsoft and =E", "Content-Transfer-Encoding: quoted-printable"
    )
    assert parse(raw).text == "café =ZZ brokensoft and =E"


def test_a_forwarded_message_is_read_with_its_attachments() -> None:
    inner = message(
        "From: original@example.net",
        "Subject: =?utf-8?q?Original_=E5=A0=B1=E5=91=8A?=",
        "Date: Mon, 2 Mar 2026 09:00:00 +0000",
        'Content-Type: multipart/mixed; boundary="I"',
        body=b"--I\r\nContent-Type: text/plain\r\n\r\nInner text\r\n--I\r\n"
        b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n"
        b"\r\n%PDF\r\n--I--\r\n",
    )
    raw = multipart(part("text/plain", b"FYI"), part("message/rfc822", inner))
    parsed = parse(raw)
    assert parsed.text == (
        "FYI\n\n---------- Forwarded message ----------\nFrom: original@example.net\n"
        "Date: Mon, 2 Mar 2026 09:00:00 +0000\nSubject: Original 報告\n\nInner text"
    )
    assert [a.filename for a in parsed.attachments] == ["a.pdf"]


def test_nesting_too_deep_is_cut_off_without_raising() -> None:
    entity = b"Content-Type: text/plain\r\n\r\ninnermost"
    for level in range(60):
        boundary = f"L{level}".encode()
        entity = (
            b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
            b"--" + boundary + b"\r\n" + entity + b"\r\n--" + boundary + b"--\r\n"
        )
    parsed = parse(b"From: a@example.org\r\n" + entity)
    assert parsed.text == ""
    assert any(p.endswith(": nested too deeply; not read") for p in parsed.problems)


def test_a_parser_that_gives_up_leaves_the_raw_text(monkeypatch: pytest.MonkeyPatch) -> None:
    class Exploding(email.parser.BytesParser):
        def parsebytes(
            self, text: bytes | bytearray, headersonly: bool = False
        ) -> email.message.Message:
            raise RecursionError("simulated")

    monkeypatch.setattr(mail, "BytesParser", Exploding)
    parsed = parse(plain(b"Body survives", "Message-ID: <x@example.org>"))
    assert parsed.text == "Body survives"
    assert parsed.message_id == "<x@example.org>"
    assert parsed.problems == (
        "the message could not be parsed (RecursionError: simulated); its raw text is shown",
    )


# --- Attachments ------------------------------------------------------------------------------


def attachment_message(filename_header: str, data: bytes, ctype: str = "application/zip") -> bytes:
    encoded = base64.encodebytes(data)
    return multipart(
        part("text/plain", b"see attached"),
        part(ctype, encoded, filename_header, "Content-Transfer-Encoding: base64"),
    )


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ('Content-Disposition: attachment; filename="../../etc/passwd"', "passwd"),
        ('Content-Disposition: attachment; filename="/etc/shadow"', "shadow"),
        ('Content-Disposition: attachment; filename="C:\\Windows\\evil.exe"', "evil.exe"),
        ("Content-Disposition: attachment; filename*=utf-8''a%00b.txt", "a_b.txt"),
        ("Content-Disposition: attachment; filename*=utf-8''..%2F..%2Fx.sh", "x.sh"),
        ('Content-Disposition: attachment; filename=".."', "attachment"),
        ("Content-Disposition: attachment", "attachment"),
    ],
)
def test_attachment_names_are_made_safe(header: str, name: str) -> None:
    (attachment,) = parse(attachment_message(header, b"PK")).attachments
    assert attachment.filename == name


def test_an_oversize_attachment_is_listed_but_refused() -> None:
    data = bytes(range(256)) * 8
    raw = attachment_message('Content-Disposition: attachment; filename="big.bin"', data)
    parsed = parse(raw, max_attachment_bytes=1000)
    assert parsed.attachments == (
        MailAttachment(
            filename="big.bin",
            content_type="application/zip",
            data=b"",
            size=2048,
            refused="over the 1000-byte attachment limit",
        ),
    )
    assert "part 2: attachment 'big.bin' (2048 bytes) over the 1000-byte attachment limit" in (
        parsed.problems
    )


def test_a_zip_bomb_is_just_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.bin", "w", force_zip64=True) as member,
    ):
        for _ in range(64):
            member.write(bytes(1024 * 1024))
    bomb = buffer.getvalue()
    assert len(bomb) < 200_000  # expands to 64 MiB, far over any limit

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the parser opened an archive")

    for module, name in ((zipfile, "ZipFile"), (zipfile, "is_zipfile"), (tarfile, "open")):
        monkeypatch.setattr(module, name, never)
    raw = attachment_message('Content-Disposition: attachment; filename="bomb.zip"', bomb)
    parsed = parse(raw, max_attachment_bytes=1024 * 1024)
    (attachment,) = parsed.attachments
    assert attachment.data == bomb
    assert attachment.size == len(bomb)
    assert attachment.refused == ""


def test_text_attachments_are_attachments_not_body() -> None:
    raw = multipart(
        part("text/plain", b"Body"),
        part("text/plain", b"log line", 'Content-Disposition: attachment; filename="a.log"'),
        part("text/x-diff", b"--- a\n+++ b"),
    )
    parsed = parse(raw)
    assert parsed.text == "Body"
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("a.log", "text/plain"),
        ("attachment", "text/x-diff"),
    ]


# --- OpenPGP ----------------------------------------------------------------------------------


def test_an_inline_encrypted_block_is_replaced_by_its_plaintext() -> None:
    pgp = FakePgp({b"CIPHER1": b"The secret report.\n"})
    body = f"Hello,\n\n{armour('CIPHER1')}\n\nRegards".encode()
    parsed = parse(plain(body), pgp=pgp)
    assert parsed.text == "Hello,\n\nThe secret report.\n\n\nRegards"
    assert "CIPHER1" not in parsed.text
    assert (parsed.encryption, parsed.pgp_detail) == (Encryption.DECRYPTED, "decrypted")
    assert pgp.decrypted == [armour("CIPHER1").encode()]


def test_inline_plaintext_honours_the_armour_charset() -> None:
    pgp = FakePgp({b"CIPHER1": "café".encode("latin-1")})
    parsed = parse(plain(armour("CIPHER1", "Charset: ISO-8859-1").encode()), pgp=pgp)
    assert (parsed.text, parsed.problems) == ("café", ())


def test_inline_plaintext_without_a_charset_goes_through_the_fallbacks() -> None:
    pgp = FakePgp({b"CIPHER1": JAPANESE.encode("cp932")})
    parsed = parse(plain(armour("CIPHER1").encode()), pgp=pgp)
    assert parsed.text == JAPANESE
    assert parsed.problems == (
        "message (decrypted): no charset declared, decoded as Shift_JIS (cp932)",
    )


def test_an_inline_block_holding_mime_is_parsed_with_its_attachments() -> None:
    inner = message(
        'Content-Type: multipart/mixed; boundary="in"',
        body=b"--in\r\nContent-Type: text/plain\r\n\r\nInner body\r\n--in\r\n"
        b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=poc.pdf"
        b"\r\n\r\n%PDF\r\n--in--\r\n",
    )
    pgp = FakePgp({b"CIPHER1": inner})
    parsed = parse(plain(armour("CIPHER1").encode()), pgp=pgp)
    assert parsed.text == "Inner body"
    assert [(a.filename, a.data) for a in parsed.attachments] == [("poc.pdf", b"%PDF")]


def test_without_a_key_the_inline_block_stays_with_a_notice() -> None:
    parsed = parse(plain(armour("CIPHER1").encode()))
    assert parsed.encryption is Encryption.NO_KEY
    assert parsed.pgp_detail == "no OpenPGP key is configured"
    assert parsed.text == (
        "[This message is encrypted and could not be decrypted: no OpenPGP key is configured]\n"
        + armour("CIPHER1")
    )


def test_an_inline_block_for_another_key_is_no_key() -> None:
    parsed = parse(plain(armour("CIPHER9").encode()), pgp=FakePgp())
    assert parsed.encryption is Encryption.NO_KEY
    assert parsed.text.startswith(
        "[This message is encrypted and could not be decrypted: no secret key for 0x1234ABCD]"
    )


def test_a_raising_pgp_adapter_is_a_failure_not_a_crash() -> None:
    class Broken(FakePgp):
        def decrypt(self, armored_or_binary: bytes) -> Decryption:
            raise OSError("gpg vanished")

    parsed = parse(plain(armour("CIPHER1").encode()), pgp=Broken())
    assert parsed.encryption is Encryption.FAILED
    assert parsed.pgp_detail == "OSError('gpg vanished')"


def test_too_many_inline_blocks_stop_calling_gpg() -> None:
    pgp = FakePgp({b"CIPHER": b"x"})
    body = "\n".join(armour(f"CIPHER{i}") for i in range(30)).encode()
    parsed = parse(plain(body), pgp=pgp)
    assert len(pgp.decrypted) == 20
    assert parsed.encryption is Encryption.FAILED
    assert "over 20 OpenPGP blocks; the rest skipped" in parsed.problems


def test_a_cleartext_signed_block_is_verified() -> None:
    block = (
        "-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nI found a bug.\r\n"
        "-----BEGIN PGP SIGNATURE-----\r\n\r\ngood\r\n-----END PGP SIGNATURE-----"
    )
    pgp = FakePgp()
    parsed = parse(plain(f"Hi\r\n{block}\r\nbye".encode()), pgp=pgp)
    assert pgp.cleartext == [block.encode()]
    assert parsed.verification == VALID
    assert "I found a bug." in parsed.text


def test_a_cleartext_signature_without_a_keyring_cannot_be_checked() -> None:
    block = "-----BEGIN PGP SIGNED MESSAGE-----\n\nx\n-----END PGP SIGNATURE-----"
    parsed = parse(plain(block.encode()))
    assert parsed.verification.signature is Signature.ERROR
    assert parsed.pgp_detail == mail.NO_KEYRING_DETAIL


ENCRYPTED_INNER = message(
    'Content-Type: multipart/mixed; boundary="inner"; protected-headers="v1"',
    "Subject: The real subject",
    body=b"--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDecrypted body\r\n"
    b"--inner\r\nContent-Type: application/octet-stream\r\n"
    b'Content-Disposition: attachment; filename="poc.py"\r\n\r\nprint(1)\r\n--inner--\r\n',
)


def pgp_mime(ciphertext: bytes) -> bytes:
    return multipart(
        part("application/pgp-encrypted", b"Version: 1"),
        part('application/octet-stream; name="encrypted.asc"', ciphertext),
        subtype="encrypted",
        params='; protocol="application/pgp-encrypted"',
    ).replace(b"Subject: report", b"Subject: ...")


def test_pgp_mime_is_decrypted_and_parsed() -> None:
    ciphertext = b"-----BEGIN PGP MESSAGE-----\r\n\r\nCIPHER2\r\n-----END PGP MESSAGE-----"
    pgp = FakePgp({b"CIPHER2": ENCRYPTED_INNER}, inner_verification=VALID)
    parsed = parse(pgp_mime(ciphertext), pgp=pgp)
    assert pgp.decrypted == [ciphertext]
    assert parsed.text == "Decrypted body"
    assert [(a.filename, a.data) for a in parsed.attachments] == [("poc.py", b"print(1)")]
    assert parsed.encryption is Encryption.DECRYPTED
    assert parsed.verification == VALID  # signed and encrypted in one
    assert parsed.subject == "The real subject"  # protected headers


def test_pgp_mime_without_a_key_keeps_the_ciphertext_and_says_why() -> None:
    ciphertext = b"-----BEGIN PGP MESSAGE-----\r\n\r\nCIPHER2\r\n-----END PGP MESSAGE-----"
    parsed = parse(pgp_mime(ciphertext))
    assert parsed.encryption is Encryption.NO_KEY
    assert parsed.text == (
        "[This message is encrypted and could not be decrypted: no OpenPGP key is configured]"
    )
    assert [(a.filename, a.data) for a in parsed.attachments] == [("encrypted.asc", ciphertext)]
    assert parsed.subject == "..."


SIGNED_PART = (
    b"Content-Type: text/plain;\r\n\tcharset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Signed text  \r\nwith a soft=\r\n break and trailing space=20\r\n"
)


def signed_message(signature: bytes = GOOD_SIGNATURE) -> bytes:
    return message(
        "From: reporter@example.org",
        "Subject: signed",
        "MIME-Version: 1.0",
        "Content-Type: multipart/signed; micalg=pgp-sha256;\r\n"
        ' protocol="application/pgp-signature"; boundary="sig"',
        body=b"This is an OpenPGP/MIME signed message\r\n--sig\r\n"
        + SIGNED_PART
        + b"\r\n--sig \t\r\n"  # transport padding after a boundary is allowed
        + b'Content-Type: application/pgp-signature; name="signature.asc"\r\n\r\n'
        + signature
        + b"\r\n--sig--\r\n",
    )


def test_multipart_signed_is_verified_over_the_exact_raw_bytes() -> None:
    pgp = FakePgp()
    parsed = parse(signed_message(), pgp=pgp)
    assert pgp.detached == [(SIGNED_PART, GOOD_SIGNATURE)]
    assert parsed.verification == VALID
    assert parsed.text == "Signed text  \nwith a soft break and trailing space "
    assert parsed.attachments == ()  # the signature is not an attachment


def test_multipart_signed_stored_with_bare_line_feeds_is_verified_over_crlf() -> None:
    pgp = FakePgp()
    parse(signed_message().replace(b"\r\n", b"\n"), pgp=pgp)
    assert pgp.detached == [(SIGNED_PART, GOOD_SIGNATURE.replace(b"\r\n", b"\n"))]


def test_a_bad_signature_is_reported() -> None:
    parsed = parse(signed_message(b"forged"), pgp=FakePgp())
    assert parsed.verification.signature is Signature.BAD


def test_a_signed_part_nested_in_a_mixed_one_is_found() -> None:
    signed = signed_message().split(b"MIME-Version: 1.0\r\n", 1)[1]
    pgp = FakePgp()
    parse(multipart(signed, part("text/plain", b"-- list footer")), pgp=pgp)
    assert pgp.detached == [(SIGNED_PART, GOOD_SIGNATURE)]


def test_a_signed_message_inside_pgp_mime_is_verified_over_the_plaintext() -> None:
    inner = signed_message().split(b"MIME-Version: 1.0\r\n", 1)[1].replace(b"\r\n", b"\n")
    pgp = FakePgp({b"CIPHER3": inner})
    parsed = parse(pgp_mime(b"CIPHER3"), pgp=pgp)
    assert pgp.detached == [(SIGNED_PART, GOOD_SIGNATURE.replace(b"\r\n", b"\n"))]
    assert (parsed.encryption, parsed.verification) == (Encryption.DECRYPTED, VALID)


def test_a_part_beyond_the_signature_is_still_read() -> None:
    raw = signed_message().replace(
        b"\r\n--sig--\r\n",
        b"\r\n--sig\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="added.pdf"\r\n\r\n%PDF\r\n--sig--\r\n',
    )
    pgp = FakePgp()
    parsed = parse(raw, pgp=pgp)
    assert pgp.detached == [(SIGNED_PART, GOOD_SIGNATURE)]
    assert [(a.filename, a.data) for a in parsed.attachments] == [("added.pdf", b"%PDF")]


def test_a_signature_without_a_keyring_cannot_be_checked() -> None:
    parsed = parse(signed_message())
    assert parsed.verification == Verification(Signature.ERROR, detail=mail.NO_KEYRING_DETAIL)


# --- header_message_id --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message_id"),
    [
        (b"Message-ID: <a@example.org>\r\n\r\nbody", "<a@example.org>"),
        (b"From: x\r\nmessage-id:\r\n   <folded@example.org>\r\n\r\n", "<folded@example.org>"),
        (b"Message-Id: <a@x> (added by relay)\n\n", "<a@x>"),
        (b"From reporter Mon Mar  2 09:00:00 2026\nMessage-ID: <mbox@x>\n\n", "<mbox@x>"),
        (b"Message-ID: bare-id@example.org\r\n\r\n", "bare-id@example.org"),
        (b"Message-ID: <a@x>\r\nMessage-ID: <b@x>\r\n\r\n", "<a@x>"),
        (b"From: x\r\n\r\nMessage-ID: <in-body@x>\r\n", ""),
        (b"Subject: none\r\n\r\n", ""),
        (b"", ""),
        (b"\x00\xff\xfe garbage", ""),
        (b"Message-ID: <\xff\x00@x>\r\n\r\n", "<\ufffd@x>"),
    ],
)
def test_header_message_id(raw: bytes, message_id: str) -> None:
    assert header_message_id(raw) == message_id
    assert parse(raw).message_id == message_id


# --- Whatever arrives -------------------------------------------------------------------------

SEEDS = (
    signed_message(),
    pgp_mime(b"CIPHER2"),
    plain(JAPANESE.encode("iso2022_jp"), charset="iso-2022-jp"),
    attachment_message("Content-Disposition: attachment; filename*=utf-8''%E5%A0%B1", b"PK\x03"),
    multipart(
        part("text/plain", b"x"),
        part("text/html", b"<p>y<script>z</script>"),
        subtype="alternative",
    ),
    plain(armour("CIPHER1").encode()),
)
NASTY = (
    b"\r\n--B\r\n",
    b"\r\n--B--\r\n",
    b"=?utf-8?b?",
    b"=?iso-2022-jp?q?=1B$B?=",
    b"\x00",
    b"\x1b$B",
    b"\r\n\r\n",
    b"Content-Type: multipart/mixed; boundary=B\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"; filename*0*=x-foo''%FF%00; filename*1=",
    b"-----BEGIN PGP MESSAGE-----\r\n",
    b"-----END PGP MESSAGE-----\r\n",
    b"-----BEGIN PGP SIGNED MESSAGE-----\n",
    b"<![foo[",
    b"\xff\xfe\xfd",
)


def mutate(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 6)):
        position = rng.randrange(len(data) + 1)
        action = rng.randrange(5)
        if action == 0 and data:
            data[min(position, len(data) - 1)] = rng.randrange(256)
        elif action == 1:
            del data[position:]
        elif action == 2:
            data[position:position] = rng.choice(NASTY)
        elif action == 3:
            del data[position : position + rng.randrange(40)]
        else:
            data[position:position] = rng.randbytes(rng.randrange(1, 30))
    return bytes(data)


def assert_sane(parsed: ParsedMail, raw: bytes) -> None:
    assert isinstance(parsed, ParsedMail)
    assert "\x00" not in parsed.text
    assert "\r" not in parsed.subject and "\n" not in parsed.subject
    assert len(parsed.subject) <= mail.MAX_SUBJECT
    strings = [parsed.text, parsed.subject, parsed.from_name, parsed.pgp_detail, *parsed.problems]
    strings += [a.filename for a in parsed.attachments]
    for text in strings:
        text.encode("utf-8")  # no lone surrogates: every value can be stored
    for attachment in parsed.attachments:
        assert "/" not in attachment.filename and attachment.filename
        assert attachment.refused or len(attachment.data) == attachment.size
    assert parsed.date is None or parsed.date.tzinfo is not None
    assert parsed.message_id == header_message_id(raw)


def test_parse_never_raises_on_mutated_mail() -> None:
    rng = random.Random(1729)
    pgp = FakePgp({b"CIPHER": ENCRYPTED_INNER})
    for round_ in range(400):
        raw = mutate(rng.choice(SEEDS), rng)
        assert_sane(parse(raw, pgp=pgp if round_ % 2 else None, max_attachment_bytes=64), raw)


def test_parse_never_raises_on_random_bytes() -> None:
    rng = random.Random(4104)
    for _ in range(200):
        raw = rng.randbytes(rng.randrange(2000))
        assert_sane(parse(raw), raw)


def test_a_zoned_date_keeps_its_offset() -> None:
    parsed = parse(plain(b"x", "Date: Tue, 3 Mar 2026 10:00:00 -0500"))
    assert parsed.date == datetime(2026, 3, 3, 10, 0, tzinfo=timezone(timedelta(hours=-5)))
