"""KEV and EPSS imports: real-format files, idempotence, refusals that keep the raw file,
fetching over HTTP, the schedule and the command line."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.utils import timezone

from mamori.assessment import imports
from mamori.assessment.models import EpssScore, KevEntry, ThreatImport
from mamori.cases.models import AuditEntry
from mamori.cli.main import cli
from mamori.core.authz import Role
from mamori.errors import InvalidInput, PermissionDenied
from tests import factories
from tests.assessment.conftest import EPSS_DIR, KEV_FILE, epss_file

KEV = json.loads(KEV_FILE.read_bytes())


def _raw(record: ThreatImport) -> bytes:
    with record.raw.open("rb") as handle:
        return handle.read()


def _due_before_added() -> set[str]:
    return {v["cveID"] for v in KEV["vulnerabilities"] if v["dueDate"] < v["dateAdded"]}


@pytest.mark.django_db
def test_the_real_kev_catalog_imports_and_flags_due_dates_before_added(admin) -> None:
    result = imports.import_kev(admin, KEV_FILE.read_bytes(), "snapshot")
    assert (result.new, result.entries, result.version) == (True, KEV["count"], "2025.08.25")
    assert KevEntry.objects.count() == KEV["count"]
    flagged = set(KevEntry.objects.filter(due_before_added=True).values_list("cve_id", flat=True))
    assert flagged == _due_before_added() and flagged
    assert f"{len(flagged)} with a due date before the date added" in result.message
    assert _raw(ThreatImport.objects.get()) == KEV_FILE.read_bytes()  # kept as it arrived


@pytest.mark.django_db
def test_importing_the_same_file_twice_changes_nothing(admin) -> None:
    tid = factories.case(admin, "Log4Shell in portal")
    from mamori.assessment import services

    services.update_rating(admin, tid, services.RatingChanges(cves=("CVE-2021-44228",)))
    imports.import_kev(admin, KEV_FILE.read_bytes(), "first")
    audit = AuditEntry.objects.count()
    again = imports.import_kev(admin, KEV_FILE.read_bytes(), "second")
    assert not again.new and "already imported" in again.message
    assert (ThreatImport.objects.count(), AuditEntry.objects.count()) == (1, audit)

    epss = (EPSS_DIR / "epss_scores-2023-03-07.csv.gz").read_bytes()
    first = imports.import_epss(admin, epss, "first")
    rows = list(EpssScore.objects.values())
    second = imports.import_epss(admin, epss, "second")
    assert first.new and not second.new
    assert list(EpssScore.objects.values()) == rows


@pytest.mark.django_db
def test_the_same_catalog_in_another_file_changes_no_case_again(admin) -> None:
    """A new catalog version with the same entries re-derives nothing: only changes are audited."""
    tid = factories.case(admin, "Log4Shell in portal")
    from mamori.assessment import services

    services.update_rating(admin, tid, services.RatingChanges(cves=("CVE-2021-44228",)))
    imports.import_kev(admin, KEV_FILE.read_bytes(), "first")
    audit = AuditEntry.objects.count()
    reformatted = json.dumps({**KEV, "catalogVersion": "2025.08.26"}, indent=1).encode()
    result = imports.import_kev(admin, reformatted, "next day")
    assert result.new and result.cases_changed == ()
    assert AuditEntry.objects.count() == audit


BAD_KEV = [
    pytest.param(b"", id="empty"),
    pytest.param(b"\xff\xfe{}", id="not-utf8"),
    pytest.param(b"<html>Service unavailable</html>", id="not-json"),
    pytest.param(json.dumps({**KEV, "vulnerabilities": {"a": 1}}).encode(), id="not-a-list"),
    pytest.param(
        json.dumps({**KEV, "vulnerabilities": [{"vendorProject": "x"}]}).encode(), id="no-cve"
    ),
    pytest.param(
        json.dumps(
            {**KEV, "vulnerabilities": [{**KEV["vulnerabilities"][0], "dateAdded": "yesterday"}]}
        ).encode(),
        id="bad-date",
    ),
    pytest.param(
        json.dumps(
            {**KEV, "vulnerabilities": [KEV["vulnerabilities"][0]] * 2, "count": 2}
        ).encode(),
        id="duplicate",
    ),
    pytest.param(json.dumps([1, 2, 3]).encode(), id="array"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("data", BAD_KEV)
def test_a_kev_file_of_an_unexpected_shape_is_refused_and_kept(admin, data: bytes) -> None:
    with pytest.raises(InvalidInput) as refused:
        imports.import_kev(admin, data, "broken download")
    assert refused.value.message
    assert KevEntry.objects.count() == 0
    record = ThreatImport.objects.get()
    assert record.outcome.startswith("refused: ")
    assert _raw(record) == data  # the raw input is kept for diagnosis
    with pytest.raises(InvalidInput) as again:  # and refused again, for the same reason
        imports.import_kev(admin, data, "broken download")
    assert again.value.message == refused.value.message


BAD_EPSS = [
    pytest.param((EPSS_DIR / "epss_scores-2021-10-01.csv").read_bytes(), "model", id="no-model"),
    pytest.param(b"#model_version:v2025.03.14,score_date:2025-03-17\nid,score\n", "", id="header"),
    pytest.param(
        b"#model_version:v2025.03.14,score_date:2025-03-17\ncve,epss,percentile\nCVE-1,2,0.5\n",
        "",
        id="bad-row",
    ),
    pytest.param(b"\x1f\x8b\x08\x00garbage", "", id="truncated-gzip"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("data", "says"), BAD_EPSS)
def test_a_bad_epss_file_is_refused_and_kept(admin, data: bytes, says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        imports.import_epss(admin, data, "bad")
    assert says in refused.value.message
    assert EpssScore.objects.count() == 0
    assert ThreatImport.objects.get().outcome.startswith("refused: ")


@pytest.mark.django_db
def test_an_older_file_of_the_same_model_replaces_nothing(admin) -> None:
    cve = "CVE-2024-44444"
    imports.import_epss(admin, epss_file([(cve, 0.3, 0.9)], day="2025-03-18"), "newer")
    older = imports.import_epss(admin, epss_file([(cve, 0.01, 0.1)], day="2025-03-17"), "older")
    assert "not newer" in older.message
    assert EpssScore.objects.get(cve_id=cve).probability == 0.3


@pytest.mark.django_db
def test_only_analysts_and_administrators_import(admin) -> None:
    for role in (Role.AUDITOR, Role.PRODUCT_ENGINEER, Role.RELEASE_MANAGER, Role.REPORTER):
        with pytest.raises(PermissionDenied):
            imports.import_kev(factories.user(role), KEV_FILE.read_bytes(), "x")
    assert ThreatImport.objects.count() == 0
    imports.import_kev(factories.user(Role.ANALYST), KEV_FILE.read_bytes(), "x")
    assert ThreatImport.objects.count() == 1


# Over HTTP, on a schedule, from the command line ------------------------------------------


@pytest.fixture
def feed_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server serving ``tmp_path``."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object) -> None:
            super().__init__(*args, directory=str(tmp_path))  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    class Quiet(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass

    server = Quiet(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=True)
def test_the_schedule_fetches_each_feed_when_due(admin, feed_server, settings) -> None:
    base, root = feed_server
    (root / "kev.json").write_bytes(KEV_FILE.read_bytes())
    (root / "epss.csv.gz").write_bytes((EPSS_DIR / "epss_scores-2025-03-17.csv.gz").read_bytes())
    settings.MAMORI_THREAT_FEEDS = replace(
        settings.MAMORI_THREAT_FEEDS,
        kev_url=f"{base}/kev.json",
        epss_url=f"{base}/epss.csv.gz",
        import_hours=24,
    )
    done = imports.import_due()
    assert len(done) == 2
    assert KevEntry.objects.count() == KEV["count"] and EpssScore.objects.count() == 5
    assert imports.import_due() == []  # not due again for a day
    later = timezone.now() + timedelta(hours=25)
    again = imports.import_due(now=later)
    assert len(again) == 2 and all("already imported" in m for m in again)
    assert ThreatImport.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_feed_that_is_down_is_logged_and_changes_nothing(admin, feed_server, settings, caplog):
    base, _root = feed_server
    settings.MAMORI_THREAT_FEEDS = replace(
        settings.MAMORI_THREAT_FEEDS, kev_url=f"{base}/missing.json", epss_url=f"{base}/gone.gz"
    )
    assert imports.import_due() == []
    assert "404" in caplog.text
    assert ThreatImport.objects.count() == 0


def test_fetch_refuses_other_schemes_and_oversized_answers(feed_server) -> None:
    base, root = feed_server
    with pytest.raises(InvalidInput):
        imports.fetch(f"file://{KEV_FILE}", 1024)
    (root / "big").write_bytes(b"x" * 2048)
    with pytest.raises(InvalidInput, match="more than"):
        imports.fetch(f"{base}/big", 1024)


@pytest.mark.django_db(transaction=True)
def test_the_command_line_imports_from_a_file_and_a_url(feed_server) -> None:
    base, root = feed_server
    (root / "kev.json").write_bytes(KEV_FILE.read_bytes())
    runner = CliRunner()
    result = runner.invoke(cli, ["assess", "import-kev", f"{base}/kev.json"])
    assert result.exit_code == 0, result.output
    assert f"{KEV['count']} entries" in result.output
    epss = EPSS_DIR / "epss_scores-2023-03-07.csv.gz"
    result = runner.invoke(cli, ["assess", "import-epss", str(epss)])
    assert result.exit_code == 0, result.output
    assert "model v2023.03.01" in result.output
    result = runner.invoke(cli, ["assess", "import-epss", str(epss)])
    assert "already imported" in result.output
    bad = runner.invoke(
        cli, ["assess", "import-epss", str(EPSS_DIR / "epss_scores-2021-10-01.csv")]
    )
    assert bad.exit_code != 0 and "model" in bad.output
    listing = runner.invoke(cli, ["assess", "imports"])
    assert "kev" in listing.output and "refused" in listing.output
