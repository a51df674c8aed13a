"""The public tree: everything Mamori publishes, rebuilt from the database in one step.

``build`` renders the complete tree in memory from the issued revisions (never from live case
data, so a page changes only when a revision is issued) and the sent advance notifications:

    .well-known/security.txt                 RFC 9116, pointing at the reporting channel and CSAF
    .well-known/csaf/...                     the CSAF trusted-provider directory (core.provider)
    security/index.html, index.ja.html       the bulletin index
    security/bulletins/<ID>.html, .ja.html   the current revision of each advisory
    security/bulletins/<ID>/v<N>.html        every revision, as it was issued
    security/kb/<ID>.html, .ja.html          the knowledge-base article
    security/releases/<NAME>.html            the summary of each published release
    security/advisories.atom                 the Atom feed of advisories and revisions
    security/advance-notifications.atom      the Atom feed of advance notifications
    security/cve/<CVE>.json                  CVE JSON 5.1 records
    security/osv/<ID>.json                   OSV records

``publish`` validates the tree (every CSAF document against the schema and the mandatory tests,
the provider directory's own consistency, CVE and OSV schemas) and hands it to
``advisories.publisher.publish_tree``, which writes it to a staging directory and swaps it in
atomically; an unchanged tree changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import storages
from django.template.loader import render_to_string
from django.utils import translation
from feedgen.feed import FeedGenerator

from mamori.accounts.models import User
from mamori.advisories import publisher
from mamori.advisories.models import Advisory, Revision, SiteBuild
from mamori.advisories.signing import GpgSigner
from mamori.core import advisory as model
from mamori.core import csaf as csaf_format
from mamori.core import cve as cve_format
from mamori.core import osv as osv_format
from mamori.core.advisory import Tlp
from mamori.core.provider import (
    CsafDocument,
    check_tree,
    provider_files,
    reusing_signatures,
    security_txt,
)
from mamori.errors import ConfigurationError
from mamori.releases.models import Notice, Release

log = logging.getLogger(__name__)

LANGUAGES = ("en", "ja")
FEED_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # the "updated" of an empty feed


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def _signer() -> GpgSigner:
    pub = settings.MAMORI_PUBLISHING
    if not pub.signing_key:
        raise ConfigurationError(
            "no signing key: set MAMORI_SIGNING_KEY to the fingerprint of the team's OpenPGP "
            "key (its secret key in the keyring at MAMORI_GNUPG_HOME); a CSAF trusted provider "
            "signs every document"
        )
    intake = settings.MAMORI_INTAKE
    return GpgSigner(intake.gnupg_home, pub.signing_key, intake.gpg_passphrase)


class _Entry:
    """One advisory as the pages show it: its revisions' snapshots, newest last."""

    def __init__(self, advisory: Advisory, revisions: list[Revision]) -> None:
        self.advisory = advisory
        self.revisions = revisions
        self.current = revisions[-1]
        self.value = model.from_data(self.current.snapshot)
        self.values = [model.from_data(r.snapshot) for r in revisions]

    @property
    def id(self) -> str:
        return self.advisory.advisory_id


def _entries() -> list[_Entry]:
    found = []
    for advisory in Advisory.objects.select_related("release", "superseded_by").order_by(
        "advisory_id"
    ):
        revisions = list(advisory.revisions.order_by("number"))
        if revisions:
            found.append(_Entry(advisory, revisions))
    return found


def _page(template: str, language: str, context: Mapping[str, Any]) -> bytes:
    with translation.override(language):
        return render_to_string(
            f"advisories/public/{template}",
            {**context, "language": language, "site_url": settings.MAMORI_PUBLISHING.site_url},
        ).encode()


def _suffix(language: str) -> str:
    return "" if language == "en" else f".{language}"


def _expires(now: datetime) -> datetime:
    """security.txt's Expires: a year from the start of this month, so the tree stays the same
    within a month and the clock's monthly rebuild renews it (RFC 9116 asks for < 1 year)."""
    first = date(now.year, now.month, 1)
    return datetime(first.year + 1, first.month, 1, tzinfo=UTC) - timedelta(days=1)


