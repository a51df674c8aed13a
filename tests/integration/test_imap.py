"""The IMAP poller against a real dovecot (tests/integration/dovecot.py), over real TLS."""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from mamori.errors import ConfigurationError
from mamori.intake.imap import (
    ImapPoller,
    ImapSettings,
    MailboxUnavailable,
    settings_from_url,
)
from tests.integration.dovecot import Dovecot

integration = pytest.mark.integration


class DictCursor:
    """The ``Cursor`` interface kept in a dict: what the database cursor keeps, minus durability."""

    def __init__(self) -> None:
        self.saved: dict[str, tuple[int, int]] = {}

    def load(self, key: str) -> tuple[int, int] | None:
        return self.saved.get(key)

    def save(self, key: str, uidvalidity: int, last_uid: int) -> None:
        self.saved[key] = (uidvalidity, last_uid)


class Refused(Exception):
    """What the test's ``deliver`` raises when told to refuse a message."""


class Store:
    """A ``deliver`` that keeps what it gets, and can be told to refuse a message once."""

    def __init__(self, refuse_once: bytes | None = None) -> None:
        self.refuse_once = refuse_once
        self._messages: list[bytes] = []
        self._lock = threading.Lock()  # run() delivers from its own thread

    def __call__(self, raw: bytes) -> None:
        if raw == self.refuse_once:
            self.refuse_once = None
            raise Refused("storage is down")
        with self._lock:
            self._messages.append(raw)

    def all(self) -> list[bytes]:
        with self._lock:
            return list(self._messages)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """What was delivered, once there are ``count`` messages or ``timeout`` has passed."""
        deadline = time.monotonic() + timeout
        while len(self.all()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.all()


def report(n: int) -> bytes:
    """A raw message with CRLFs, 8-bit text and trailing blanks, to compare byte for byte."""
    return (
        f"Message-ID: <report-{n}@reporter.example>\r\n"
        f"Subject: Vulnerability report {n}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"Überlauf in parse() \u2014 n={n}  \r\n"
    ).encode()


@pytest.fixture
def mailbox(dovecot: Dovecot) -> str:
    name = f"reports-{uuid.uuid4().hex[:12]}"
    dovecot.create_mailbox(name)
    return name


def settings_for(dovecot: Dovecot, **overrides: object) -> ImapSettings:
    settings = ImapSettings(
        host=dovecot.host,
        port=dovecot.port_imaps,
        username=dovecot.username,
        password=dovecot.password,
        ca_file=dovecot.ca_file,
        timeout=10.0,
    )
    return dataclasses.replace(settings, **overrides)


MakePoller = Callable[..., ImapPoller]


@pytest.fixture
def poller_for(dovecot: Dovecot, mailbox: str) -> Iterator[MakePoller]:
    """Makes pollers on the test's mailbox, and closes them all at the end."""
    pollers: list[ImapPoller] = []

    def make(store: Store, cursor: DictCursor, **overrides: object) -> ImapPoller:
        poller = ImapPoller(
            settings_for(dovecot, **{"mailbox": mailbox, **overrides}), store, cursor
        )
        pollers.append(poller)
        return poller

    yield make
    for poller in pollers:
        poller.close()


@integration
def test_delivers_in_uid_order_exact_bytes_once_and_leaves_flags(dovecot, mailbox, poller_for):
    uids = [dovecot.append(report(n), mailbox) for n in (1, 2, 3)]
    store, cursor = Store(), DictCursor()
    poller = poller_for(store, cursor)

    assert poller.poll_once() == 3
    assert store.all() == [report(1), report(2), report(3)]
    assert cursor.saved == {poller.key: (dovecot.uidvalidity(mailbox), uids[-1])}
    assert poller.key == f"imap:security@127.0.0.1:{dovecot.port_imaps}/{mailbox}"
    assert b"\\Seen" not in dovecot.flags(mailbox, uids[0])

    assert poller.poll_once() == 0
    assert len(store.all()) == 3


@integration
def test_new_mail_on_the_same_connection_and_after_a_restart(dovecot, mailbox, poller_for):
    dovecot.append(report(1), mailbox)
    store, cursor = Store(), DictCursor()
    first = poller_for(store, cursor)
    assert first.poll_once() == 1

    dovecot.append(report(2), mailbox)
    assert first.poll_once() == 1  # the open connection sees the new message
    first.close()

    restarted = poller_for(store, cursor)
    assert restarted.poll_once() == 0
    dovecot.append(report(3), mailbox)
    assert restarted.poll_once() == 1
    assert store.all() == [report(1), report(2), report(3)]


@integration
def test_a_failed_delivery_stops_the_poll_and_is_retried(dovecot, mailbox, poller_for):
    uids = [dovecot.append(report(n), mailbox) for n in (1, 2, 3)]
    store, cursor = Store(refuse_once=report(2)), DictCursor()
    poller = poller_for(store, cursor)

    with pytest.raises(Refused):
        poller.poll_once()
    assert store.all() == [report(1)]
    assert cursor.saved[poller.key] == (dovecot.uidvalidity(mailbox), uids[0])

    assert poller.poll_once() == 2
    assert store.all() == [report(1), report(2), report(3)]
    assert cursor.saved[poller.key][1] == uids[2]


@integration
def test_changed_uidvalidity_delivers_everything_again(dovecot, mailbox, poller_for):
    for n in (1, 2):
        dovecot.append(report(n), mailbox)
    store, cursor = Store(), DictCursor()
    poller = poller_for(store, cursor)
    assert poller.poll_once() == 2

    uidvalidity = dovecot.recreate_mailbox(mailbox)
    uids = [dovecot.append(report(n), mailbox) for n in (1, 2)]
    assert uids == [1, 2]  # the same UIDs as before: only UIDVALIDITY tells them apart

    assert poller.poll_once() == 2
    assert store.all() == [report(1), report(2), report(1), report(2)]
    assert cursor.saved[poller.key] == (uidvalidity, 2)


@integration
def test_reconnects_when_the_server_dropped_the_connection(dovecot, mailbox, poller_for):
    store = Store()
    poller = poller_for(store, DictCursor())
    assert poller.poll_once() == 0
    dovecot.kick()
    dovecot.append(report(1), mailbox)
    assert poller.poll_once() == 1


@contextmanager
def running(poller: ImapPoller) -> Iterator[threading.Thread]:
    """Runs ``poller.run`` in a thread; at exit sets ``stop`` and checks that run ends at once."""
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stopping = time.monotonic()
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - stopping < 2.5


@integration
def test_run_idles_and_delivers_new_mail_at_once_then_stops_promptly(dovecot, mailbox, poller_for):
    dovecot.append(report(1), mailbox)
    store = Store()
    poller = poller_for(store, DictCursor(), poll_seconds=3600.0)  # only IDLE can be this quick
    with running(poller):
        assert store.wait_for(1) == [report(1)]
        appended = time.monotonic()
        dovecot.append(report(2), mailbox)
        assert store.wait_for(2) == [report(1), report(2)]
        assert time.monotonic() - appended < 3


@integration
def test_run_reconnects_when_the_server_drops_it_during_idle(dovecot, mailbox, poller_for, caplog):
    dovecot.append(report(1), mailbox)
    store = Store()
    poller = poller_for(store, DictCursor(), poll_seconds=3600.0)
    with caplog.at_level(logging.WARNING, logger="mamori.intake.imap"), running(poller):
        assert store.wait_for(1) == [report(1)]
        time.sleep(0.3)  # in IDLE by now
        dovecot.kick()
        dovecot.append(report(2), mailbox)
        assert store.wait_for(2) == [report(1), report(2)]  # after a pause of one second
    assert "retrying in 1 s" in caplog.text


@integration
def test_run_polls_when_idle_is_off(dovecot, mailbox, poller_for):
    store = Store()
    poller = poller_for(store, DictCursor(), idle=False, poll_seconds=0.2)
    with running(poller):
        time.sleep(0.3)
        dovecot.append(report(1), mailbox)
        assert store.wait_for(1) == [report(1)]


@integration
def test_run_logs_a_failed_delivery_and_retries_it(dovecot, mailbox, poller_for, caplog):
    dovecot.append(report(1), mailbox)
    store = Store(refuse_once=report(1))
    poller = poller_for(store, DictCursor(), poll_seconds=3600.0)
    with caplog.at_level(logging.WARNING, logger="mamori.intake.imap"), running(poller):
        assert store.wait_for(1) == [report(1)]  # after the first pause, of one second
    [failure] = [r for r in caplog.records if r.name == "mamori.intake.imap"]
    assert failure.levelno == logging.ERROR
    assert failure.exc_info and failure.exc_info[0] is Refused


@integration
def test_run_retries_a_missing_mailbox_until_it_appears(dovecot, poller_for, caplog):
    mailbox = f"later-{uuid.uuid4().hex[:12]}"
    store = Store()
    poller = poller_for(store, DictCursor(), mailbox=mailbox, poll_seconds=3600.0)
    with pytest.raises(MailboxUnavailable):
        poller.poll_once()
    with caplog.at_level(logging.WARNING, logger="mamori.intake.imap"), running(poller) as thread:
        time.sleep(0.3)
        assert thread.is_alive()
        dovecot.create_mailbox(mailbox)
        dovecot.append(report(1), mailbox)
        assert store.wait_for(1) == [report(1)]
    assert "retrying in 1 s" in caplog.text


@integration
def test_starttls_on_the_plain_port(dovecot, mailbox, poller_for):
    dovecot.append(report(1), mailbox)
    store = Store()
    poller = poller_for(
        store, DictCursor(), host="localhost", port=dovecot.port_imap, tls="starttls"
    )
    assert poller.poll_once() == 1
    assert store.all() == [report(1)]


@integration
def test_wrong_password_is_a_configuration_error_even_for_run(dovecot, mailbox, caplog):
    password = "wrong-Secret-4711"
    poller = ImapPoller(
        settings_for(dovecot, mailbox=mailbox, password=password), Store(), DictCursor()
    )
    stop = threading.Event()
    with caplog.at_level(logging.DEBUG), ThreadPoolExecutor(1) as executor:
        future = executor.submit(poller.run, stop)
        try:
            error = future.exception(timeout=5)  # run gives up at once instead of retrying
        finally:
            stop.set()
    assert isinstance(error, ConfigurationError)
    assert "refused the login of 'security'" in error.message
    assert password not in "".join(traceback.format_exception(error))
    assert caplog.records  # IMAPClient logs the conversation at DEBUG level ...
    assert not any(password in r.getMessage() for r in caplog.records)  # ... but not the password


@integration
def test_temporary_login_failure_is_worth_retrying(dovecot, mailbox):
    settings = settings_for(dovecot, mailbox=mailbox, username=dovecot.unavailable_user)
    with pytest.raises(MailboxUnavailable, match="UNAVAILABLE"):
        ImapPoller(settings, Store(), DictCursor()).poll_once()


@integration
def test_untrusted_certificate_is_a_configuration_error(dovecot, mailbox):
    poller = ImapPoller(settings_for(dovecot, mailbox=mailbox, ca_file=None), Store(), DictCursor())
    with pytest.raises(ConfigurationError, match="not trusted"):
        poller.poll_once()


@integration
def test_imaps_against_the_plain_port_is_unavailable(dovecot, mailbox):
    poller = ImapPoller(
        settings_for(dovecot, mailbox=mailbox, port=dovecot.port_imap), Store(), DictCursor()
    )
    with pytest.raises(MailboxUnavailable):
        poller.poll_once()


def test_unreachable_server_is_unavailable(closed_port: int) -> None:
    settings = ImapSettings("127.0.0.1", closed_port, "u", "p", timeout=2.0)
    with pytest.raises(MailboxUnavailable, match=r"127\.0\.0\.1"):
        ImapPoller(settings, Store(), DictCursor()).poll_once()


def test_missing_ca_file_is_a_configuration_error(tmp_path) -> None:
    settings = ImapSettings("127.0.0.1", 993, "u", "p", ca_file=str(tmp_path / "none.pem"))
    with pytest.raises(ConfigurationError, match="CA file"):
        ImapPoller(settings, Store(), DictCursor())


@pytest.fixture
def closed_port() -> int:
    """A port on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_settings_from_url_decodes_user_password_and_mailbox() -> None:
    settings = settings_from_url(
        "imaps://psirt%40example.org:p%40ss%2Fw%3Ard@mail.example.org/Security%20Reports",
        ca_file="/etc/mamori/ca.pem",
        poll_seconds=30,
    )
    assert settings == ImapSettings(
        host="mail.example.org",
        port=993,
        username="psirt@example.org",
        password="p@ss/w:rd",
        mailbox="Security Reports",
        tls="imaps",
        ca_file="/etc/mamori/ca.pem",
        poll_seconds=30,
    )
    assert "p@ss" not in repr(settings)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("imaps://u:p@imap.example:10993", ("imap.example", 10993, "imaps", "INBOX")),
        ("imap://u:p@imap.example/Reports?starttls", ("imap.example", 143, "starttls", "Reports")),
        ("imap://u:p@[::1]:1143/?starttls=1", ("::1", 1143, "starttls", "INBOX")),
    ],
)
def test_settings_from_url_forms(url: str, expected: tuple[object, ...]) -> None:
    settings = settings_from_url(url)
    assert (settings.host, settings.port, settings.tls, settings.mailbox) == expected


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("imap://u:SECRETPW@imap.example/INBOX", "unencrypted"),
        ("imap://u:SECRETPW@imap.example/INBOX?starttls=no", "unencrypted"),
        ("imaps://u:SECRETPW@imap.example/INBOX?starttls", "expected imaps://"),
        ("https://u:SECRETPW@imap.example/", "expected imaps://"),
        ("imaps://imap.example/INBOX", "user and password"),
        ("imaps://:SECRETPW@imap.example/INBOX", "user and password"),
        ("imaps://u@imap.example/INBOX", "user and password"),
        ("imaps://u:SECRETPW@imap.example:99999/", "port"),
        ("imaps://u:SECRETPW@imap.example:0/", "port"),
        ("imaps://u:SECRETPW@imap.example:SECRETPW/", "port"),
        ("imaps://u:SECRET#PW@imap.example/", "percent-encode"),
        ("imaps://u:SECRET/PW@imap.example/", "percent-encode"),
        ("imaps://u:SECRETPW@/INBOX", "no host"),
        ("imaps://u:@imap.example/INBOX", "no password"),
    ],
)
def test_settings_from_url_refuses_and_never_repeats_the_password(url: str, complaint: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        settings_from_url(url)
    assert complaint in raised.value.message
    assert "SECRET" not in "".join(traceback.format_exception(raised.value))


def test_settings_are_checked_and_keep_the_password_out_of_reprs() -> None:
    with pytest.raises(ConfigurationError, match="poll_seconds"):
        ImapSettings("imap.example", 993, "u", "SECRETPW", poll_seconds=0)
    settings = ImapSettings("imap.example", 993, "u", "SECRETPW")
    poller = ImapPoller(settings, Store(), DictCursor())
    assert "SECRETPW" not in repr(settings) + repr(poller) + poller.key
