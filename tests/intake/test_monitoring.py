"""Public sources: a feed item about a catalogued product opens exactly one case."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mamori import clock
from mamori.cases.models import Case
from mamori.errors import Conflict, InvalidInput
from mamori.intake import monitoring
from mamori.intake.models import FeedItemSeen, FeedSource
from mamori.products import services as catalogue
from tests import factories

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"


@pytest.fixture
def widget_server(admin) -> str:
    slug = factories.product(admin, "widget-server")
    catalogue.update_product(admin, slug, name="Widget Server")
    return slug


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 serving a copy of the test feeds."""
    root = tmp_path / "www"
    shutil.copytree(FEEDS, root)

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_a_feed_item_about_a_catalogued_product_opens_exactly_one_case(
    admin, widget_server: str, served: tuple[str, Path]
) -> None:
    base, _root = served
    source = monitoring.add_source(admin, "Widget advisories", f"{base}/atom.xml")
    first = monitoring.check(source)
    assert first.error == ""
    assert len(first.cases) == 1
    case = Case.objects.get(tracking_id=first.cases[0])
    assert case.source == "public"
    assert case.state == "received"
    assert [p.slug for p in case.products.all()] == [widget_server]
    assert "path traversal" in case.title
    assert case.source_detail.startswith("http")
    seen = FeedItemSeen.objects.get(case=case)
    assert seen.source == source

    again = monitoring.check(source)  # read again: nothing new, no second case
    assert again.new == 0 and again.cases == ()
    twin = monitoring.add_source(admin, "Mirror", f"{base}/atom.xml?mirror")
    assert monitoring.check(twin).cases == ()  # the same items from another source
    assert Case.objects.count() == 1
    assert FeedItemSeen.objects.count() == first.items


def test_items_about_other_products_are_remembered_without_a_case(
    admin, widget_server: str, served: tuple[str, Path]
) -> None:
    base, _root = served
    result = monitoring.check(monitoring.add_source(admin, "Vendor", f"{base}/rss2.xml"))
    assert result.cases == ()
    assert result.new == result.items > 0
    assert not Case.objects.exists()


def test_an_osv_directory_matches_by_package_url(admin, tmp_path: Path) -> None:
    slug = factories.product(admin, "web-console")
    catalogue.add_component(admin, slug, "pkg:pypi/django@5.0")
    source = monitoring.add_source(None, "OSV mirror", str(FEEDS / "osv"))
    result = monitoring.check(source)
    assert result.items == 4
    [tracking_id] = result.cases
    case = Case.objects.get(tracking_id=tracking_id)
    assert "pkg:pypi/django" in case.description
    assert monitoring.check(source).cases == ()


def test_a_broken_source_records_its_error_and_opens_nothing(
    admin, served: tuple[str, Path]
) -> None:
    base, root = served
    (root / "broken.xml").write_text("this is not a feed")
    source = monitoring.add_source(admin, "Broken", f"{base}/broken.xml")
    result = monitoring.check(source)
    assert result.error
    source.refresh_from_db()
    assert source.last_error == result.error
    missing = monitoring.add_source(admin, "Gone", f"{base}/missing.xml")
    assert "404" in monitoring.check(missing).error
    assert not Case.objects.exists()


def test_the_clock_checks_sources_when_they_are_due(
    admin, widget_server: str, served: tuple[str, Path]
) -> None:
    base, _root = served
    monitoring.add_source(admin, "Widget", f"{base}/atom.xml", interval_minutes=30)
    [job] = [j for j in clock.JOBS if j.name == "check public sources"]
    job.run()
    assert Case.objects.count() == 1
    assert monitoring.check_due() == []  # not due again for 30 minutes
    assert FeedSource.objects.get().last_checked_at is not None


def test_sources_are_validated(admin) -> None:
    monitoring.add_source(admin, "A", "https://example.org/feed.xml")
    with pytest.raises(Conflict):
        monitoring.add_source(admin, "B", "https://example.org/feed.xml")
    with pytest.raises(InvalidInput):
        monitoring.add_source(admin, "", "https://example.org/other.xml")
    with pytest.raises(InvalidInput):
        monitoring.add_source(admin, "C", "https://example.org/c.xml", interval_minutes=0)
