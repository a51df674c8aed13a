"""The Japanese catalog: complete, not fuzzy, covering every string, and compiled as committed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polib
import pytest
from django.core.management import call_command
from django.utils import translation

import mamori

PACKAGE = Path(mamori.__file__).parent
PO = PACKAGE / "locale" / "ja" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]|%[sd]")


def _key(entry: polib.POEntry | polib.MOEntry) -> tuple[str, str]:
    return (entry.msgctxt or "", entry.msgid)


def _translation(entry: polib.POEntry | polib.MOEntry) -> object:
    if entry.msgid_plural:
        return tuple(entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural))
    return entry.msgstr


@pytest.fixture(scope="module")
def catalog() -> polib.POFile:
    return polib.pofile(str(PO))


def test_the_catalog_is_japanese_and_complete(catalog: polib.POFile) -> None:
    assert catalog.metadata["Language"] == "ja"
    assert catalog.metadata["Plural-Forms"] == "nplurals=1; plural=0;"
    assert not catalog.metadata_is_fuzzy
    assert [e.msgid for e in catalog.untranslated_entries()] == []
    assert [e.msgid for e in catalog.fuzzy_entries()] == []
    assert len(catalog.translated_entries()) > 50


def test_translations_keep_their_placeholders(catalog: polib.POFile) -> None:
    for entry in catalog.translated_entries():
        wanted = sorted(PLACEHOLDER.findall(entry.msgid))
        for text in [entry.msgstr] if not entry.msgid_plural else entry.msgstr_plural.values():
            assert sorted(PLACEHOLDER.findall(text)) == wanted, entry.msgid
        assert entry.msgid.endswith("\n") == entry.msgstr.endswith("\n") or entry.msgid_plural


def test_every_marked_string_is_in_the_catalog(catalog, tmp_path, settings, monkeypatch) -> None:
    """Extract the strings afresh from a copy of the package, as ``makemessages`` would."""
    copy = tmp_path / "mamori"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("locale", "static", "__pycache__"))
    (copy / "locale").mkdir()
    settings.LOCALE_PATHS = [str(copy / "locale")]
    monkeypatch.chdir(copy)
    call_command("makemessages", locale=["ja"], verbosity=0)
    fresh = polib.pofile(str(copy / "locale" / "ja" / "LC_MESSAGES" / "django.po"))
    marked = {_key(e) for e in fresh if not e.obsolete}
    assert ("", "Send report") in marked  # the intake templates
    assert ("", "[%(id)s] We have received your report") in marked  # the receipt
    assert ("", "Triage queue") in marked  # base.html
    known = {_key(e) for e in catalog if not e.obsolete}
    assert sorted(marked - known) == []


def test_the_committed_mo_matches_the_po(catalog: polib.POFile) -> None:
    compiled = {_key(e): _translation(e) for e in polib.mofile(str(MO)) if e.msgid}
    assert compiled == {_key(e): _translation(e) for e in catalog.translated_entries()}


def test_django_serves_the_catalog() -> None:
    with translation.override("ja"):
        assert translation.gettext("Send report") == "報告を送信"
        assert translation.gettext("Under investigation") == "調査中"
    with translation.override("en"):
        assert translation.gettext("Send report") == "Send report"
