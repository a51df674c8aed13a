"""The long-running processes: the worker, the SMTP listener, the IMAP poller, and `mamori run`.

Each runs in the foreground until SIGINT or SIGTERM. ``mamori run`` starts the ones one machine
needs as child processes and stops them all when one of them ends or it is asked to stop.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import BinaryIO

import click

from mamori import errors
from mamori.cli.main import _migrate, cli, handles_errors, setup_django, web_address

log = logging.getLogger("mamori")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


@cli.command()
@click.option(
    "--once", is_flag=True, help="Run the tasks waiting now and the clock once, then exit."
)
@click.option(
    "--interval", type=float, default=0.5, show_default=True, help="Seconds between polls."
)
@handles_errors
def worker(once: bool, interval: float) -> None:
    """Run background tasks (mail processing, receipts) and the periodic jobs (feeds, retries)."""
    os.environ.setdefault("MAMORI_DB_CONN_MAX_AGE", "300")  # one process, many tasks
    setup_django()
    from django_tasks_db.management.commands.db_worker import Worker

    from mamori import clock

    stop = threading.Event()
    tasks = Worker(
        queue_names=["*"],
        interval=interval,
        batch=once,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=f"mamori-{os.getpid()}",
        excluded_queue_names=[],
    )
    if once:
        tasks.run()
        for job in clock.JOBS:
            job.run()
        return
    ticking = threading.Thread(target=clock.run, args=(stop,), name="clock", daemon=True)
    ticking.start()
    tasks.configure_signals()
    try:
        tasks.run()
    finally:
        stop.set()
        ticking.join(timeout=5)


@cli.group()
def intake() -> None:
    """Receiving reports: the SMTP listener, the IMAP poller, public sources, OpenPGP keys."""


@intake.command("smtp")
@click.option("--host", default=None, help="Default: MAMORI_SMTP_HOST (127.0.0.1).")
@click.option("--port", type=int, default=None, help="Default: MAMORI_SMTP_PORT (2525).")
@handles_errors
def intake_smtp(host: str | None, port: int | None) -> None:
    """Receive mail for the security addresses (MAMORI_SECURITY_ADDRESSES) over SMTP."""
    setup_django()
    from django.conf import settings

    from mamori.intake import smtp

    intake_settings = settings.MAMORI_INTAKE
    stop = _stop_on_signals()
    click.echo(
        f"SMTP listener on {host or intake_settings.smtp_host}:"
        f"{port or intake_settings.smtp_port} for "
        + ", ".join(a.address for a in intake_settings.addresses)
    )
    smtp.serve(host or "", port or 0, stop.wait)


@intake.command("imap")
@click.option("--url", default=None, help="Default: MAMORI_IMAP_URL (imaps://user:pw@host/INBOX).")
@handles_errors
def intake_imap(url: str | None) -> None:
    """Poll the security mailbox on another server (IMAPS; IDLE where the server has it)."""
    setup_django()
    from django.conf import settings

    from mamori.intake import imap, services

    intake_settings = settings.MAMORI_INTAKE
    url = url or intake_settings.imap_url
    if not url:
        raise errors.ConfigurationError("no mailbox configured: set MAMORI_IMAP_URL or --url")
    mailbox = imap.settings_from_url(
        url,
        ca_file=intake_settings.imap_ca_file or None,
        poll_seconds=float(intake_settings.imap_poll_seconds),
    )
    key = f"imap:{mailbox.username}@{mailbox.host}:{mailbox.port}/{mailbox.mailbox}"
    poller = imap.ImapPoller(mailbox, services.imap_delivery(key), services.DatabaseCursor())
    stop = _stop_on_signals()
    click.echo(f"Polling {poller.key}")
    try:
        poller.run(stop)
    finally:
        poller.close()


@intake.command("recover")
@handles_errors
def intake_recover() -> None:
    """Process messages that were stored but not processed (after a crash)."""
    setup_django()
    from mamori.intake import services

    click.echo(f"{services.recover()} messages processed.")


@intake.command("gpg-import")
@click.argument("keyfile", type=click.File("rb"))
@handles_errors
def intake_gpg_import(keyfile: BinaryIO) -> None:
    """Import reporters' public keys into the team's keyring (to verify their signatures).

    The team's own secret key is imported with gpg itself:
    gpg --homedir "$MAMORI_GNUPG_HOME" --import team-secret.asc
    """
    setup_django()
    from django.conf import settings

    from mamori.intake.gpg import GnuPG

    keyring = GnuPG(
        settings.MAMORI_INTAKE.gnupg_home,
        passphrase=settings.MAMORI_INTAKE.gpg_passphrase or None,
    )
    for fingerprint in keyring.import_keys(keyfile.read()):
        click.echo(f"imported {fingerprint}")


@intake.group("feed")
def feed() -> None:
    """Public sources watched for reports about catalogued products (RSS/Atom, OSV)."""


@feed.command("add")
@click.argument("name")
@click.argument("location")
@click.option("--every", "interval", type=int, default=60, show_default=True, help="Minutes.")
@handles_errors
def feed_add(name: str, location: str, interval: int) -> None:
    """Watch LOCATION: an http(s) RSS/Atom feed or OSV record, a file, or an OSV directory."""
    setup_django()
    from mamori.intake import monitoring

    source = monitoring.add_source(None, name, location, interval)
    click.echo(f"Watching {source.location} every {source.interval_minutes} minutes.")


@feed.command("list")
@handles_errors
def feed_list() -> None:
    """The watched sources, when each was last read, and its last error."""
    setup_django()
    from mamori.intake import monitoring

    for source in monitoring.list_sources(None):
        checked = f"{source.last_checked_at:%Y-%m-%d %H:%M}" if source.last_checked_at else "never"
        click.echo(f"{source.name}\t{source.location}\tchecked {checked}\t{source.last_error}")


@feed.command("check")
@handles_errors
def feed_check() -> None:
    """Read every enabled source now."""
    setup_django()
    from mamori.intake import monitoring

    for result in monitoring.check_all():
        opened = ", ".join(result.cases) or "no case"
        click.echo(f"{result.source}: {result.items} items, {result.new} new, {opened}")
        if result.error:
            click.echo(f"{result.source}: {result.error}", err=True)


@cli.command()
@handles_errors
def sla() -> None:
    """List the cases whose first response to the reporter is overdue."""
    setup_django()
    from mamori.cases import receiving

    overdue = receiving.overdue_cases()
    for case in overdue:
        click.echo(
            f"{case.tracking_id}\tdue {case.first_response_due_at:%Y-%m-%d %H:%M %Z}\t"
            f"{case.state}\t{case.title}"
        )
    click.echo(f"{len(overdue)} cases overdue.", err=True)


def _children(host: str, port: int) -> list[list[str]]:
    from django.conf import settings

    me = [sys.executable, "-m", "mamori.cli"]
    children = [
        [*me, "serve", "--host", host, "--port", str(port)],
        [*me, "worker"],
        [*me, "intake", "smtp"],
    ]
    if settings.MAMORI_INTAKE.imap_url:
        children.append([*me, "intake", "imap"])
    return children


@cli.command()
@web_address
@handles_errors
def run(host: str, port: int) -> None:
    """Everything one machine needs, in the foreground: migrate, then the web server, the
    worker, the SMTP listener and (with MAMORI_IMAP_URL) the IMAP poller."""
    setup_django()
    _migrate(verbosity=0)
    stop = _stop_on_signals()
    commands = _children(host, port)
    running = [subprocess.Popen(command) for command in commands]
    try:
        while not stop.is_set() and all(child.poll() is None for child in running):
            time.sleep(0.5)
    finally:
        for child in running:
            if child.poll() is None:
                child.terminate()
        for child in running:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
    failed = [
        " ".join(command[3:5])
        for command, child in zip(commands, running, strict=True)
        if child.returncode not in (0, -signal.SIGTERM)
    ]
    if failed and not stop.is_set():
        raise errors.Error(f"mamori {failed[0]} stopped; everything else was stopped too")
