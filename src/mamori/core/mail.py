"""Reading an e-mail report: raw bytes in, a ``ParsedMail`` value out. Never raises.

The intake stores the raw bytes first and then calls ``parse``. Whatever arrives (damaged MIME,
wrong or unknown charsets, Japanese mail from any client of the last thirty years, OpenPGP in
any of its forms, or bytes that are not mail at all), ``parse`` returns what it could read and a
list of human-readable ``problems``, so that every message becomes a case.

- Text: ``text/plain`` preferred (``multipart/alternative`` picks the plain part); HTML-only mail
  goes through ``html_to_text``, so no HTML from mail is ever rendered.
- Charsets: the declared one, or a guess when it is unknown or wrong, and a problem says so
  (``mamori.core.charsets``). No text is lost: a replacement character is never produced.
- Headers: decoded, one line each, addresses and dates checked (``mamori.core.headers``).
- Attachments: names made safe, content never opened or unpacked, the oversized ones refused
  (listed, without data).
- OpenPGP: inline armour and PGP/MIME (RFC 3156) are decrypted or verified through a ``Pgp``
  implementation; a ``multipart/signed`` is checked over the exact bytes of the raw message.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import errors as email_errors
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Any

from mamori.core import charsets, headers
from mamori.core.filenames import safe_filename
from mamori.core.htmltext import html_to_text
from mamori.core.pgp import Decryption, Encryption, Pgp, Signature, Verification

__all__ = [
    "DEFAULT_MAX_ATTACHMENT_BYTES",
    "MailAttachment",
    "ParsedMail",
    "header_message_id",
    "parse",
]

DEFAULT_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
MAX_SUBJECT = 300
NO_KEY_DETAIL = "no OpenPGP key is configured"
NO_KEYRING_DETAIL = "signed, but no OpenPGP keyring is configured to check the signature"

_MAX_DEPTH = 30  # nesting of multiparts, forwarded and decrypted messages
_MAX_PGP_OPERATIONS = 20  # gpg runs per message
_MAX_PROBLEMS = 100
_MAX_REFERENCES = 100
_HEAD_SCAN = 1024 * 1024  # header_message_id looks no further than this


@dataclass(frozen=True)
class MailAttachment:
    filename: str  # safe_filename() of the declared name (RFC 2231 and RFC 2047 decoded)
    content_type: str  # as declared, lower-case
    data: bytes  # decoded payload, never unpacked; b"" when refused
    size: int  # decoded size in bytes
    refused: str = ""  # why the data was not kept


@dataclass(frozen=True)
class ParsedMail:
    """What the intake needs from a message. Every string is safe to store (no NUL, no lone
    surrogate); ``problems`` says, for an analyst, what could not be read and how it was read."""

    message_id: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    subject: str = ""  # decoded, one line, at most 300 characters
    from_name: str = ""
    from_address: str = ""  # one addr-spec, or "" when missing or invalid (see problems)
    to_addresses: tuple[str, ...] = ()  # valid addresses only, in order, without duplicates
    cc_addresses: tuple[str, ...] = ()
    date: datetime | None = None  # aware (UTC when the zone is unknown)
    # Auto-Submitted other than "no", Precedence bulk/junk/list, List-Id,
    # X-Auto-Response-Suppress, or a report (bounce): never auto-reply to these.
    auto_submitted: bool = False
    text: str = ""
    html_converted: bool = False
    attachments: tuple[MailAttachment, ...] = ()
    encryption: Encryption = Encryption.NONE
    verification: Verification = field(default_factory=Verification)
    pgp_detail: str = ""
    language: str = "en"  # "ja" or "en"
    problems: tuple[str, ...] = ()


def _language(text: str) -> str:
    kana = sum(1 for c in text if "\u3040" <= c <= "\u30ff" or "\uff66" <= c <= "\uff9f")
    kanji = sum(1 for c in text if "\u3400" <= c <= "\u9fff" or "\U00020000" <= c <= "\U0003134f")
    other = sum(1 for c in text if c.isalpha()) - kana - kanji
    return "ja" if kana and 3 * (kana + kanji) >= other else "en"


# --- Raw MIME: the exact bytes a PGP/MIME signature covers ---------------------------------------


def _split_head(raw: bytes) -> tuple[bytes, bytes]:
    if raw.startswith((b"\r\n", b"\n")):
        return b"", raw[2:] if raw.startswith(b"\r\n") else raw[1:]
    match = re.search(rb"\n\r?\n", raw)
    return (raw[: match.start() + 1], raw[match.end() :]) if match else (raw, b"")


def _raw_parts(raw: bytes, boundary: bytes) -> list[bytes]:
    """The exact bytes of each body part of the entity ``raw``: after a delimiter line, up to
    the line break before the next one (RFC 2046 §5.1.1). Without a close delimiter the last
    part runs to the end, as the email package reads it."""
    body = _split_head(raw)[1]
    delimiter = b"--" + boundary
    parts: list[bytes] = []
    start: int | None = None
    pos = previous_break = 0
    for line in body.splitlines(keepends=True):
        content = line.rstrip(b"\r\n")
        tail = content[len(delimiter) :]
        closing = tail.startswith(b"--")
        if content.startswith(delimiter) and not (tail[2:] if closing else tail).strip(b" \t"):
            if start is not None:
                parts.append(body[start : max(start, pos - previous_break)])
            if closing:
                return parts
            start = pos + len(line)
        previous_break = len(line) - len(content)
        pos += len(line)
    if start is not None:
        parts.append(body[start:])
    return parts


def _crlf(data: bytes) -> bytes:
    """Canonical line endings (RFC 3156 §5): what the signer signed, whatever stored the mail."""
    return re.sub(rb"\r?\n", b"\r\n", data)


# --- Reading the MIME tree -----------------------------------------------------------------------

_DEFECTS: dict[type[email_errors.MessageDefect], str] = {
    email_errors.NoBoundaryInMultipartDefect: "multipart without a boundary; read as text",
    email_errors.StartBoundaryNotFoundDefect: "the multipart boundary never appears; read as text",
    email_errors.CloseBoundaryNotFoundDefect: "the closing boundary is missing (truncated?)",
    email_errors.FirstHeaderLineIsContinuationDefect: "the first header line is a continuation",
    email_errors.MisplacedEnvelopeHeaderDefect: "a 'From ' envelope line among the headers",
    email_errors.MissingHeaderBodySeparatorDefect: "a line in the headers is not a header",
    email_errors.MultipartInvariantViolationDefect: "declared multipart but has no parts",
    email_errors.InvalidMultipartContentTransferEncodingDefect: (
        "a multipart with a content-transfer-encoding other than 7bit, 8bit or binary"
    ),
    email_errors.InvalidBase64PaddingDefect: "bad base64 padding",
    email_errors.InvalidBase64CharactersDefect: "invalid characters in base64 data (skipped)",
    email_errors.InvalidBase64LengthDefect: "truncated base64 data (the last character dropped)",
}
_PGP_MESSAGE = (
    re.compile(r"^-----BEGIN PGP MESSAGE-----[ \t]*(?=\r?$)", re.MULTILINE),
    re.compile(r"^-----END PGP MESSAGE-----[ \t]*(?=\r?$)", re.MULTILINE),
)
_PGP_CLEARSIGNED = (
    re.compile(r"^-----BEGIN PGP SIGNED MESSAGE-----[ \t]*(?=\r?$)", re.MULTILINE),
    re.compile(r"^-----END PGP SIGNATURE-----[ \t]*(?=\r?$)", re.MULTILINE),
)
_ARMOUR_CHARSET = re.compile(r"^Charset:[ \t]*([^\s;]+)", re.MULTILINE | re.IGNORECASE)
_MIME_HEAD = re.compile(rb"(?:[!-9;-~]+:[^\r\n]*\r?\n(?:[ \t][^\r\n]*\r?\n)*)+\r?\n")
_ENCRYPTION_RANK = {
    Encryption.NONE: 0,
    Encryption.DECRYPTED: 1,
    Encryption.NO_KEY: 2,
    Encryption.FAILED: 3,
}
_SIGNATURE_RANK = {
    Signature.NONE: 0,
    Signature.VALID: 1,
    Signature.UNKNOWN_KEY: 2,
    Signature.ERROR: 3,
    Signature.BAD: 4,
}
_TEXT_TYPES = ("text/plain", "text/html")


def _describe(defect: email_errors.MessageDefect) -> str:
    known = _DEFECTS.get(type(defect))
    if known:
        return known
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", type(defect).__name__.removesuffix("Defect")).lower()
    return f"{words}: {headers.printable(str(defect))}" if str(defect) else words


def _child(where: str, number: int) -> str:
    return f"part {number}" if where == "message" else f"{where}.{number}"


def _armoured(text: str, markers: tuple[re.Pattern[str], re.Pattern[str]]) -> list[re.Match[str]]:
    """(begin, end) matches of each complete armoured block, in linear time."""
    begin, end = markers
    blocks: list[re.Match[str]] = []
    pos = 0
    while (opening := begin.search(text, pos)) and (closing := end.search(text, opening.end())):
        blocks.extend((opening, closing))
        pos = closing.end()
    return blocks


def _looks_like_mime(data: bytes) -> bool:
    head = _MIME_HEAD.match(data)
    return head is not None and re.search(rb"(?im)^content-type:", head[0]) is not None


def _payload(msg: Message) -> bytes:
    """The decoded payload of a leaf part, leniently: truncated base64 loses one character."""
    data: Any = msg.get_payload(decode=True)
    if not isinstance(data, bytes):
        return b""
    if any(isinstance(d, email_errors.InvalidBase64LengthDefect) for d in msg.defects):
        b64 = re.sub(rb"[^A-Za-z0-9+/]", b"", data)[:-1]
        return binascii.a2b_base64(b64 + b"=" * (-len(b64) % 4))
    return data


def _param(msg: Message, name: str, header: str, where: str, problems: list[str]) -> str | None:
    """A MIME parameter, decoded: RFC 2231 with its charset, else RFC 2047 and raw 8-bit."""
    raw = headers.raw_header(msg, header)
    if raw is None:
        return None
    # The email package turns raw 8-bit parameters into U+FFFD; read them from a copy of the
    # header in which every byte is one Latin-1 character, and take the bytes back afterwards.
    carrier = Message()
    carrier[header] = charsets.surrogate_bytes(raw).decode("latin-1")
    try:
        value: Any = carrier.get_param(name, header=header)
    except Exception:  # damaged beyond the email package's patience
        return None
    if value is None:
        return None
    if not isinstance(value, tuple):
        text = str(value).encode("latin-1", "replace").decode("utf-8", "surrogateescape")
        return headers.decode_header(text, where, problems)
    charset, _language_tag, text = value
    data = str(text).encode("latin-1", "replace")
    decoded = charsets.decode(data, str(charset or "") or None)
    if decoded.problem:
        problems.append(f"{where}: {decoded.problem}")
    return decoded.text


def _header_block(msg: Message) -> str:
    return "\n".join(
        f"{k}: {headers.one_line(headers.printable(str(v)))}" for k, v in msg.raw_items()
    )


@dataclass
class _Reader:
    """Walks one message; collects attachments, problems and OpenPGP outcomes on the way."""

    pgp: Pgp | None
    max_attachment_bytes: int
    attachments: list[MailAttachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    encryption: Encryption = Encryption.NONE
    verification: Verification = field(default_factory=Verification)
    details: list[str] = field(default_factory=list)
    html_converted: bool = False
    protected_subject: str | None = None
    pgp_operations: int = 0

    def entity(self, msg: Message, raw: bytes | None, where: str, depth: int, want: bool) -> str:
        """The text of ``msg`` if ``want``; its attachments join the list. Never raises."""
        try:
            if depth > _MAX_DEPTH:
                self.problems.append(f"{where}: nested too deeply; not read")
                return ""
            return self._entity(msg, raw, where, depth, want)
        except Exception as exc:  # one damaged part must not sink the message
            reason = headers.printable(f"{type(exc).__name__}: {exc}")
            self.problems.append(f"{where}: could not be read ({reason}); shown as raw text")
            return self._raw_text(msg, raw) if want else ""
        finally:
            self.problems.extend(f"{where}: {_describe(defect)}" for defect in msg.defects)

    def _raw_text(self, msg: Message, raw: bytes | None) -> str:
        try:
            return charsets.decode(
                _split_head(raw)[1] if raw is not None else _payload(msg), None
            ).text
        except Exception:
            return ""

    def _entity(self, msg: Message, raw: bytes | None, where: str, depth: int, want: bool) -> str:
        if not msg.is_multipart():
            return self._leaf(msg, where, depth, want)
        parts = [part for part in msg.get_payload() if isinstance(part, Message)]
        if msg.get_content_maintype() == "message":
            if msg.get_content_type() == "message/rfc822" and parts:
                inner = _split_head(raw)[1] if raw is not None else None
                return self._forwarded(parts[0], inner, where, depth, want)
            return "\n\n".join(_header_block(part) for part in parts) if want else ""
        raws: list[bytes | None] = [None] * len(parts)
        boundary = msg.get_boundary()
        if raw is not None and boundary:
            found = _raw_parts(raw, charsets.surrogate_bytes(boundary))
            raws = list(found) if len(found) == len(parts) else raws
        subtype = msg.get_content_subtype()
        protocol = str(msg.get_param("protocol") or "").strip().lower()
        if subtype == "signed" and protocol == "application/pgp-signature" and len(parts) > 1:
            return self._signed(parts, raws, where, depth, want)
        if subtype == "encrypted" and protocol == "application/pgp-encrypted":
            return self._encrypted(parts, raws, where, depth, want)
        order = list(range(len(parts)))
        if subtype == "alternative":
            order = sorted(order, key=lambda i: _preference(parts[i]))
        texts: list[str] = []
        for i in order:
            wanted = want and not (subtype == "alternative" and any(t.strip() for t in texts))
            texts.append(self.entity(parts[i], raws[i], _child(where, i + 1), depth + 1, wanted))
        return "\n\n".join(text for text in texts if text.strip())

    def _declared_name(self, msg: Message, where: str) -> str | None:
        name = _param(msg, "filename", "content-disposition", where, self.problems)
        return (
            name if name is not None else _param(msg, "name", "content-type", where, self.problems)
        )

    def _leaf(self, msg: Message, where: str, depth: int, want: bool) -> str:
        data = _payload(msg)
        declared = self._declared_name(msg, where)
        ctype = msg.get_content_type()
        body = ctype in _TEXT_TYPES or msg.get_content_maintype() == "multipart"  # no boundary
        if not body or declared is not None or msg.get_content_disposition() == "attachment":
            self._attach(ctype, data, declared or "", where)
            return ""
        if not want:
            return ""
        decoded = charsets.decode(
            data, _param(msg, "charset", "content-type", where, self.problems)
        )
        if decoded.problem:
            self.problems.append(f"{where}: {decoded.problem}")
        text, codec = decoded.text, decoded.codec
        if ctype == "text/html":
            self.html_converted = True
            text, codec = html_to_text(text), "utf-8"
        return self._inline_pgp(text, codec, where, depth)

    def _attach(self, content_type: str, data: bytes, declared: str, where: str) -> None:
        name = safe_filename(declared)
        refused = ""
        if len(data) > self.max_attachment_bytes:
            refused = f"over the {self.max_attachment_bytes}-byte attachment limit"
            self.problems.append(f"{where}: attachment {name!r} ({len(data)} bytes) {refused}")
        self.attachments.append(
            MailAttachment(name, content_type, b"" if refused else data, len(data), refused)
        )

    def _forwarded(
        self, inner: Message, raw: bytes | None, where: str, depth: int, want: bool
    ) -> str:
        label = f"{where} (forwarded)"
        text = self.entity(inner, raw, label, depth + 1, want)
        if not want:
            return ""
        heading = [
            f"{name}: {headers.one_line(headers.decode_header(value, label, self.problems))}"
            for name in ("From", "Date", "Subject", "To")
            if (value := headers.raw_header(inner, name.lower())) is not None
        ]
        return "\n".join(["---------- Forwarded message ----------", *heading, "", text])

    # --- OpenPGP ---------------------------------------------------------------------------------

    def _signed(
        self, parts: list[Message], raws: list[bytes | None], where: str, depth: int, want: bool
    ) -> str:
        """RFC 3156 §5: the signature covers the first body part exactly as it was sent."""
        signed, signature = raws[0], _payload(parts[1])
        if signed is None:
            found = Verification(Signature.ERROR, detail="the signed part was not found intact")
            self._record_verification(found)
        else:
            self._verify(_crlf(signed), signature)
        text = self.entity(parts[0], signed, _child(where, 1), depth + 1, want)
        return self._extra(text, parts, raws, where, depth, want)

    def _extra(
        self,
        text: str,
        parts: list[Message],
        raws: list[bytes | None],
        where: str,
        depth: int,
        want: bool,
    ) -> str:
        """Parts beyond the two that RFC 3156 defines are read too: nothing readable is lost."""
        texts = [text] + [
            self.entity(parts[i], raws[i], _child(where, i + 1), depth + 1, want)
            for i in range(2, len(parts))
        ]
        return "\n\n".join(t for t in texts if t.strip())

    def _encrypted(
        self, parts: list[Message], raws: list[bytes | None], where: str, depth: int, want: bool
    ) -> str:
        """RFC 3156 §4: the second part holds the ciphertext of a whole MIME entity."""
        if len(parts) < 2:
            self.problems.append(f"{where}: PGP/MIME message without its encrypted part")
            return ""
        ciphertext = _payload(parts[1])
        plaintext, detail = self._decrypt(ciphertext)
        if plaintext is None:
            declared = self._declared_name(parts[1], where)
            self._attach(parts[1].get_content_type(), ciphertext, declared or "", where)
            text = _notice(detail) if want else ""
        else:
            text = self._decrypted(plaintext, where, depth, want)
        return self._extra(text, parts, raws, where, depth, want)

    def _decrypted(self, plaintext: bytes, where: str, depth: int, want: bool) -> str:
        label = "decrypted message" if where == "message" else f"{where} (decrypted)"
        inner = BytesParser(policy=compat32).parsebytes(plaintext)
        subject = headers.raw_header(inner, "subject")  # protected headers (RFC 9788)
        if subject is not None and self.protected_subject is None:
            self.protected_subject = subject
        return self.entity(inner, plaintext, label, depth + 1, want)

    def _inline_pgp(self, text: str, codec: str, where: str, depth: int) -> str:
        """Verify cleartext-signed blocks; put the plaintext of armoured messages in their place."""
        blocks = _armoured(text, _PGP_CLEARSIGNED)
        for begin, end in zip(blocks[::2], blocks[1::2], strict=True):
            self._verify(charsets.encode_like(text[begin.start() : end.end()], codec), None)
        blocks = _armoured(text, _PGP_MESSAGE)
        if not blocks:
            return text
        out, pos = [], 0
        for begin, end in zip(blocks[::2], blocks[1::2], strict=True):
            armour = text[begin.start() : end.end()]
            out += [text[pos : begin.start()], self._inline_plaintext(armour, where, depth)]
            pos = end.end()
        return "".join([*out, text[pos:]])

    def _inline_plaintext(self, armour: str, where: str, depth: int) -> str:
        plaintext, detail = self._decrypt(armour.encode("ascii", "replace"))
        if plaintext is None:
            return f"{_notice(detail)}\n{armour}"
        if _looks_like_mime(plaintext):
            return self._decrypted(plaintext, where, depth, want=True)
        charset = _ARMOUR_CHARSET.search(re.split(r"\r?\n[ \t]*\r?\n", armour, maxsplit=1)[0])
        decoded = charsets.decode(plaintext, charset[1] if charset else None)
        if decoded.problem:
            self.problems.append(f"{where} (decrypted): {decoded.problem}")
        return decoded.text

    def _pgp_allowed(self) -> bool:
        self.pgp_operations += 1
        if self.pgp_operations == _MAX_PGP_OPERATIONS + 1:
            self.problems.append(f"over {_MAX_PGP_OPERATIONS} OpenPGP blocks; the rest skipped")
        return self.pgp_operations <= _MAX_PGP_OPERATIONS

    def _decrypt(self, ciphertext: bytes) -> tuple[bytes | None, str]:
        """(plaintext, detail); the plaintext is None when it cannot be had."""
        if self.pgp is None:
            result = Decryption(Encryption.NO_KEY, detail=NO_KEY_DETAIL)
        elif not self._pgp_allowed():
            result = Decryption(Encryption.FAILED, detail="too many OpenPGP blocks")
        else:
            try:
                result = self.pgp.decrypt(ciphertext)
            except Exception as exc:  # the adapter should report, not raise; make sure of it
                result = Decryption(Encryption.FAILED, detail=headers.printable(f"{exc!r}"))
        outcome = result.encryption
        if outcome is Encryption.NONE:
            outcome = Encryption.FAILED  # it was encrypted: "not encrypted" is no answer
        if _ENCRYPTION_RANK[outcome] > _ENCRYPTION_RANK[self.encryption]:
            self.encryption = outcome
        detail = result.detail or outcome.value
        self.details.append(detail)
        if result.verification.signature is not Signature.NONE:
            self._record_verification(result.verification)
        return (result.plaintext if outcome is Encryption.DECRYPTED else None), detail

    def _verify(self, signed: bytes, signature: bytes | None) -> None:
        """A detached signature over ``signed``, or a cleartext-signed block when None."""
        if self.pgp is None:
            result = Verification(Signature.ERROR, detail=NO_KEYRING_DETAIL)
        elif not self._pgp_allowed():
            result = Verification(Signature.ERROR, detail="too many OpenPGP blocks")
        else:
            try:
                if signature is None:
                    result = self.pgp.verify_cleartext(signed)
                else:
                    result = self.pgp.verify_detached(signed, signature)
            except Exception as exc:  # see _decrypt
                result = Verification(Signature.ERROR, detail=headers.printable(f"{exc!r}"))
        self._record_verification(result)

    def _record_verification(self, result: Verification) -> None:
        if _SIGNATURE_RANK[result.signature] >= _SIGNATURE_RANK[self.verification.signature]:
            self.verification = result
        if result.detail:
            self.details.append(result.detail)


def _preference(part: Message) -> int:
    """Which alternative an analyst reads: plain text, then a structure, then HTML."""
    ctype = part.get_content_type()
    if ctype == "text/plain":
        return 0
    return 1 if part.is_multipart() else 2 if ctype == "text/html" else 3


def _notice(detail: str) -> str:
    return f"[This message is encrypted and could not be decrypted: {detail}]"


# --- The entry points ----------------------------------------------------------------------------


def _head_lines(raw: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(name, unfolded value) of each header in the header block, cheaply."""
    lines = _split_head(raw[:_HEAD_SCAN])[0].splitlines()
    if lines and lines[0].startswith(b"From "):
        del lines[0]  # an mbox envelope line
    current = b""
    for line in lines:
        if line[:1] in (b" ", b"\t") and current:
            current += line
            continue
        if current:
            name, _, value = current.partition(b":")
            yield name.strip(), value
        if b":" not in line:
            return
        current = line
    if current:
        name, _, value = current.partition(b":")
        yield name.strip(), value


