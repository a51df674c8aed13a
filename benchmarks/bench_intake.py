"""Mail intake: 2,000 realistic reports over SMTP, each into a case and a receipt back out.

A fresh installation per round (temp data dir, generated secret, migrated database, a team
OpenPGP key in MAMORI_GNUPG_HOME), ``mamori intake smtp`` and ``mamori worker`` started as
subprocesses, and a receipt sink (aiosmtpd in this process) as MAMORI_OUTGOING_SMTP_URL.
SENDERS SMTP clients (threads, one reused connection each) send the corpus as fast as the
listener takes it; then we wait for every receipt (or MAMORI_BENCH_INTAKE_TIMEOUT).

Reported: the SMTP acceptance rate (messages / time until the last 250), the end-to-end rate
(messages / time until the last one became a case), latency from sending to the case and to
its receipt (p50, p90, p99, max; overall and per kind), and ``lost``: messages answered 250
that did not become a case, plus receipts missing. The script exits 1 if anything was lost.

The corpus is generated with a fixed seed (the PGP ciphertexts aside): plain English;
multipart/mixed with 1-3 attachments (a log, a small PNG, a zip); Japanese in ISO-2022-JP,
Shift_JIS, EUC-JP and UTF-8 (encoded-word subjects and bodies); PGP/MIME encrypted to the team
key (encrypted before the clock starts); malformed mail (truncated MIME, a multipart without
boundary, an unknown charset label, HTML only with a script). Sizes are log-uniform from 1 KB
to 200 KB, every message has its own Message-ID and reporter, so every one opens a case.

Baseline measured in the same run: the same messages, sent by the same clients, to a bare
aiosmtpd server (a subprocess, as the listener is) that only appends the bytes to a list: the
SMTP floor on this machine. Everything above it is Mamori storing and processing.

Rounds: SQLite, and PostgreSQL in a fresh database when MAMORI_BENCH_DATABASE_URL is set;
each with 1 worker (as ``mamori run`` starts) and 2 (MAMORI_BENCH_INTAKE_WORKERS, "1,2").
MAMORI_BENCH_INTAKE_MESSAGES (default 2000) shortens a run for a quick look.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import os
import random
import secrets
import shutil
import signal
import smtplib
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from email.header import Header
from email.parser import BytesHeaderParser
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
SEED = 3156
SECURITY = "security@example.org"
SENDERS = 4
MESSAGES = int(os.environ.get("MAMORI_BENCH_INTAKE_MESSAGES") or 2000)
TIMEOUT = float(os.environ.get("MAMORI_BENCH_INTAKE_TIMEOUT") or 600)
WORKERS = tuple(int(n) for n in (os.environ.get("MAMORI_BENCH_INTAKE_WORKERS") or "1,2").split(","))
KINDS = {  # share of the corpus, in percent
    "plain": 30,
    "attachments": 25,
    "ja-iso-2022-jp": 6,
    "ja-shift_jis": 6,
    "ja-euc-jp": 6,
    "ja-utf-8": 6,
    "pgp-mime": 5,
    "bad-truncated": 4,
    "bad-no-boundary": 4,
    "bad-charset": 4,
    "html-script": 4,
}
JA_CODECS = {"ja-iso-2022-jp": "ISO-2022-JP", "ja-shift_jis": "Shift_JIS", "ja-euc-jp": "EUC-JP"}
JA_CODECS["ja-utf-8"] = "UTF-8"
UNKNOWN_CHARSET = "x-mamori-bench-unknown"

EN = (
    "The login form of the management console does not escape the next parameter.",
    "A crafted link runs script in the session of an administrator who opens it.",
    "Steps to reproduce: sign in as an operator, open the link below, watch the alert box.",
    "The firmware upload handler joins the archive member names to the target directory.",
    "A name such as ../../etc/cron.d/x writes outside the upload directory.",
    "The search endpoint builds its SQL from the sort parameter without quoting it.",
    "Affected versions: 2.3.1 and earlier; 2.4.0-rc1 is affected too.",
    "curl -k 'https://device.example/api/v2/search?sort=name%20DESC;SELECT%20pg_sleep(5)'",
    "The response takes five seconds longer, which shows the injected statement ran.",
    "We have not published this and will wait for your fix before we do.",
    "Please credit Example Security Research in the advisory if you publish one.",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:N is our estimate of the severity.",
)
JA = (
    "管理画面のログインフォームで、パラメータがエスケープされていません。",
    "細工したリンクを管理者が開くと、任意のスクリプトが実行されます。",
    "再現手順は以下のとおりです。運用者としてログインし、リンクを開いてください。",
    "ファームウェア更新機能が、アーカイブ内のファイル名をそのまま使っています。",
    "影響を受けるバージョンは二・三・一以前と思われます。",
    "検索APIの並び替えパラメータからSQL文が組み立てられています。",
    "修正版が公開されるまで、この情報は公開しません。",
    "ご確認のほど、よろしくお願いいたします。",
)
EN_SUBJECTS = (
    "Stored XSS in the management console",
    "SQL injection in /api/v2/search",
    "Path traversal in the firmware upload",
    "Authentication bypass in the admin console",
    "Heap overflow in the packet parser",
    "Open redirect after login",
)
JA_SUBJECTS = (
    "【脆弱性報告】管理画面のクロスサイトスクリプティング",
    "検索APIにおけるSQLインジェクションの報告",
    "ファームウェア更新機能のパストラバーサルについて",
    "管理コンソールの認証回避",
)
JA_NAMES = ("山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 美咲")
EN_NAMES = ("Alice Example", "Bob Tester", "Carol Researcher", "Dan Hunter")
DOMAINS = ("example.com", "example.net", "mail.example.jp", "research.example.org")


# --- The corpus -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    kind: str
    sender: str
    message_id: str  # without angle brackets
    subject: str  # as the intake should decode it
    snippet: str  # a line the case's description should contain
    files: int  # attachments the case should have
    raw: bytes


@dataclass(frozen=True)
class Draft:
    """What every generator gets: the message's number, reporter and target size."""

    number: int
    rng: random.Random
    size: int

    @property
    def sender(self) -> str:
        return f"reporter{self.number:05d}@{DOMAINS[self.number % len(DOMAINS)]}"

    @property
    def message_id(self) -> str:
        return f"bench.{SEED}.{self.number:05d}@{DOMAINS[self.number % len(DOMAINS)]}"

    def subject(self, choices: Sequence[str]) -> str:
        return f"{self.rng.choice(choices)} #{self.number}"

    def head(self, subject: str, content_type: str, name: str = "", extra: str = "") -> bytes:
        name = name or formataddr_ascii(self.rng.choice(EN_NAMES))
        fields = (
            f"From: {name} <{self.sender}>\r\nTo: Security <{SECURITY}>\r\n"
            f"Subject: {subject}\r\nDate: {formatdate(1717200000 + 37 * self.number)}\r\n"
            f"Message-ID: <{self.message_id}>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: {content_type}\r\n{extra}\r\n"
        )
        return fields.encode("ascii")

    def mail(self, kind: str, subject: str, snippet: str, files: int, raw: bytes) -> Mail:
        return Mail(kind, self.sender, self.message_id, subject, snippet, files, raw)


