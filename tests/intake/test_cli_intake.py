"""The intake's commands, run in-process against the test database."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from mamori.cases.models import Case
from mamori.cli.main import cli
from mamori.intake import services
from mamori.intake.models import FeedSource, InboundMessage
from mamori.products import services as catalogue
from tests import factories, gpg_keys

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_feed_add_list_and_check(admin) -> None:
    slug = factories.product(admin, "web-console")
    catalogue.add_component(admin, slug, "pkg:pypi/django")
    code, output = run("intake", "feed", "add", "OSV mirror", str(FEEDS / "osv"), "--every", "15")
    assert code == 0, output
    assert FeedSource.objects.get().interval_minutes == 15
    assert run("intake", "feed", "add", "Again", str(FEEDS / "osv"))[0] == 73  # conflict
    code, output = run("intake", "feed", "check")
    assert code == 0, output
    assert "4 items, 4 new" in output and "MAMORI-" in output
    code, output = run("intake", "feed", "list")
    assert "OSV mirror" in output and "checked 20" in output
    assert Case.objects.count() == 1


def test_recover_processes_what_a_crash_left_stored(intake_settings, transactional_db) -> None:
    intake_settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    raw = b"From: a@example.net\r\nSubject: left behind\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n"
    services.store(raw, channel="smtp")
    intake_settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}
    }
    code, output = run("intake", "recover")
    assert code == 0, output
    assert output.strip().endswith("1 messages processed.")
    assert InboundMessage.objects.get().status == "processed"


def test_gpg_import_takes_public_keys_and_refuses_junk(settings, tmp_path: Path) -> None:
    home = tmp_path / "gnupg"
    settings.MAMORI_INTAKE = dataclasses.replace(settings.MAMORI_INTAKE, gnupg_home=home)
    try:
        with gpg_keys.identity("Reporter <r@example.net>") as reporter:
            key = tmp_path / "reporter.asc"
            key.write_bytes(reporter.public_key())
            code, output = run("intake", "gpg-import", str(key))
            assert code == 0, output
            assert f"imported {reporter.fingerprint}" in output
        junk = tmp_path / "junk.asc"
        junk.write_bytes(b"not a key")
        assert run("intake", "gpg-import", str(junk))[0] == 65
    finally:
        gpg_keys.kill_agent(home)


@pytest.mark.parametrize("command", [["intake", "imap"], ["intake", "imap", "--url", "ftp://x"]])
def test_imap_without_a_proper_mailbox_is_a_configuration_error(db, command) -> None:
    code, output = run(*command)
    assert code == 78, output