def header_message_id(raw: bytes) -> str:
    """The Message-ID from the header block only, normalised as ``parse`` does; "" if none."""
    try:
        for name, value in _head_lines(bytes(raw)):
            if name.lower() == b"message-id":
                return headers.normalise_id(value.decode("utf-8", "replace"))
    except Exception:  # header_message_id must never raise either
        return ""
    return ""


def parse(
    raw: bytes, *, pgp: Pgp | None = None, max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES
) -> ParsedMail:
    """Read a message. Never raises: what could not be read is described in ``problems``."""
    try:
        return _parse(bytes(raw), pgp, max_attachment_bytes)
    except Exception as exc:  # the last line of defence
        return _unparsed(raw, exc)


def _parse(raw: bytes, pgp: Pgp | None, max_attachment_bytes: int) -> ParsedMail:
    msg = BytesParser(policy=compat32).parsebytes(raw)
    reader = _Reader(pgp, max_attachment_bytes)
    text = _clean_text(reader.entity(msg, raw, "message", 0, want=True))
    problems: list[str] = []
    subject = headers.one_line(
        headers.decode_header(headers.raw_header(msg, "subject") or "", "Subject", problems)
    )
    if reader.protected_subject is not None and subject in ("", "...", "Encrypted Message"):
        subject = headers.one_line(
            headers.decode_header(reader.protected_subject, "Subject", problems)
        )
    subject = subject[:MAX_SUBJECT].rstrip()
    senders = headers.addresses(headers.raw_headers(msg, "from"), "From", problems)
    if not senders:
        problems.append("From: no sender")
    elif len(senders) > 1:
        problems.append(f"From: {len(senders)} senders, the first one taken")
    from_name, from_address = senders[0] if senders else ("", "")
    to = headers.addresses(headers.raw_headers(msg, "to"), "To", problems)
    cc = headers.addresses(headers.raw_headers(msg, "cc"), "Cc", problems)
    date = headers.header_date(headers.raw_header(msg, "date"), problems)
    in_reply_to = headers.message_ids(headers.raw_header(msg, "in-reply-to") or "")
    references = headers.message_ids(" ".join(headers.raw_headers(msg, "references")))
    if len(references) > _MAX_REFERENCES:  # keep the first and the latest (RFC 5322 §3.6.4)
        references = references[:1] + references[-(_MAX_REFERENCES - 1) :]
    return ParsedMail(
        message_id=header_message_id(raw),
        in_reply_to=in_reply_to[0] if in_reply_to else "",
        references=tuple(references),
        subject=subject,
        from_name=from_name,
        from_address=from_address,
        to_addresses=tuple(dict.fromkeys(address for _, address in to if address)),
        cc_addresses=tuple(dict.fromkeys(address for _, address in cc if address)),
        date=date,
        auto_submitted=headers.auto_submitted(msg),
        text=text,
        html_converted=reader.html_converted,
        attachments=tuple(reader.attachments),
        encryption=reader.encryption,
        verification=reader.verification,
        pgp_detail="; ".join(dict.fromkeys(reader.details)),
        language=_language(f"{subject}\n{text}"),
        problems=_capped([*problems, *reader.problems]),
    )


def _capped(problems: list[str]) -> tuple[str, ...]:
    unique = list(dict.fromkeys(problems))
    if len(unique) > _MAX_PROBLEMS:
        extra = len(unique) - _MAX_PROBLEMS
        unique = [*unique[:_MAX_PROBLEMS], f"... and {extra} more problems"]
    return tuple(unique)


def _clean_text(text: str) -> str:
    """Line feeds only, no control characters (NUL cannot even be stored), no blank edges."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text).strip("\n")


def _unparsed(raw: bytes, exc: Exception) -> ParsedMail:
    reason = headers.printable(f"{type(exc).__name__}: {exc}")
    problem = f"the message could not be parsed ({reason}); its raw text is shown"
    try:
        data = bytes(raw)
        text = _clean_text(charsets.decode(_split_head(data)[1] or data, None).text)
    except Exception:
        text = ""
    return ParsedMail(message_id=header_message_id(raw), text=text, problems=(problem,))
