"""Public sources: RSS/Atom entries and OSV records as ``FeedItem`` values, matched to products.

Pure: bytes in, values out. Fetching is ``mamori.intake.sources``; storing items and opening cases
is the intake app's job. Every item carries a stable ``upstream_id`` so the same upstream item
never opens two cases: ``osv:<id>`` for OSV records, ``feed:<entry id>`` (else ``feed:<link>``,
else ``feed:sha256:<hash of title and date>``) for feed entries.

A product is mentioned when its slug, name or an alias appears in the item's title or summary as
a whole word or phrase, compared case- and width-insensitively (``normalise_alias``). Next to a
character of a script written without spaces (Japanese, Chinese, Korean, Thai ...) every position
is a word boundary, so "Portalの脆弱性" mentions "Portal" while "Portals" and "xPortal" do not.
A package URL matches on type, namespace and name; version, qualifiers and subpath are ignored.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser
from packageurl import PackageURL

from mamori.core.catalogue import check_slug, normalise_alias, normalise_purl
from mamori.core.htmltext import html_to_text
from mamori.errors import InvalidInput

TITLE_LIMIT = 300
ID_LIMIT = 255
URL_LIMIT = 2048


@dataclass(frozen=True)
class FeedItem:
    """One item read from a public source, ready to be matched and stored.

    ``published`` is when the item first appeared (the entry's publication date, else its update
    date; for OSV ``published``, else ``modified``); ``updated`` is its last change, which tells a
    revised item from one already seen. ``withdrawn`` is set for OSV records withdrawn upstream.
    """

    upstream_id: str
    title: str
    summary: str
    url: str
    published: datetime | None
    aliases: tuple[str, ...]
    purls: tuple[str, ...]
    updated: datetime | None = None
    withdrawn: datetime | None = None

    def __post_init__(self) -> None:
        if not self.upstream_id.startswith(("osv:", "feed:")) or len(self.upstream_id) > ID_LIMIT:
            raise InvalidInput("osv:... or feed:..., at most 255 characters", field="upstream_id")
        if len(self.title) > TITLE_LIMIT:
            raise InvalidInput(f"at most {TITLE_LIMIT} characters", field="title")
        if self.url and _web_url(self.url) != self.url:
            raise InvalidInput("an http or https URL", field="url")


# Plain text ---------------------------------------------------------------------------------

#: C0/C1 controls except tab and newline, lone surrogates, bidirectional overrides and
#: isolates (which can make text read differently from what it says), BOM and non-characters.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufeff\ufff9-\ufffb\ufffe\uffff]"
)


def _plain(text: str) -> str:
    """Text without control characters, with Unix line ends and no surrounding blanks."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip()