def formataddr_ascii(name: str) -> str:
    return f'"{name}"'


def _words(text: str, charset: str) -> str:
    """RFC 2047 encoded words, 8 characters each (each a whole ISO-2022-JP sequence)."""
    chunks = (text[i : i + 8].encode(charset) for i in range(0, len(text), 8))
    return "\r\n ".join(f"=?{charset}?B?{base64.b64encode(c).decode()}?=" for c in chunks)


def _lines(rng: random.Random, sentences: Sequence[str], size: int, codec: str) -> list[str]:
    """Lines of sentences until their encoded size reaches ``size`` (at least one line)."""
    joiner = "" if sentences is JA else " "
    lines: list[str] = []
    total = 0
    while total < size or not lines:
        line = joiner.join(rng.choice(sentences) for _ in range(rng.randint(1, 3)))
        lines.append(line)
        total += len(line.encode(codec)) + 2
    return lines


def _crlf(lines: Sequence[str], codec: str = "utf-8") -> bytes:
    return b"".join(line.encode(codec) + b"\r\n" for line in lines)


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _part(content_type: str, data: bytes, filename: str = "") -> bytes:
    head = f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n"
    if filename:
        head += f'Content-Disposition: attachment; filename="{filename}"\r\n'
    return head.encode("ascii") + b"\r\n" + _b64(data)


def _multipart(boundary: str, parts: Sequence[bytes]) -> bytes:
    body = b"This is a multi-part message in MIME format.\r\n"
    for part in parts:
        body += f"--{boundary}\r\n".encode() + part + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def _png(rng: random.Random) -> bytes:
    side = rng.randint(12, 40)
    rows = b"".join(b"\0" + rng.randbytes(side * 3) for _ in range(side))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))


def _zip(rng: random.Random) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("poc/exploit.py", "poc/README.txt", "poc/capture.hex"):
            info = zipfile.ZipInfo(name, date_time=(2024, 6, 1, 12, 0, 0))
            text = "\n".join(rng.randbytes(24).hex() for _ in range(rng.randint(20, 60)))
            archive.writestr(info, text.encode(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _attachments(draft: Draft, kind: str = "attachments") -> Mail:
    rng = draft.rng
    chosen = rng.sample(["log", "png", "zip"], rng.randint(1, 3))
    files = {"png": ("image/png", "screenshot.png", _png(rng)), "zip": ("", "", b"")}
    files["zip"] = ("application/zip", "poc.zip", _zip(rng))
    room = max(512, draft.size - sum(len(files[k][2]) for k in chosen if k != "log"))
    text = _lines(rng, EN, room // 4 if "log" in chosen else room, "ascii")
    log = "\n".join(_lines(rng, EN, room, "ascii")).encode()
    files["log"] = ("text/plain; charset=us-ascii", "server.log", log)
    parts = [_part("text/plain; charset=us-ascii", _crlf(text))]
    parts += [_part(files[k][0], files[k][2], files[k][1]) for k in chosen]
    boundary = f"=_bench_{draft.number:05d}_{rng.getrandbits(32):08x}"
    subject = draft.subject(EN_SUBJECTS)
    head = draft.head(subject, f'multipart/mixed; boundary="{boundary}"')
    return draft.mail(kind, subject, text[0], len(chosen), head + _multipart(boundary, parts))
