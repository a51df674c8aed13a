"""Intake fixtures: a real SMTP sink for outgoing mail, the listener on a free port, settings."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mamori.config import OutgoingMail, SecurityAddress

SECURITY = "security@example.org"
SECURITY_JA = "security-ja@example.org"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Sink:
    """A real SMTP server that keeps what it receives (the reporter's mail server)."""

    def __init__(self) -> None:
        self.received: list[tuple[Envelope, Message]] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self.arrived:
            self.received.append((envelope, message_from_bytes(content)))
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.received) < count and time.monotonic() < deadline:
                self.arrived.wait(deadline - time.monotonic())
            return [message for _envelope, message in self.received]


@pytest.fixture
def sink() -> Iterator[Sink]:
    handler = Sink()
    server = Controller(handler, hostname="127.0.0.1", port=free_port())
    server.start()
    handler.port = server.port  # type: ignore[attr-defined]
    yield handler
    server.stop()


@pytest.fixture
def intake_settings(settings, sink: Sink, tmp_path: Path):
    """Security addresses of example.org, receipts through the sink, small limits."""
    settings.MAMORI_INTAKE = dataclasses.replace(
        settings.MAMORI_INTAKE,
        addresses=(SecurityAddress(SECURITY), SecurityAddress(SECURITY_JA, "ja")),
        outgoing=OutgoingMail("127.0.0.1", sink.port),  # type: ignore[attr-defined]
        mail_from=SECURITY,
        public_url="https://mamori.example.org",
        gnupg_home=tmp_path / "no-keyring",
        max_message_bytes=2 * 1024 * 1024,
    )
    # pytest-django swaps in the in-memory backend; the intake talks to a real server.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = sink.port  # type: ignore[attr-defined]
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.MAMORI_MAX_ATTACHMENT_BYTES = 256 * 1024
    return settings


@pytest.fixture
def listener(intake_settings, transactional_db: None) -> Iterator[tuple[str, int]]:
    """The SMTP listener of the security mailbox, on a free port."""
    from mamori.intake import smtp

    running = smtp.controller("127.0.0.1", free_port())
    running.start()
    yield running.hostname, running.port
    running.stop()
