"""The public CSAF 2.0 tree of a *CSAF trusted provider* (CSAF 2.0 §7), as paths and bytes.

Pure: documents in, ``{posix path: bytes}`` out; writing, serving and mirroring the tree are
``mamori.advisories.publisher``'s job, and signing is a callable handed in (``GpgSigner.sign``).
Every path starts with ``.well-known/csaf/``::

    .well-known/csaf/provider-metadata.json           requirements 7 and 9
    .well-known/csaf/openpgp/<FINGERPRINT>.asc         requirement 20: the team's public key
    .well-known/csaf/white/index.txt                   requirement 12
    .well-known/csaf/white/changes.csv                 requirement 13
    .well-known/csaf/white/csaf-feed-tlp-white.json    requirement 15: one ROLIE feed per TLP
    .well-known/csaf/white/<YYYY>/<name>.json          requirements 2 and 11
    .well-known/csaf/white/<YYYY>/<name>.json.sha256   requirement 18 (and .sha512)
    .well-known/csaf/white/<YYYY>/<name>.json.asc      requirement 19
    .well-known/csaf/green/...                         the same for TLP:GREEN, when there is any

Which §7.1 requirements the tree meets, and which are left to others:

* By the tree: 2 (file names per §5.1), 4 (TLP:WHITE documents are in the public tree), 5 (in
  part: TLP:AMBER and TLP:RED documents are refused, so they can never land in it; a protected
  channel for them is not built here), 7 (``provider-metadata.json``, checked against the
  OASIS schema shipped in ``mamori/data/csaf``), 9 (its well-known path), 11-13 (year folders,
  ``index.txt``, ``changes.csv``), 15 (ROLIE feeds linking every hash and signature), 18-20
  (SHA-256 and SHA-512 files, a detached OpenPGP signature per document, the public key).
  ``security_txt`` writes the ``CSAF`` field of requirement 8; it is served at
  ``/.well-known/security.txt``.
* By the CSAF builder (``core.csaf``): 1, a valid CSAF document. ``provider_files`` only checks
  that the JSON agrees with the values it files it under (tracking id, dates, TLP label).
* By the web server: 3 (TLS only, no plain-HTTP copy), 6 (no redirects; at most an HTTP header
  redirect), 14 (directory listings enabled for the tree), 10 (the ``csaf.data.security.``
  DNS name, if used), and the "also on a key server" half of 20.
* Optional and not produced: 16 and 17 (ROLIE service and category documents). 21-23 concern
  aggregators and listers, not providers.

Nothing reads the clock: every timestamp comes from the documents (``last_updated`` is the
newest ``current_release``), JSON is written with sorted keys, and lists have a fixed order, so
the same documents and the same signatures give byte-identical trees. OpenPGP signatures carry
their creation time, so signing again gives new bytes; ``reusing_signatures`` keeps the signature
already published for unchanged bytes, which makes republishing an unchanged tree a no-op.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT7

from mamori.core.advisory import Publisher, Tlp
from mamori.core.csaf import filename as csaf_filename_of
from mamori.errors import ConfigurationError, InvalidInput

__all__ = [
    "CSAF_SCHEMA_URL",
    "PUBLIC_TLPS",
    "WELL_KNOWN",
    "CsafDocument",
    "check_tree",
    "provider_files",
    "provider_metadata_problems",
    "reusing_signatures",
    "security_txt",
]

WELL_KNOWN = ".well-known/csaf"
METADATA = "provider-metadata.json"
CSAF_SCHEMA_URL = "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json"
#: TLP labels that may be in the public tree; TLP:AMBER and TLP:RED never are (§7.1.5).
PUBLIC_TLPS = (Tlp.WHITE, Tlp.GREEN)

_FINGERPRINT = re.compile(r"[0-9A-F]{40}|[0-9A-F]{64}")
_ROLIE_CSAF = {"scheme": "urn:ietf:params:rolie:category:information-type", "term": "csaf"}
_ARMORED_SIGNATURE = b"-----BEGIN PGP SIGNATURE-----"
_ARMORED_KEY = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"
_HASHES = ("sha256", "sha512")


@dataclass(frozen=True)
class CsafDocument:
    """One CSAF document as published: ``content`` is the JSON exactly as it goes out."""

    tracking_id: str
    content: bytes
    tlp: Tlp
    initial_release: datetime
    current_release: datetime
    title: str


@dataclass(frozen=True)
class _Entry:
    """A document with where it goes: ``path`` is relative to the TLP folder."""

    document: CsafDocument
    path: str  # "2026/msa-2026-0001.json"
    current: str  # /document/tracking/current_release_date as the document writes it

    @property
    def folder(self) -> str:
        return self.document.tlp.value.lower()


@dataclass(frozen=True)
class _Site:
    base: str  # https://host[/path], no trailing slash
    publisher: Publisher
    fingerprint: str

    def url(self, path: str) -> str:
        return f"{self.base}/{WELL_KNOWN}/{path}"


def provider_files(
    documents: Sequence[CsafDocument],
    *,
    base_url: str,
    publisher: Publisher,
    sign: Callable[[bytes], bytes] | None,
    public_key: bytes | None,
    key_fingerprint: str | None,
    list_on_aggregators: bool = True,
    mirror_on_aggregators: bool = True,
) -> dict[str, bytes]:
    """Every file of the provider's ``.well-known/csaf/`` tree, by posix path.

    ``base_url`` is the site's https URL (``https://psirt.example.com``). Raises
    ``ConfigurationError`` without a signing key (a trusted provider signs, §7.1.19) and
    ``InvalidInput`` for TLP:AMBER or TLP:RED documents and documents that disagree with
    themselves or with each other (a tracking id or file name used twice).
    """
    signer, key, fingerprint = _signing(sign, public_key, key_fingerprint)
    site = _Site(_base_url(base_url), publisher, fingerprint)
    entries = _entries(documents)
    files: dict[str, bytes] = {f"openpgp/{fingerprint}.asc": key}
    for entry in entries:
        files.update(_document_files(entry, signer))
    last_updated = max(entry.document.current_release for entry in entries)
    tlps = [
        tlp
        for tlp in PUBLIC_TLPS
        if tlp is Tlp.WHITE or any(e.document.tlp is tlp for e in entries)
    ]
    for tlp in tlps:
        mine = [entry for entry in entries if entry.document.tlp is tlp]
        files.update(_folder_files(tlp, mine, site, last_updated))
    metadata = _provider_metadata(
        site, tlps, last_updated, list_on_aggregators, mirror_on_aggregators
    )
    problems = provider_metadata_problems(metadata)
    if problems:
        raise InvalidInput({METADATA: "; ".join(problems)})
    files[METADATA] = _json(metadata)
    return {f"{WELL_KNOWN}/{path}": files[path] for path in sorted(files)}


# --- checking the input ----------------------------------------------------------------------


def _signing(
    sign: Callable[[bytes], bytes] | None, public_key: bytes | None, fingerprint: str | None
) -> tuple[Callable[[bytes], bytes], bytes, str]:
    if sign is None:
        raise ConfigurationError(
            "a CSAF trusted provider signs every document, but no signing key is configured: "
            "set MAMORI_SIGNING_KEY to the fingerprint of the team's OpenPGP key and "
            "MAMORI_GNUPG_HOME to the keyring that holds its secret part"
        )
    wanted = "".join((fingerprint or "").split()).upper()
    if not _FINGERPRINT.fullmatch(wanted):
        raise ConfigurationError(
            "the signing key's fingerprint (MAMORI_SIGNING_KEY) must be 40 or 64 hex digits, "
            f"not {fingerprint!r}"
        )
    if not public_key or not public_key.lstrip().startswith(_ARMORED_KEY):
        raise ConfigurationError(
            f"the public part of the signing key {wanted} is missing or not armored; "
            "it is published next to provider-metadata.json (CSAF 2.0 §7.1.20)"
        )
    return sign, public_key, wanted


def _base_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise InvalidInput(
            f"must be an https URL without query or fragment (CSAF 2.0 §7.1.3), not {url!r}",
            field="base_url",
        )
    return url.strip().rstrip("/")


def _entries(documents: Sequence[CsafDocument]) -> list[_Entry]:
    if not documents:
        raise InvalidInput("there is no CSAF document to publish", field="documents")
    entries: list[_Entry] = []
    paths: set[str] = set()
    ids: set[str] = set()
    for document in documents:
        entry = _entry(document)
        if document.tracking_id in ids or entry.path.rpartition("/")[2] in paths:
            raise InvalidInput(
                f"{document.tracking_id}: another document has the same tracking id or file name",
                field="documents",
            )
        ids.add(document.tracking_id)
        paths.add(entry.path.rpartition("/")[2])
        entries.append(entry)
    return sorted(entries, key=lambda e: (e.folder, e.path))


def _entry(document: CsafDocument) -> _Entry:
    name = document.tracking_id
    if document.tlp not in PUBLIC_TLPS:
        raise InvalidInput(
            f"{name}: TLP:{document.tlp.value} documents must never be in the public tree "
            "(CSAF 2.0 §7.1.5); share them over an access-protected channel",
            field="tlp",
        )
    if not name.strip() or csaf_filename_of(name) in {"_.json", ".json"}:
        raise InvalidInput("a CSAF document needs a tracking id", field="tracking_id")
    for label, moment in (
        ("initial", document.initial_release),
        ("current", document.current_release),
    ):
        if moment.utcoffset() is None:
            raise InvalidInput(f"{name}: the {label} release date has no time zone", field="date")
    tracking = _tracking(document)
    initial = _release_date(document, tracking, "initial_release_date", document.initial_release)
    current = _release_date(document, tracking, "current_release_date", document.current_release)
    return _Entry(document, f"{initial[:4]}/{csaf_filename_of(name)}", current)


def _tracking(document: CsafDocument) -> Mapping[str, Any]:
    """``/document/tracking`` of the content, after checking the content agrees with the rest."""
    name = document.tracking_id
    try:
        data = json.loads(document.content)
    except ValueError:
        raise InvalidInput(f"{name}: the content is not JSON", field="content") from None
    section = data.get("document") if isinstance(data, dict) else None
    section = section if isinstance(section, dict) else {}
    tracking = section.get("tracking")
    if not isinstance(tracking, dict) or tracking.get("id") != name:
        raise InvalidInput(f"{name}: /document/tracking/id says otherwise", field="content")
    label = _dig(section, "distribution", "tlp", "label")
    if label is not None and label != document.tlp.value:
        raise InvalidInput(
            f"{name}: the document is labelled TLP:{label}, not TLP:{document.tlp.value}",
            field="tlp",
        )
    return tracking


def _release_date(
    document: CsafDocument, tracking: Mapping[str, Any], key: str, expected: datetime
) -> str:
    value = tracking.get(key)
    try:
        written = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        written = None
    if written is None or written.utcoffset() is None or written != expected:
        raise InvalidInput(
            f"{document.tracking_id}: /document/tracking/{key} is {value!r}, "
            f"not {_timestamp(expected)}",
            field="content",
        )
    assert isinstance(value, str)
    return value


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


# --- building the files ----------------------------------------------------------------------


def _document_files(entry: _Entry, sign: Callable[[bytes], bytes]) -> dict[str, bytes]:
    content = entry.document.content
    path = f"{entry.folder}/{entry.path}"
    name = entry.path.rpartition("/")[2]
    signature = sign(content)
    if not signature.lstrip().startswith(_ARMORED_SIGNATURE):
        raise ConfigurationError(
            f"the signing key gave no armored OpenPGP signature for {entry.document.tracking_id}"
        )
    files = {path: content, f"{path}.asc": signature}
    for algorithm in _HASHES:
        digest = hashlib.new(algorithm, content).hexdigest()
        files[f"{path}.{algorithm}"] = f"{digest}  {name}\n".encode("ascii")
    return files


def _folder_files(
    tlp: Tlp, entries: Sequence[_Entry], site: _Site, last_updated: datetime
) -> dict[str, bytes]:
    folder = tlp.value.lower()
    index = "".join(f"{entry.path}\n" for entry in entries)
    newest_first = sorted(entries, key=lambda e: (-e.document.current_release.timestamp(), e.path))
    changes = io.StringIO()
    writer = csv.writer(changes, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerows((entry.path, entry.current) for entry in newest_first)
    feed = _feed(tlp, newest_first, site, last_updated)
    return {
        f"{folder}/index.txt": index.encode("utf-8"),
        f"{folder}/changes.csv": changes.getvalue().encode("utf-8"),
        _feed_path(tlp): _json(feed),
    }


def _feed_path(tlp: Tlp) -> str:
    folder = tlp.value.lower()
    return f"{folder}/csaf-feed-tlp-{folder}.json"


def _feed(tlp: Tlp, entries: Sequence[_Entry], site: _Site, last_updated: datetime) -> Any:
    """The ROLIE feed of one TLP label (RFC 8322 in JSON, as in CSAF 2.0 example 130)."""
    updated = max((e.document.current_release for e in entries), default=last_updated)
    return {
        "feed": {
            "id": f"{_slug(site.publisher.name)}-csaf-feed-tlp-{tlp.value.lower()}",
            "title": f"{site.publisher.name} CSAF feed (TLP:{tlp.value})",
            "link": [{"rel": "self", "href": site.url(_feed_path(tlp))}],
            "category": [_ROLIE_CSAF],
            "updated": _timestamp(updated),
            "entry": [_feed_entry(entry, site) for entry in entries],
        }
    }


def _feed_entry(entry: _Entry, site: _Site) -> Any:
    url = site.url(f"{entry.folder}/{entry.path}")
    links = [{"rel": "self", "href": url}]
    links += [{"rel": "hash", "href": f"{url}.{algorithm}"} for algorithm in _HASHES]
    links.append({"rel": "signature", "href": f"{url}.asc"})
    return {
        "id": entry.document.tracking_id,
        "title": entry.document.title,
        "link": links,
        "published": _timestamp(entry.document.initial_release),
        "updated": _timestamp(entry.document.current_release),
        "summary": {"content": entry.document.title},
        "content": {"type": "application/json", "src": url},
        "format": {"schema": CSAF_SCHEMA_URL, "version": "2.0"},
    }


def _provider_metadata(
    site: _Site, tlps: Sequence[Tlp], last_updated: datetime, listed: bool, mirrored: bool
) -> dict[str, Any]:
    publisher: dict[str, Any] = {
        "category": site.publisher.category,
        "name": site.publisher.name,
        "namespace": site.publisher.namespace,
    }
    if site.publisher.contact:
        publisher["contact_details"] = site.publisher.contact
    distributions = [
        {
            "directory_url": site.url(f"{tlp.value.lower()}/"),
            "rolie": {
                "feeds": [
                    {
                        "summary": f"All TLP:{tlp.value} advisories of {site.publisher.name}.",
                        "tlp_label": tlp.value,
                        "url": site.url(_feed_path(tlp)),
                    }
                ]
            },
        }
        for tlp in tlps
    ]
    return {
        "canonical_url": site.url(METADATA),
        "distributions": distributions,
        "last_updated": _timestamp(last_updated),
        "list_on_CSAF_aggregators": listed,
        "metadata_version": "2.0",
        "mirror_on_CSAF_aggregators": mirrored,
        "public_openpgp_keys": [
            {"fingerprint": site.fingerprint, "url": site.url(f"openpgp/{site.fingerprint}.asc")}
        ],
        "publisher": publisher,
        "role": "csaf_trusted_provider",
    }


def _timestamp(moment: datetime) -> str:
    """UTC, RFC 3339 with a ``Z``: ``2026-03-10T09:00:00Z``."""
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "csaf"


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


# --- the provider metadata schema ------------------------------------------------------------


def _schema(*parts: str) -> Any:
    path = resources.files("mamori").joinpath("data", "csaf", *parts)
    return json.loads(path.read_text("utf-8"))


@functools.cache
def _metadata_validator() -> Draft202012Validator:
    """OASIS's provider schema, with the CSAF schema it refers to, offline."""
    cvss = "https://www.first.org/cvss/"
    registry: Registry[Any] = Registry().with_resources(
        [
            (CSAF_SCHEMA_URL, Resource.from_contents(_schema("csaf_json_schema.json"))),
            (
                cvss + "cvss-v2.0.json",
                DRAFT4.create_resource(_schema("referenced", "cvss-v2.0.json")),
            ),
            (
                cvss + "cvss-v3.0.json",
                DRAFT7.create_resource(_schema("referenced", "cvss-v3.0.json")),
            ),
            (
                cvss + "cvss-v3.1.json",
                DRAFT7.create_resource(_schema("referenced", "cvss-v3.1.json")),
            ),
        ]
    )
    schema = _schema("provider_json_schema.json")
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry)