def _one_line(text: str, limit: int = TITLE_LIMIT) -> str:
    line = " ".join(_plain(text).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "\u2026"


def _web_url(value: object) -> str:
    """``value`` if it is an absolute http(s) URL without blanks or controls, else ``""``."""
    if not isinstance(value, str) or len(value) > URL_LIMIT or _CONTROL.search(value):
        return ""
    if not value or any(char.isspace() for char in value):
        return ""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return ""
    return value if parts.scheme.lower() in ("http", "https") and host else ""


_IDS = re.compile(
    r"\b(?:CVE-\d{4}-\d{4,7}|GHSA(?:-[23456789cfghjmpqrvwx]{4}){3})\b", re.IGNORECASE | re.ASCII
)


def _canonical_id(text: str) -> str:
    """CVE ids in upper case, GHSA ids as GitHub writes them; other ids unchanged."""
    if _IDS.fullmatch(text):
        return text.upper() if text[:3].upper() == "CVE" else "GHSA" + text[4:].lower()
    return text


def mentioned_ids(*texts: str) -> tuple[str, ...]:
    """CVE and GHSA ids written anywhere in ``texts`` (full-width forms too), sorted."""
    found: set[str] = set()
    for text in texts:
        found.update(_canonical_id(m) for m in _IDS.findall(unicodedata.normalize("NFKC", text)))
    return tuple(sorted(found))


# Package URLs -------------------------------------------------------------------------------


def package_key(purl: str) -> str:
    """The canonical package URL of a package: no version, qualifiers or subpath."""
    parsed = PackageURL.from_string(normalise_purl(purl))
    return normalise_purl(
        PackageURL(type=parsed.type, namespace=parsed.namespace, name=parsed.name).to_string()
    )


def _package_key_or_none(purl: str) -> str | None:
    try:
        return package_key(purl)
    except InvalidInput:
        return None


#: OSV ecosystem -> purl type. Names that carry a namespace are split as each type expects.
_PURL_TYPES = {
    "PyPI": "pypi",
    "npm": "npm",
    "Maven": "maven",
    "Go": "golang",
    "crates.io": "cargo",
    "RubyGems": "gem",
    "NuGet": "nuget",
    "Packagist": "composer",
    "Hex": "hex",
    "Pub": "pub",
    "Debian": "deb",
}


def osv_package_purl(ecosystem: str, name: str) -> str | None:
    """The package URL of an OSV ``(ecosystem, name)`` pair, or None for other ecosystems."""
    kind = _PURL_TYPES.get(ecosystem.split(":", 1)[0].strip())
    name = name.strip()
    if kind is None or not name:
        return None
    namespace, base = "", name
    if kind == "maven":
        namespace, colon, base = name.rpartition(":")
        if not colon:
            return None
    elif kind in ("npm", "golang", "composer"):
        namespace, _, base = name.rpartition("/")
    elif kind == "deb":
        namespace = "debian"
    try:
        purl = PackageURL(type=kind, namespace=namespace or None, name=base).to_string()
    except ValueError:
        return None
    return _package_key_or_none(purl)


# RSS and Atom -------------------------------------------------------------------------------

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def _get(mapping: object, key: str) -> object:
    """A field as parsed. ``dict.get`` skips feedparser's aliases (``summary`` answered from
    ``content``, ``updated_parsed`` from ``published_parsed`` with a DeprecationWarning)."""
    return dict.get(mapping, key) if isinstance(mapping, dict) else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _line(value: object) -> str:
    return " ".join(_plain(_text(value)).split())


def _detail_text(value: object, detail: object) -> str:
    """A feedparser text construct as plain text, converting HTML by its declared type."""
    text = _text(value)
    return _plain(html_to_text(text) if _get(detail, "type") in _HTML_TYPES else text)


def _entry_summary(entry: dict[str, Any]) -> str:
    """The summary, else the first content with any text.

    feedparser copies a content into ``summary`` without its type when there is no summary.
    """
    detail = _get(entry, "summary_detail")
    summary = _detail_text(_get(entry, "summary"), detail)
    contents = _get(entry, "content")
    for content in contents if isinstance(contents, list) and not detail else ():
        if text := _detail_text(_get(content, "value"), content):
            return text
    return summary


def _struct_time(value: object) -> datetime | None:
    """feedparser's parsed dates are ``time.struct_time`` in UTC."""
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except ValueError:
        return None


def _feed_id(entry_id: str, url: str, title: str, published: datetime | None) -> str:
    if key := entry_id or url:
        upstream = f"feed:{key}"
        if len(upstream) <= ID_LIMIT:
            return upstream
        return "feed:sha256:" + hashlib.sha256(key.encode()).hexdigest()
    when = published.isoformat() if published else ""
    return "feed:sha256:" + hashlib.sha256(f"{title}\n{when}".encode()).hexdigest()


def _entry_item(entry: dict[str, Any]) -> FeedItem | None:
    """A feed entry as an item, or None when it has nothing to show (no title, text or link)."""
    title = " ".join(_detail_text(_get(entry, "title"), _get(entry, "title_detail")).split())
    summary = _entry_summary(entry)
    link = _line(_get(entry, "link"))
    url = _web_url(link)
    if not (title or summary or url):
        return None
    updated = _struct_time(_get(entry, "updated_parsed"))
    published = _struct_time(_get(entry, "published_parsed")) or updated
    entry_id = _line(_get(entry, "id"))
    tags = _get(entry, "tags")
    terms = [_text(_get(tag, "term")) for tag in tags] if isinstance(tags, list) else []
    return FeedItem(
        upstream_id=_feed_id(entry_id, url, title, published),
        title=_one_line(title or summary or url),
        summary=summary,
        url=url,
        published=published,
        updated=updated,
        aliases=mentioned_ids(title, summary, entry_id, link, *terms),
        purls=(),
    )


def parse_feed(data: bytes) -> list[FeedItem]:
    """Every usable entry of an RSS 0.9x/1.0/2.0 or Atom feed, in feed order, one per id.

    Raises ``InvalidInput`` with feedparser's reason when ``data`` is no feed at all. A feed that
    is malformed further on keeps the entries read before the fault; empty entries are dropped.
    """
    parsed = feedparser.parse(io.BytesIO(data))
    if not parsed.get("version") and not parsed.get("entries"):
        reason = parsed.get("bozo_exception") or "no RSS or Atom element found"
        raise InvalidInput(f"not an RSS or Atom feed: {reason}", field="feed")
    items: dict[str, FeedItem] = {}
    for entry in parsed.get("entries") or ():
        item = _entry_item(entry) if isinstance(entry, dict) else None
        if item is not None:
            items.setdefault(item.upstream_id, item)
    return list(items.values())


# OSV ----------------------------------------------------------------------------------------

_OSV_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,99}", re.ASCII)
_TIMESTAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def _timestamp(value: object, where: str) -> datetime:
    """An RFC 3339 timestamp with a time zone (OSV writes UTC with ``Z``), in UTC."""
    match = _TIMESTAMP.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is not None:
        day, clock, fraction, zone = match.groups()
        zone = "+00:00" if zone in ("Z", "z") else zone
        try:
            moment = datetime.fromisoformat(f"{day}T{clock}.{(fraction or '')[:6]:0<6}{zone}")
        except ValueError:
            pass
        else:
            return moment.astimezone(UTC)
    raise InvalidInput("must be an RFC 3339 timestamp such as 2024-01-31T12:00:00Z", field=where)


