"""Public sources: RSS/Atom and OSV parsing, and matching items to catalogued products."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mamori.core.feeds import (
    CatalogueTerms,
    FeedItem,
    ProductTerms,
    matching_products,
    mentioned_ids,
    osv_package_purl,
    package_key,
    parse_feed,
    parse_osv,
)
from mamori.errors import InvalidInput

DATA = Path(__file__).parents[1] / "data" / "feeds"
OSV = DATA / "osv"

#: "MAMORI PORTAL" in full-width letters with an ideographic space, and "マモリポータル" in
#: half-width katakana, as escapes so they cannot pass for their ordinary forms.
FULL_WIDTH_NAME = "\uff2d\uff21\uff2d\uff2f\uff32\uff29\u3000\uff30\uff2f\uff32\uff34\uff21\uff2c"
HALF_WIDTH_KATAKANA = "\uff8f\uff93\uff98\uff8e\uff9f\uff70\uff80\uff99"


def rss(*items: str) -> bytes:
    body = "".join(f"<item>{item}</item>" for item in items)
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://feeds.example.com/</link><description>d</description>{body}"
        "</channel></rss>"
    ).encode()


def osv(**fields: object) -> bytes:
    record: dict[str, object] = {"id": "GHSA-aaaa-bbbb-cccc", "modified": "2024-07-01T00:00:00Z"}
    record.update(fields)
    return json.dumps(record).encode()


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# RSS and Atom -------------------------------------------------------------------------------


def test_rss2_items_keep_id_link_date_and_plain_text() -> None:
    notice, router, maintenance, scripted = parse_feed((DATA / "rss2.xml").read_bytes())

    assert notice.upstream_id == "feed:example-notice-2024-0042"
    assert notice.title == "Mamori Portal におけるクロスサイトスクリプティングの脆弱性"
    assert notice.url == "https://security.example.com/notices/2024-0042"
    assert notice.published == utc(2024, 7, 9, 0, 0)  # 09:00 +0900
    assert notice.summary == (
        "Mamori Portal 3.2 以前に格納型 XSS (CVE-2024-38112) が存在します。\n"
        "修正版 3.2.1 を適用してください。"
    )
    assert "alert" not in notice.summary
    assert "<" not in notice.summary
    assert notice.aliases == ("CVE-2024-38112",)
    assert notice.purls == ()

    assert router.upstream_id == "feed:https://security.example.com/notices/2024-0041"
    assert router.published == utc(2024, 7, 1, 12, 30)
    assert router.aliases == ("CVE-2024-0001", "GHSA-4x5w-9fxh-mj3q")

    assert maintenance.url == ""
    assert maintenance.upstream_id.startswith("feed:sha256:")
    assert len(maintenance.upstream_id) == len("feed:sha256:") + 64

    assert scripted.url == ""  # javascript: is no link to follow
    assert scripted.summary == "Only the title and this text are kept."


def test_atom_entries_convert_html_and_keep_both_dates() -> None:
    traversal, nested, release = parse_feed((DATA / "atom.xml").read_bytes())

    assert traversal.upstream_id == "feed:tag:widgets.example.org,2024:advisory-7"
    assert traversal.title == "Widget Server path traversal in the upload handler"
    assert traversal.url == "https://widgets.example.org/advisories/7"
    assert traversal.published == utc(2024, 7, 10, 3, 0)
    assert traversal.updated == utc(2024, 7, 10, 23, 15)
    assert traversal.summary == (
        "Widget Server before 4.0.2 lets an authenticated user write outside the upload "
        "directory (CVE-2024-39877).\nUpgrade to 4.0.2."
    )
    assert "evil" not in traversal.summary
    assert traversal.aliases == ("CVE-2024-39877",)

    assert nested.published == nested.updated == utc(2024, 6, 20)  # no <published>: updated
    assert nested.summary == (
        "Parsing a crafted file exhausts the stack.\n- Affected: 1.0 to 1.4\n- Fixed: 1.5"
    )

    assert release.upstream_id == "feed:https://widgets.example.org/news/release-1.5"


def test_rss1_with_full_width_text() -> None:
    [item] = parse_feed((DATA / "rss1.rdf").read_bytes())

    assert item.upstream_id == "feed:https://jvn.example.jp/jp/JVN12345678/"
    assert item.title.startswith("\uff2d\uff21\uff2d\uff2f\uff32\uff29 ")  # one plain space
    assert item.published == utc(2024, 7, 12, 1, 0)
    assert item.aliases == ("CVE-2024-45678",)  # written in full-width digits and hyphens


def test_entry_id_falls_back_to_link_then_to_a_hash_of_title_and_date() -> None:
    dated = "<title>Maintenance</title><pubDate>Fri, 28 Jun 2024 00:00:00 GMT</pubDate>"
    by_guid, by_link, by_hash, other_date, other_title = parse_feed(
        rss(
            "<title>A</title><guid>urn:a</guid><link>https://example.com/a</link>",
            "<title>B</title><link>https://example.com/b</link>",
            dated,
            "<title>Maintenance</title><pubDate>Sat, 29 Jun 2024 00:00:00 GMT</pubDate>",
            "<title>Maintenance 2</title><pubDate>Fri, 28 Jun 2024 00:00:00 GMT</pubDate>",
        )
    )

    assert by_guid.upstream_id == "feed:urn:a"
    assert by_link.upstream_id == "feed:https://example.com/b"
    assert by_hash.upstream_id.startswith("feed:sha256:")
    assert len({by_hash.upstream_id, other_date.upstream_id, other_title.upstream_id}) == 3
    [again] = parse_feed(rss(f"<description>other text</description>{dated}"))
    assert again.upstream_id == by_hash.upstream_id


def test_ids_are_stable_across_parses_and_new_items() -> None:
    data = (DATA / "rss2.xml").read_bytes()
    first = [item.upstream_id for item in parse_feed(data)]
    newer = data.replace(
        b"<item>",
        b"<item><title>Newest notice</title><pubDate>Wed, 10 Jul 2024 00:00:00 GMT</pubDate>"
        b"</item><item>",
        1,
    )

    assert [item.upstream_id for item in parse_feed(data)] == first
    assert [item.upstream_id for item in parse_feed(newer)][1:] == first
    assert len(set(first)) == 4


def test_a_very_long_id_is_hashed() -> None:
    [item] = parse_feed(rss(f"<title>t</title><guid>urn:{'x' * 400}</guid>"))

    assert item.upstream_id.startswith("feed:sha256:")
    assert len(item.upstream_id) <= 255


def test_repeated_entries_and_empty_entries_are_dropped() -> None:
    items = parse_feed(
        rss(
            "<title>first</title><guid>urn:1</guid>",
            "",
            "<title>repeat</title><guid>urn:1</guid>",
            "<title>second</title><guid>urn:2</guid>",
        )
    )

    assert [item.title for item in items] == ["first", "second"]


def test_a_broken_feed_keeps_the_entries_read_before_the_fault() -> None:
    data = rss("<title>good</title><guid>urn:good</guid>", "<title>cut")
    truncated = data[: data.index(b"<title>cut") + len(b"<title>cut")]

    items = parse_feed(truncated)

    assert [item.upstream_id for item in items][:1] == ["feed:urn:good"]
    assert items[0].title == "good"


def test_a_feed_with_no_entries_is_empty() -> None:
    assert parse_feed(rss()) == []


def test_titles_are_one_plain_line_of_at_most_300_characters() -> None:
    [item] = parse_feed(rss(f"<title>Line\none &#x202E;{'w' * 400}</title>"))

    assert len(item.title) == 300
    assert item.title.startswith("Line one w")
    assert item.title.endswith("\u2026")
    assert "\u202e" not in item.title


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no RSS or Atom element found"),
        (b"hello, world", "syntax error"),
        (b"<html><body><p>Not a feed</p></body></html>", "no RSS or Atom element found"),
        (b'{"id": "GHSA-aaaa-bbbb-cccc"}', "not well-formed"),
    ],
)
def test_bytes_that_are_no_feed_are_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_feed(data)

    assert caught.value.problems["feed"].startswith("not an RSS or Atom feed: ")
    assert reason in caught.value.problems["feed"]


# OSV ----------------------------------------------------------------------------------------


def test_osv_pypi_record_with_its_own_purl() -> None:
    item = parse_osv((OSV / "PyPI" / "GHSA-2gwj-7jmv-h26r.json").read_bytes())

    assert item.upstream_id == "osv:GHSA-2gwj-7jmv-h26r"
    assert item.title == "Django denial-of-service in urlize and urlizetrunc"
    assert item.summary.startswith("An issue was discovered in Django 4.2 before 4.2.14")
    assert item.aliases == ("CVE-2024-38875", "PYSEC-2024-57")
    assert item.purls == ("pkg:pypi/django",)
    assert item.url == "https://nvd.nist.gov/vuln/detail/CVE-2024-38875"  # ADVISORY before WEB
    assert item.published == utc(2024, 7, 9, 15, 30, 24)
    assert item.updated == datetime(2024, 7, 18, 21, 37, 40, 123456, tzinfo=UTC)
    assert item.withdrawn is None


def test_osv_npm_record_builds_purls_from_ecosystem_and_name() -> None:
    item = parse_osv((OSV / "npm" / "GHSA-952p-6rrq-rcjv.json").read_bytes())

    assert item.purls == ("pkg:npm/%40example/glob-utils", "pkg:npm/braces")
    assert item.aliases == ("CVE-2024-4068",)
    assert item.url == "https://github.com/micromatch/braces/issues/35"  # REPORT, not FIX


def test_osv_maven_record() -> None:
    item = parse_osv((OSV / "Maven" / "GHSA-9hgv-rc4j-8w5q.json").read_bytes())

    assert item.purls == ("pkg:maven/org.springframework/spring-web",)
    assert item.aliases == ("CVE-2024-22262",)
    assert item.url == "https://spring.io/security/cve-2024-22262"


def test_osv_go_record_with_upstream_ids_and_a_package_less_entry() -> None:
    item = parse_osv((OSV / "Go" / "GO-2024-2887.json").read_bytes())

    assert item.upstream_id == "osv:GO-2024-2887"
    assert item.purls == ("pkg:golang/github.com/example/netkit", "pkg:golang/stdlib")
    assert item.aliases == ("CVE-2024-24790",)


@pytest.mark.parametrize(
    ("ecosystem", "name", "purl"),
    [
        ("PyPI", "Django_Rest", "pkg:pypi/django-rest"),
        ("npm", "@angular/core", "pkg:npm/%40angular/core"),
        ("npm", "left-pad", "pkg:npm/left-pad"),
        (
            "Maven",
            "org.apache.logging.log4j:log4j-core",
            "pkg:maven/org.apache.logging.log4j/log4j-core",
        ),
        ("Go", "golang.org/x/net", "pkg:golang/golang.org/x/net"),
        ("crates.io", "openssl", "pkg:cargo/openssl"),
        ("RubyGems", "rack", "pkg:gem/rack"),
        ("NuGet", "Newtonsoft.Json", "pkg:nuget/Newtonsoft.Json"),
        ("Packagist", "Laravel/Framework", "pkg:composer/laravel/framework"),
        ("Hex", "Plug", "pkg:hex/plug"),
        ("Pub", "http", "pkg:pub/http"),
        ("Debian:12", "openssl", "pkg:deb/debian/openssl"),
        ("Maven", "no-group", None),
        ("Alpine:v3.19", "openssl", None),
        ("PyPI", "  ", None),
    ],
)
def test_osv_package_purls(ecosystem: str, name: str, purl: str | None) -> None:
    assert osv_package_purl(ecosystem, name) == purl


def test_osv_purls_lose_version_qualifiers_and_subpath_and_bad_ones_fall_back() -> None:
    item = parse_osv(
        osv(
            affected=[
                {
                    "package": {
                        "ecosystem": "Debian:12",
                        "name": "curl",
                        "purl": "pkg:deb/debian/curl@7.88.1-10?arch=source&distro=bookworm#x",
                    }
                },
                {"package": {"ecosystem": "PyPI", "name": "Jinja2", "purl": "not a purl"}},
                {"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "curl"}},
            ]
        )
    )

    assert item.purls == ("pkg:deb/debian/curl", "pkg:pypi/jinja2")


def test_osv_minimal_record_and_text_ids() -> None:
    item = parse_osv(
        osv(
            modified="2024-07-01T09:00:00+09:00",
            details="Same as cve-2024-1111; see GHSA-AAAA-BBBB-CCCC and CVE-2024-2222.",
            withdrawn="2024-07-02T00:00:00Z",
            aliases=None,
            affected=None,
            references=None,
        )
    )

    assert item.title == "GHSA-aaaa-bbbb-cccc"  # no summary: the id
    assert item.published == item.updated == utc(2024, 7, 1, 0, 0)
    assert item.withdrawn == utc(2024, 7, 2)
    assert item.aliases == ("CVE-2024-1111", "CVE-2024-2222")  # not the record's own id
    assert item.purls == ()
    assert item.url == ""


def test_osv_text_loses_control_characters_and_long_summaries_are_cut() -> None:
    item = parse_osv(osv(summary="Bad\u0000 \u202etext " + "x" * 400, details="a\u0007b\r\nc"))

    assert item.title.startswith("Bad text xxx")
    assert len(item.title) == 300
    assert item.summary == "ab\nc"


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        (b"not json", "osv", "not JSON"),
        (b"\xff\xfe\x00", "osv", "not JSON"),
        (b'[{"id": "GHSA-aaaa-bbbb-cccc"}]', "osv", "a JSON object, not an array"),
        (b'"GHSA-aaaa-bbbb-cccc"', "osv", "a JSON object, not str"),
        (b"{}", "id", "required"),
        (b'{"id": "GHSA-aaaa-bbbb-cccc"}', "modified", "required"),
        (osv(id=42), "id", "must be a string"),
        (osv(id="GHSA aaaa"), "id", "letters, digits"),
        (osv(id=""), "id", "letters, digits"),
        (osv(modified="yesterday"), "modified", "RFC 3339"),
        (osv(modified="2024-07-01T00:00:00"), "modified", "RFC 3339"),
        (osv(modified="2024-13-01T00:00:00Z"), "modified", "RFC 3339"),
        (osv(published=20240701), "published", "RFC 3339"),
        (osv(summary=["a"]), "summary", "must be a string"),
        (osv(aliases="CVE-2024-1111"), "aliases", "must be an array"),
        (osv(aliases=["CVE-2024-1111", 7]), "aliases[1]", "must be a string"),
        (osv(affected={}), "affected", "must be an array"),
        (osv(affected=["PyPI"]), "affected[0]", "must be an object"),
        (osv(affected=[{"package": {"ecosystem": "PyPI"}}]), "affected[0].package.name", "string"),
        (
            osv(affected=[{"package": {"name": "x", "ecosystem": "PyPI", "purl": 1}}]),
            "affected[0].package.purl",
            "string",
        ),
        (osv(references=[{"type": "WEB"}]), "references[0].url", "must be a string"),
    ],
)
def test_malformed_osv_records_are_refused_naming_the_field(
    data: bytes, field: str, problem: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_osv(data)

    assert problem in caught.value.problems[field]


# Items are valid by construction ------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"upstream_id": "GHSA-aaaa-bbbb-cccc"}, "upstream_id"),
        ({"upstream_id": "feed:" + "x" * 300}, "upstream_id"),
        ({"title": "x" * 301}, "title"),
        ({"url": "javascript:alert(1)"}, "url"),
    ],
)
def test_items_refuse_invalid_values(change: dict[str, str], field: str) -> None:
    values = {"upstream_id": "feed:urn:1", "title": "t", "summary": "", "url": ""}
    values.update(change)

    with pytest.raises(InvalidInput) as caught:
        FeedItem(**values, published=None, aliases=(), purls=())

    assert field in caught.value.problems


def test_mentioned_ids() -> None:
    full_width = "\uff23\uff36\uff25\uff0d\uff12\uff10\uff12\uff14\uff0d\uff19\uff19\uff19\uff19"
    text = f"cve-2024-0001, CVE-2024-0001 and {full_width}"

    assert mentioned_ids(text, "xCVE-2024-3333 GHSA-4x5w-9fxh-MJ3Q") == (
        "CVE-2024-0001",
        "CVE-2024-9999",
        "GHSA-4x5w-9fxh-mj3q",
    )


# Matching -----------------------------------------------------------------------------------


def item(title: str = "", summary: str = "", purls: tuple[str, ...] = ()) -> FeedItem:
    return FeedItem(
        upstream_id="feed:urn:test",
        title=title,
        summary=summary,
        url="",
        published=None,
        aliases=(),
        purls=purls,
    )


PORTAL = ProductTerms("mamori-portal", names=("Mamori Portal", "マモリポータル"))
ROUTER = ProductTerms("acme-router", names=("Acme Router",), purls=("pkg:npm/acme-ui@2.1.0",))
DJANGO_APP = ProductTerms("intranet", names=("Intranet",), purls=("pkg:pypi/Django@5.0.6?x=y",))
CATALOGUE = CatalogueTerms.of([PORTAL, ROUTER, DJANGO_APP])


@pytest.mark.parametrize(
    ("title", "summary", "slugs"),
    [
        ("Mamori Portal: stored XSS", "", ("mamori-portal",)),
        ("", "Fixed in mamori   portal 3.2.1.", ("mamori-portal",)),
        ("Advisory for mamori-portal", "", ("mamori-portal",)),  # the slug
        ("Mamori Portals everywhere", "", ()),
        ("xMamori Portal", "", ()),
        ("Mamori Portal_2 and Intranets", "", ()),
        ("Acme Router and Mamori Portal.", "", ("acme-router", "mamori-portal")),
        (FULL_WIDTH_NAME + "における認証回避の脆弱性", "", ("mamori-portal",)),
        ("", HALF_WIDTH_KATAKANA + "の脆弱性", ("mamori-portal",)),
        ("Mamori Portal(3.2)でXSS", "", ("mamori-portal",)),
        ("", "Mamori Portalで認証を回避", ("mamori-portal",)),
        ("Nothing of ours", "Acme Routers, intranetwork", ()),
        ("", "", ()),
    ],
)
def test_products_are_matched_by_whole_word_or_phrase(
    title: str, summary: str, slugs: tuple[str, ...]
) -> None:
    assert matching_products(item(title, summary), CATALOGUE) == slugs


@pytest.mark.parametrize(
    ("purls", "slugs"),
    [
        (("pkg:pypi/django",), ("intranet",)),
        (("pkg:pypi/Django@4.2.14",), ("intranet",)),
        (("pkg:npm/acme-ui", "pkg:pypi/django"), ("acme-router", "intranet")),
        (("pkg:npm/%40acme/acme-ui",), ()),  # another namespace
        (("pkg:pypi/django-rest", "not a purl"), ()),
    ],
)
def test_products_are_matched_by_package_ignoring_version(
    purls: tuple[str, ...], slugs: tuple[str, ...]
) -> None:
    assert matching_products(item("An advisory", purls=purls), CATALOGUE) == slugs


def test_an_osv_record_matches_by_purl_end_to_end() -> None:
    record = parse_osv((OSV / "PyPI" / "GHSA-2gwj-7jmv-h26r.json").read_bytes())
    by_name = CatalogueTerms.of([ProductTerms("web-framework", names=("Django",))])

    assert matching_products(record, CATALOGUE) == ("intranet",)
    assert matching_products(record, by_name) == ("web-framework",)


def test_product_terms_are_normalised_on_construction() -> None:
    terms = ProductTerms(
        "intranet",
        names=("  \uff29\uff2e\uff34\uff32\uff21  Net ", ""),
        purls=("pkg:pypi/Django@5",),
    )

    assert terms.names == ("intra net", "intranet")
    assert terms.purls == ("pkg:pypi/django",)
    assert terms == ProductTerms("intranet", names=("intra net",), purls=("pkg:pypi/django",))


@pytest.mark.parametrize(
    "build",
    [
        lambda: ProductTerms("Not A Slug"),
        lambda: ProductTerms("ok", purls=("django",)),
        lambda: CatalogueTerms.of([ProductTerms("same"), ProductTerms("same", names=("x",))]),
    ],
)
def test_invalid_terms_are_refused(build: Callable[[], object]) -> None:
    with pytest.raises(InvalidInput):
        build()


def test_package_key() -> None:
    assert (
        package_key(" pkg:maven/org.example/Lib@1.0?type=jar#sub ") == "pkg:maven/org.example/Lib"
    )