def provider_metadata_problems(metadata: Any) -> list[str]:
    """What the OASIS provider schema finds wrong with ``metadata``, as ``path: message``."""
    errors = sorted(_metadata_validator().iter_errors(metadata), key=lambda e: list(e.path))
    return [f"/{'/'.join(map(str, error.path))}: {error.message}" for error in errors]


# --- checking a whole tree -------------------------------------------------------------------


def check_tree(tree: Mapping[str, bytes]) -> list[str]:
    """What is wrong with a provider tree, e.g. as read back from disk before it goes live.

    Checks the metadata against its schema, that every feed, key, entry link and index line
    points at a file of the tree, that every hash file matches, and that no TLP:AMBER or
    TLP:RED feed or folder is present. Suitable as ``publish_tree``'s ``validate``.
    """
    raw = tree.get(f"{WELL_KNOWN}/{METADATA}")
    if raw is None:
        return [f"{WELL_KNOWN}/{METADATA} is missing"]
    try:
        metadata = json.loads(raw)
    except ValueError:
        return [f"{WELL_KNOWN}/{METADATA} is not JSON"]
    problems = provider_metadata_problems(metadata)
    if problems:
        return [f"{METADATA}{problem}" for problem in problems]
    prefix = str(metadata["canonical_url"]).removesuffix(METADATA)
    local = _Resolver(tree, prefix, problems)
    for key in metadata.get("public_openpgp_keys", []):
        local.path(key["url"])
    for distribution in metadata.get("distributions", []):
        for feed in _dig(distribution, "rolie", "feeds") or []:
            if feed["tlp_label"] not in {tlp.value for tlp in PUBLIC_TLPS}:
                problems.append(f"a TLP:{feed['tlp_label']} feed must not be public")
            _check_feed(local, local.path(feed["url"]))
    problems += _folder_problems(tree)
    return problems