def _optional_timestamp(record: Mapping[str, object], key: str) -> datetime | None:
    return None if record.get(key) is None else _timestamp(record[key], key)


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput("must be a string", field=where)
    return value


def _array(value: object, where: str) -> list[object]:
    """An OSV array; ``null`` and a missing field are empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput("must be an array", field=where)
    return value


def _object(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise InvalidInput("must be an object", field=where)
    return value


def _osv_ids(record: Mapping[str, object]) -> list[str]:
    ids: list[str] = []
    for key in ("aliases", "upstream"):
        for index, value in enumerate(_array(record.get(key), key)):
            text = _plain(_string(value, f"{key}[{index}]"))
            if text and len(text) <= 100 and not any(char.isspace() for char in text):
                ids.append(_canonical_id(text))
    return ids


def _osv_purls(record: Mapping[str, object]) -> tuple[str, ...]:
    """Package URLs of the affected packages: the record's own, else built from the ecosystem."""
    purls: set[str] = set()
    for index, affected in enumerate(_array(record.get("affected"), "affected")):
        where = f"affected[{index}].package"
        package = _object(_object(affected, f"affected[{index}]").get("package", {}), where)
        if not package:
            continue
        ecosystem = _string(package.get("ecosystem"), f"{where}.ecosystem")
        name = _string(package.get("name"), f"{where}.name")
        given = package.get("purl")
        own = _package_key_or_none(_string(given, f"{where}.purl")) if given is not None else None
        if purl := own or osv_package_purl(ecosystem, name):
            purls.add(purl)
    return tuple(sorted(purls))


_REFERENCE_ORDER = ("ADVISORY", "WEB", "REPORT", "ARTICLE")


def _osv_url(record: Mapping[str, object]) -> str:
    """The best reference to show: an advisory, else a web page, a report, an article, any."""
    found: dict[str, str] = {}
    for index, reference in enumerate(_array(record.get("references"), "references")):
        entry = _object(reference, f"references[{index}]")
        url = _web_url(_string(entry.get("url"), f"references[{index}].url").strip())
        kind = entry.get("type")
        if url:
            found.setdefault(kind if kind in _REFERENCE_ORDER else "", url)
    return next((found[kind] for kind in (*_REFERENCE_ORDER, "") if kind in found), "")


def _load_object(data: bytes) -> Mapping[str, object]:
    try:
        record = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"not JSON: {exc}", field="osv") from None
    if not isinstance(record, dict):
        kind = "an array" if isinstance(record, list) else type(record).__name__
        raise InvalidInput(f"an OSV record is a JSON object, not {kind}", field="osv")
    return record


