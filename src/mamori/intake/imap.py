"""IMAP intake: fetch the reports from a security mailbox that lives on another server.

``ImapPoller`` logs in over TLS (IMAPS, or STARTTLS; never in the clear, and always verifying the
server's certificate), opens the mailbox read-only and hands every message with a UID above its
cursor to ``deliver`` as raw bytes, exactly as stored. ``run()`` then waits for news with IDLE when
the server offers it, or sleeps between polls otherwise.

Idempotence across restarts rests on two things: the ``Cursor`` (UIDVALIDITY, last delivered UID),
saved after each message that ``deliver`` accepted, and ``deliver`` itself, which stores a message
durably and is idempotent by Message-ID. A message is therefore delivered at least once, and a
repeat is harmless. That is also why a changed UIDVALIDITY (the mailbox was recreated, or its UIDs
renumbered) simply starts again from UID 0: everything is re-delivered and the duplicates fall
away in ``deliver``.

Library exceptions are translated here: ``ConfigurationError`` when retrying is pointless (login
refused, certificate not trusted, no STARTTLS), ``MailboxUnavailable`` for connection problems.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from mamori.errors import ConfigurationError, Error

log = logging.getLogger("mamori.intake.imap")

IDLE_SECONDS = 300.0  # re-poll and re-issue IDLE this often, well before the 29-minute limit
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0
DEFAULT_PORTS = {"imaps": 993, "starttls": 143}
ENCODE_HINT = "percent-encode any of @ : / ? # in the user, password or mailbox (@ is %40)"


class MailboxUnavailable(Error):
    """The IMAP server cannot be reached or the connection broke; worth retrying later."""

    code = "mailbox_unavailable"


@dataclass(frozen=True)
class ImapSettings:
    """Where the mailbox is and how to reach it. The password never appears in the repr."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    mailbox: str = "INBOX"
    tls: Literal["imaps", "starttls"] = "imaps"
    ca_file: str | None = None  # an extra trust anchor; certificates are verified regardless
    idle: bool = True
    poll_seconds: float = 60.0
    timeout: float = 30.0

    def __post_init__(self) -> None:
        problems = [
            "no host" if not self.host else "",
            "port must be between 1 and 65535" if not 0 < self.port < 65536 else "",
            "no username" if not self.username else "",
            "no password" if not self.password else "",
            "no mailbox" if not self.mailbox else "",
            "tls must be 'imaps' or 'starttls'" if self.tls not in DEFAULT_PORTS else "",
            "poll_seconds must be positive" if not self.poll_seconds > 0 else "",
            "timeout must be positive" if not self.timeout > 0 else "",
        ]
        if any(problems):
            raise ConfigurationError("IMAP intake: " + "; ".join(p for p in problems if p))