@dataclass
class _Resolver:
    tree: Mapping[str, bytes]
    prefix: str  # the URL of .well-known/csaf/
    problems: list[str]

    def path(self, url: str) -> str | None:
        if not url.startswith(self.prefix):
            self.problems.append(f"{url} is outside {self.prefix}")
            return None
        path = f"{WELL_KNOWN}/{url.removeprefix(self.prefix)}"
        if path not in self.tree:
            self.problems.append(f"{url} points at no file of the tree")
            return None
        return path


def _check_feed(local: _Resolver, path: str | None) -> None:
    if path is None:
        return
    try:
        entries = json.loads(local.tree[path])["feed"]["entry"]
    except (ValueError, KeyError, TypeError):
        local.problems.append(f"{path} is not a ROLIE feed")
        return
    try:
        for entry in entries:
            links = {(str(link["rel"]), str(link["href"])) for link in entry["link"]}
            if not {"self", "hash", "signature"} <= {rel for rel, _ in links}:
                local.problems.append(f"{path}: {entry['id']} lacks a self, hash or signature link")
            for _, href in sorted(links):
                local.path(href)
    except (KeyError, TypeError):
        local.problems.append(f"{path} has an entry without an id or links")


def _folder_problems(tree: Mapping[str, bytes]) -> list[str]:
    problems = []
    for path, content in sorted(tree.items()):
        relative = path.removeprefix(f"{WELL_KNOWN}/")
        folder = relative.partition("/")[0]
        if folder.upper() in {Tlp.AMBER.value, Tlp.RED.value}:
            problems.append(f"{path}: TLP:{folder.upper()} must not be in the public tree")
        algorithm = relative.rpartition(".")[2]
        if algorithm in _HASHES:
            document = tree.get(path.removesuffix(f".{algorithm}"), b"")
            expected = hashlib.new(algorithm, document).hexdigest()
            if content.split(b" ", 1)[0].strip().decode("ascii", "replace") != expected:
                problems.append(f"{path} does not match its document")
        if relative.endswith("/index.txt"):
            base = path.removesuffix("index.txt")
            for line in content.decode("utf-8", "replace").splitlines():
                if f"{base}{line}" not in tree:
                    problems.append(f"{path} lists {line}, which is not in the tree")
    return problems