def parse_osv(data: bytes) -> FeedItem:
    """One OSV record (https://ossf.github.io/osv-schema/) as an item.

    Checks what Mamori uses: ``id`` and ``modified`` are required, and every field read must have
    the schema's type; ``InvalidInput`` names the first field that does not. Other fields are
    ignored, and so are packages of ecosystems with no package-URL mapping.
    """
    record = _load_object(data)
    if "id" not in record or "modified" not in record:
        missing = [key for key in ("id", "modified") if key not in record]
        raise InvalidInput(dict.fromkeys(missing, "required"))
    osv_id = _string(record["id"], "id").strip()
    if not _OSV_ID.fullmatch(osv_id):
        raise InvalidInput("letters, digits and . _ : + - (at most 100)", field="id")
    modified = _timestamp(record["modified"], "modified")
    heading = _one_line(_string(record.get("summary", ""), "summary"))
    details = _plain(_string(record.get("details", ""), "details"))
    ids = {*_osv_ids(record), *mentioned_ids(heading, details)} - {osv_id}
    return FeedItem(
        upstream_id=f"osv:{osv_id}",
        title=heading or osv_id,
        summary=details,
        url=_osv_url(record),
        published=_optional_timestamp(record, "published") or modified,
        updated=modified,
        withdrawn=_optional_timestamp(record, "withdrawn"),
        aliases=tuple(sorted(ids)),
        purls=_osv_purls(record),
    )


# Matching -----------------------------------------------------------------------------------

#: Scripts written without spaces between words: Thai, Lao, Myanmar, Hangul jamo, Khmer, CJK
#: punctuation, kana and ideographs, Yi, Hangul syllables, half- and full-width forms.
_UNSPACED = (
    "\u0e00-\u0eff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff\u2e80-\u2fdf\u3000-\u9fff"
    "\ua000-\ua4cf\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
    "\U00020000-\U0003ffff"
)
_IS_UNSPACED = re.compile(f"[{_UNSPACED}]")
#: A character that continues a word: a letter, digit or underscore of a spaced script.
_GLUE = f"[^\\W{_UNSPACED}]"


def _phrase(name: str) -> str:
    """A pattern for ``name`` as a whole word or phrase."""
    before = "" if _IS_UNSPACED.match(name[0]) else f"(?<!{_GLUE})"
    after = "" if _IS_UNSPACED.match(name[-1]) else f"(?!{_GLUE})"
    return f"{before}{re.escape(name)}{after}"


@dataclass(frozen=True)
class ProductTerms:
    """What mentions one product: its slug, name and aliases, and its components' packages.

    Normalised on construction (names with ``normalise_alias``, package URLs to
    ``package_key``), so the raw catalogue values can be passed as they are stored.
    """

    slug: str
    names: tuple[str, ...] = ()
    purls: tuple[str, ...] = ()
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_slug(self.slug)
        names = sorted({normalise_alias(name) for name in (self.slug, *self.names) if name.strip()})
        object.__setattr__(self, "names", tuple(names))
        object.__setattr__(self, "purls", tuple(sorted({package_key(p) for p in self.purls})))
        object.__setattr__(self, "_pattern", re.compile("|".join(map(_phrase, names))))

    def mentioned_in(self, normalised_text: str) -> bool:
        """Whether a name occurs in text already folded with ``normalise_alias``."""
        return self._pattern.search(normalised_text) is not None


@dataclass(frozen=True)
class CatalogueTerms:
    """The catalogue as matching needs it: one ``ProductTerms`` per product, slugs unique."""

    products: tuple[ProductTerms, ...]

    def __post_init__(self) -> None:
        products = tuple(self.products)
        slugs = [product.slug for product in products]
        if len(set(slugs)) != len(slugs):
            raise InvalidInput("each product at most once", field="products")
        object.__setattr__(self, "products", products)

    @classmethod
    def of(cls, products: Iterable[ProductTerms]) -> CatalogueTerms:
        return cls(tuple(products))


def matching_products(item: FeedItem, terms: CatalogueTerms) -> tuple[str, ...]:
    """Slugs (sorted) of the products the item mentions by name or alias, or by package URL."""
    text = f"{item.title}\n{item.summary}"
    haystack = normalise_alias(text) if text.strip() else ""
    packages = {key for purl in item.purls if (key := _package_key_or_none(purl))}
    return tuple(
        sorted(
            product.slug
            for product in terms.products
            if product.mentioned_in(haystack) or packages.intersection(product.purls)
        )
    )