def settings_from_url(
    url: str, *, ca_file: str | None = None, poll_seconds: float = 60.0
) -> ImapSettings:
    """Parse ``imaps://user:password@host[:993]/MAILBOX`` or ``imap://...[:143]/MAILBOX?starttls``.

    User, password and mailbox are percent-decoded (write ``@`` as ``%40``, ``/`` as ``%2F``); the
    mailbox defaults to INBOX. Plain IMAP without STARTTLS is refused: it would send the password
    in the clear. Error messages never quote the URL, which holds the password.
    """
    parts = urlsplit(url.strip())
    if parts.fragment:
        raise ConfigurationError(f"IMAP intake URL: unexpected '#'; {ENCODE_HINT}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.scheme == "imaps" and not query:
        tls: Literal["imaps", "starttls"] = "imaps"
    elif parts.scheme == "imap" and query in ([("starttls", "")], [("starttls", "1")]):
        tls = "starttls"
    elif parts.scheme == "imap":
        raise ConfigurationError(
            "IMAP intake URL: plain imap:// would send the password unencrypted; "
            "use imaps://... or imap://...?starttls"
        )
    else:
        raise ConfigurationError(
            "IMAP intake URL: expected imaps://user:password@host[:port]/mailbox "
            "or imap://user:password@host[:port]/mailbox?starttls"
        )
    try:
        port = DEFAULT_PORTS[tls] if parts.port is None else parts.port
    except ValueError:
        # The library's message may quote part of the password; keep it out.
        raise ConfigurationError(
            f"IMAP intake URL: the port is not a number from 1 to 65535; {ENCODE_HINT}"
        ) from None
    if not parts.username or parts.password is None:
        raise ConfigurationError("IMAP intake URL: give both user and password (user:password@)")
    return ImapSettings(
        host=parts.hostname or "",
        port=port,
        username=unquote(parts.username),
        password=unquote(parts.password),
        mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
        tls=tls,
        ca_file=ca_file,
        poll_seconds=poll_seconds,
    )


class Cursor(Protocol):
    """Where a poller got to: per key, the mailbox's UIDVALIDITY and the last UID delivered."""

    def load(self, key: str) -> tuple[int, int] | None: ...

    def save(self, key: str, uidvalidity: int, last_uid: int) -> None: ...


Deliver = Callable[[bytes], object]


class ImapPoller:
    """Delivers each message of one IMAP mailbox, in UID order, and remembers where it got to.

    One thread drives a poller (``poll_once``, ``run``, ``close``); others may only set ``stop``.
    """

    def __init__(self, settings: ImapSettings, deliver: Deliver, cursor: Cursor) -> None:
        self.settings = settings
        self.key = f"imap:{settings.username}@{settings.host}:{settings.port}/{settings.mailbox}"
        self._deliver = deliver
        self._cursor = cursor
        self._tls = _tls_context(settings.ca_file)
        self._client: IMAPClient | None = None

    def __repr__(self) -> str:
        return f"<ImapPoller {self.key}>"

    def poll_once(self) -> int:
        """Deliver every message above the cursor, saving the cursor after each; return how many.

        Connects if needed (again, if the server hung up since the last poll). Messages are read
        with ``BODY.PEEK[]`` from a mailbox opened read-only, so their flags stay untouched. When
        ``deliver`` raises, the poll stops at that message, which stays above the cursor and is
        retried next time, and the exception propagates unchanged.
        """
        return self._poll(threading.Event())

    def run(self, stop: threading.Event) -> None:
        """Poll, then wait for news (IDLE, or sleep ``poll_seconds``), until ``stop`` is set.

        Connection and delivery failures are logged and retried after a pause that doubles from
        1 s to 5 min. ``ConfigurationError`` (login refused, certificate not trusted) ends the
        loop: retrying cannot fix it.
        """
        backoff = BACKOFF_FIRST
        try:
            while not stop.is_set():
                try:
                    self._poll(stop)
                    self._wait_for_news(stop)
                except ConfigurationError:
                    raise
                except MailboxUnavailable as e:
                    log.warning("%s: %s; retrying in %.0f s", self.key, e.message, backoff)
                except Exception:
                    log.exception("%s: delivery failed; retrying in %.0f s", self.key, backoff)
                else:
                    backoff = BACKOFF_FIRST
                    continue
                stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
        finally:
            self.close()

    def close(self) -> None:
        """Log out, if connected. The next poll connects again."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.logout()
            except (OSError, IMAPClientError):
                _shutdown(client)

    def _poll(self, stop: threading.Event) -> int:
        with self._imap_errors():
            client, uidvalidity = self._open_mailbox()
            uids = _uids_above(client, self._start_after(uidvalidity))
        delivered = 0
        for uid in uids:
            if stop.is_set():
                break
            with self._imap_errors():
                raw = _fetch(client, uid)
            if raw is not None:  # None: expunged since the search
                self._deliver(raw)
                delivered += 1
            self._cursor.save(self.key, uidvalidity, uid)
        if delivered:
            log.info("%s: delivered %d message(s)", self.key, delivered)
        return delivered

    def _start_after(self, uidvalidity: int) -> int:
        saved = self._cursor.load(self.key)
        if saved is None:
            return 0
        if saved[0] != uidvalidity:
            log.warning(
                "%s: UIDVALIDITY changed from %d to %d; delivering the whole mailbox again",
                self.key,
                saved[0],
                uidvalidity,
            )
            return 0
        return saved[1]

    def _open_mailbox(self) -> tuple[IMAPClient, int]:
        """(connection, UIDVALIDITY) with the mailbox freshly examined, which also syncs it."""
        if self._client is not None:
            try:
                return self._client, self._examine(self._client)
            except (OSError, IMAPClientAbortError) as e:
                log.info("%s: connection lost (%s); reconnecting", self.key, e)
                self._drop()
        self._client = self._connect()
        return self._client, self._examine(self._client)

    def _examine(self, client: IMAPClient) -> int:
        info = client.select_folder(self.settings.mailbox, readonly=True)
        if b"UIDVALIDITY" not in info:
            raise MailboxUnavailable(f"{self.key}: the server reported no UIDVALIDITY")
        return int(info[b"UIDVALIDITY"])

    def _connect(self) -> IMAPClient:
        s = self.settings
        client = IMAPClient(
            s.host, s.port, ssl=s.tls == "imaps", ssl_context=self._tls, timeout=s.timeout
        )
        try:
            if s.tls == "starttls":
                if not client.has_capability("STARTTLS"):
                    raise ConfigurationError(
                        f"IMAP server {s.host}:{s.port} does not offer STARTTLS; "
                        "refusing to send the password unencrypted"
                    )
                client.starttls(self._tls)
            client.login(s.username, s.password)
        except BaseException:
            _shutdown(client)
            raise
        log.info("%s: logged in", self.key)
        return client

    def _wait_for_news(self, stop: threading.Event) -> None:
        with self._imap_errors():
            client = self._client
            if client is not None and self.settings.idle and client.has_capability("IDLE"):
                _idle(client, stop)
                return
        stop.wait(self.settings.poll_seconds)

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _shutdown(client)

    @contextmanager
    def _imap_errors(self) -> Iterator[None]:
        """Translate the exceptions of IMAPClient, ssl and sockets; drop the connection on any."""
        where = f"IMAP server {self.settings.host}:{self.settings.port}"
        try:
            yield
        except LoginError as e:
            self._drop()
            if "[UNAVAILABLE]" in str(e):  # RFC 5530: the server cannot check passwords now
                raise MailboxUnavailable(f"{where} cannot log in now: {e}") from e
            raise ConfigurationError(
                f"{where} refused the login of {self.settings.username!r}: "
                "check the username and password"
            ) from e
        except ssl.SSLCertVerificationError as e:
            self._drop()
            raise ConfigurationError(
                f"{where} presented a certificate that is not trusted ({e.verify_message}); "
                "if it is signed by a private CA, set ca_file"
            ) from e
        except (OSError, IMAPClientError) as e:
            self._drop()
            raise MailboxUnavailable(f"{where}: {e}") from e


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's trust anchors plus ``ca_file``; hostnames and certificates always checked."""
    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except OSError as e:  # ssl.SSLError is an OSError too
            raise ConfigurationError(f"IMAP intake: cannot use the CA file {ca_file}: {e}") from e
    return context


def _uids_above(client: IMAPClient, after: int) -> list[int]:
    # "n:*" always matches the highest UID, even when that is below n: filter.
    return sorted(uid for uid in client.search(["UID", f"{after + 1}:*"]) if uid > after)


def _fetch(client: IMAPClient, uid: int) -> bytes | None:
    body = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]")
    return body if isinstance(body, bytes) else None


def _idle(client: IMAPClient, stop: threading.Event) -> None:
    """IDLE until the server reports a new message or hangs up, IDLE_SECONDS pass, or ``stop``."""
    client.idle()
    deadline = time.monotonic() + IDLE_SECONDS
    while not stop.is_set() and time.monotonic() < deadline:
        started = time.monotonic()
        responses = client.idle_check(timeout=1.0)
        if any(r[1:2] == (b"EXISTS",) or r[:1] == (b"BYE",) for r in responses):
            break
        if not responses and time.monotonic() - started < 0.5:
            break  # readable, yet no line: end of file; idle_done() will raise
    client.idle_done()


def _shutdown(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except (OSError, IMAPClientError):
        log.debug("closing an IMAP connection that was already broken", exc_info=True)