# --- idempotent signing ----------------------------------------------------------------------


def reusing_signatures(
    previous: Mapping[str, bytes], sign: Callable[[bytes], bytes], *, key_fingerprint: str
) -> Callable[[bytes], bytes]:
    """``sign``, except that bytes the previous tree already published with a signature by the
    same key get that signature again, so an unchanged document gives an unchanged tree."""
    wanted = "".join(key_fingerprint.split()).upper()
    known: dict[str, bytes] = {}
    try:
        metadata = json.loads(previous.get(f"{WELL_KNOWN}/{METADATA}", b"{}"))
        keys = [key.get("fingerprint", "").upper() for key in metadata["public_openpgp_keys"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        keys = []
    if keys == [wanted]:
        for path, content in previous.items():
            signature = previous.get(f"{path}.asc")
            if path.endswith(".json") and signature is not None:
                known[hashlib.sha256(content).hexdigest()] = signature

    def signing(content: bytes) -> bytes:
        return known.get(hashlib.sha256(content).hexdigest()) or sign(content)

    return signing


# --- security.txt ----------------------------------------------------------------------------


def security_txt(
    *,
    contact: Sequence[str],
    expires: datetime,
    provider_metadata_url: str,
    policy_url: str = "",
    encryption_url: str = "",
    preferred_languages: Sequence[str] = ("en", "ja"),
    canonical: str,
) -> bytes:
    """``/.well-known/security.txt`` (RFC 9116) with the ``CSAF`` field (CSAF 2.0 §7.1.8).

    A bare e-mail address in ``contact`` becomes a ``mailto:`` URI. Web URIs must be https.
    """
    if not contact:
        raise InvalidInput("security.txt needs at least one contact", field="contact")
    if expires.utcoffset() is None:
        raise InvalidInput("the expiry date needs a time zone", field="expires")
    if not provider_metadata_url.endswith(f"/{METADATA}"):
        raise InvalidInput(f"must point at {METADATA}", field="provider_metadata_url")
    lines = [f"Contact: {_contact(value)}" for value in contact]
    lines.append(f"Expires: {_timestamp(expires.replace(microsecond=0))}")
    if encryption_url:
        lines.append(f"Encryption: {_uri(encryption_url, 'encryption_url')}")
    if preferred_languages:
        lines.append(f"Preferred-Languages: {', '.join(preferred_languages)}")
    lines.append(f"Canonical: {_https(canonical, 'canonical')}")
    if policy_url:
        lines.append(f"Policy: {_https(policy_url, 'policy_url')}")
    lines.append(f"CSAF: {_https(provider_metadata_url, 'provider_metadata_url')}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _contact(value: str) -> str:
    value = value.strip()
    if re.fullmatch(r"[^@\s:/]+@[^@\s/]+", value):
        return f"mailto:{value}"
    if value.startswith(("mailto:", "tel:")):
        return _uri(value, "contact")
    return _https(value, "contact")


def _https(value: str, field: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidInput(f"must be an https URL, not {value!r}", field=field)
    return _uri(value, field)


def _uri(value: str, field: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:\S+", value):
        raise InvalidInput(f"must be a URI, not {value!r}", field=field)
    return value