def build(now: datetime, previous: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    """The complete public tree (see the module docstring)."""
    pub = settings.MAMORI_PUBLISHING
    entries = _entries()
    tree: dict[str, bytes] = {}
    site = pub.site_url
    provider_url = f"{site}/.well-known/csaf/provider-metadata.json"

    if entries:
        signer = _signer()
        sign = reusing_signatures(previous or {}, signer.sign, key_fingerprint=signer.fingerprint)
        documents = [
            CsafDocument(
                tracking_id=e.id,
                content=csaf_format.dumps(e.current.csaf),
                tlp=Tlp.WHITE,
                initial_release=e.value.initial_release,
                current_release=e.value.current_release,
                title=e.value.title.en,
            )
            for e in entries
        ]
        tree.update(
            provider_files(
                documents,
                base_url=site,
                publisher=_publisher_of(entries[0].value),
                sign=sign,
                public_key=signer.public_key(),
                key_fingerprint=signer.fingerprint,
            )
        )
    tree[".well-known/security.txt"] = security_txt(
        contact=pub.contact,
        expires=_expires(now),
        provider_metadata_url=provider_url,
        policy_url=f"{site}/security/",
        canonical=f"{site}/.well-known/security.txt",
    )
    tree.update(_pages(entries))
    for entry in entries:
        for record in entry.current.cve:
            tree[f"security/cve/{record['cveMetadata']['cveId']}.json"] = _json(record)
        for record in entry.current.osv:
            tree[f"security/osv/{record['id']}.json"] = _json(record)
    tree["security/advisories.atom"] = _advisory_feed(entries)
    tree["security/advance-notifications.atom"] = _notice_feed()
    return tree


def _publisher_of(value: model.Advisory) -> model.Publisher:
    pub = settings.MAMORI_PUBLISHING
    return model.Publisher(pub.publisher_name, pub.publisher_namespace, value.publisher.contact)


def _pages(entries: list[_Entry]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    releases = list(Release.objects.filter(state=Release.State.PUBLISHED).order_by("-release_at"))
    by_release: dict[str, list[_Entry]] = {}
    for entry in entries:
        if entry.advisory.release_id is not None and entry.advisory.kind == "bulletin":
            by_release.setdefault(entry.advisory.release.name, []).append(entry)  # type: ignore[union-attr]
    for language in LANGUAGES:
        sfx = _suffix(language)
        files[f"security/index{sfx}.html"] = _page(
            "index.html",
            language,
            {
                "entries": sorted(
                    entries, key=lambda e: (e.value.initial_release, e.id), reverse=True
                ),
                "releases": releases,
            },
        )
        for entry in entries:
            context = {
                "entry": entry,
                "advisory": entry.value,
                "revision": entry.current,
                "superseded_by": entry.advisory.superseded_by,
            }
            files[f"security/bulletins/{entry.id}{sfx}.html"] = _page(
                "bulletin.html", language, context
            )
            files[f"security/kb/{entry.id}{sfx}.html"] = _page("kb.html", language, context)
            for revision, value in zip(entry.revisions, entry.values, strict=True):
                files[f"security/bulletins/{entry.id}/v{revision.number}{sfx}.html"] = _page(
                    "bulletin.html",
                    language,
                    {**context, "advisory": value, "revision": revision, "archived": True},
                )
        for release in releases:
            files[f"security/releases/{release.name}{sfx}.html"] = _page(
                "release.html",
                language,
                {"release": release, "entries": by_release.get(release.name, [])},
            )
    return files


def _advisory_feed(entries: list[_Entry]) -> bytes:
    site = settings.MAMORI_PUBLISHING.site_url
    feed = FeedGenerator()
    feed.id(f"{site}/security/advisories.atom")
    feed.title(f"{settings.MAMORI_PUBLISHING.publisher_name}: security advisories")
    feed.link(href=f"{site}/security/", rel="alternate")
    feed.link(href=f"{site}/security/advisories.atom", rel="self")
    feed.language("en")
    updated = max((e.current.published_at for e in entries), default=FEED_EPOCH)
    feed.updated(updated)
    for entry in sorted(entries, key=lambda e: (e.current.published_at, e.id)):
        value = entry.value
        item = feed.add_entry(order="append")
        item.id(f"{site}/security/bulletins/{entry.id}.html")
        item.title(f"{entry.id}: {value.title.en} (v{entry.current.number})")
        item.link(href=f"{site}/security/bulletins/{entry.id}.html")
        item.published(value.initial_release)
        item.updated(entry.current.published_at)
        severity = f" Severity: {value.severity}." if value.severity else ""
        item.summary(f"{value.summary.en}{severity} {entry.current.summary}.")
    return feed.atom_str(pretty=True)  # type: ignore[no-any-return]


def _notice_feed() -> bytes:
    site = settings.MAMORI_PUBLISHING.site_url
    notices = list(Notice.objects.select_related("release").order_by("sent_at", "pk"))
    feed = FeedGenerator()
    feed.id(f"{site}/security/advance-notifications.atom")
    feed.title(f"{settings.MAMORI_PUBLISHING.publisher_name}: advance notifications")
    feed.link(href=f"{site}/security/", rel="alternate")
    feed.link(href=f"{site}/security/advance-notifications.atom", rel="self")
    feed.updated(max((n.sent_at for n in notices), default=FEED_EPOCH))
    for notice in notices:
        s = notice.summary
        item = feed.add_entry(order="append")
        item.id(f"{site}/security/advance-notifications/{notice.release.name}")
        item.title(f"Advance notification: security release {s['release']}")
        item.link(href=f"{site}/security/", rel="alternate")
        item.updated(notice.sent_at)
        item.published(notice.sent_at)
        item.summary(
            f"Release date {s['release_date']}. Bulletins: {s['bulletins']}. Highest severity: "
            f"{s['highest_severity'] or 'not rated'}. Restart required: "
            f"{'yes' if s['restart_required'] else 'no'}. Products: "
            f"{', '.join(s['products']) or 'none'}."
        )
    return feed.atom_str(pretty=True)  # type: ignore[no-any-return]


def problems(tree: Mapping[str, bytes]) -> list[str]:
    """Everything wrong with a tree read back from disk; publishing refuses a non-empty list."""
    from mamori.core.csaf_validate import validate as validate_csaf

    # With no advisory yet there is no provider directory (nothing to list or sign).
    has_provider = any(path.startswith(".well-known/csaf/") for path in tree)
    found = list(check_tree(tree)) if has_provider else []
    for path, content in tree.items():
        if not path.endswith(".json"):
            continue
        if path.startswith(".well-known/csaf/") and "/20" in path:
            found += [
                f"{path}: {p.test} at {p.path or '/'}: {p.message}"
                for p in validate_csaf(json.loads(content))
            ]
        elif path.startswith("security/cve/"):
            found += [f"{path}: {p}" for p in cve_format.validate_record(json.loads(content))]
        elif path.startswith("security/osv/"):
            found += [f"{path}: {p}" for p in osv_format.validate(json.loads(content))]
    return found


def _read_current(root: Path) -> dict[str, bytes]:
    current = publisher.current_tree(root)
    return publisher.read_tree(current) if current is not None else {}


def publish(actor: User | None, reason: str, now: datetime | None = None) -> SiteBuild:
    """Build, validate and swap in the public tree; mirror it to object storage if configured."""
    from django.utils import timezone

    now = now or timezone.now()
    root = settings.MAMORI_PUBLISHING.public_dir
    root.mkdir(parents=True, exist_ok=True)
    tree = build(now, _read_current(root))
    result = publisher.publish_tree(tree, root, validate=problems)
    if "public" in settings.STORAGES:
        publisher.sync_to_storage(tree, storages["public"])
    build_row = SiteBuild.objects.create(
        digest=result.digest,
        changed=result.changed,
        files=len(tree),
        actor=actor,
        reason=reason[:300],
        at=now,
    )
    log.info(
        "public tree %s (%s): %s",
        result.digest[:12],
        reason,
        "changed" if result.changed else "unchanged",
    )
    return build_row
