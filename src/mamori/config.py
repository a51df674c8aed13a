"""Configuration from ``MAMORI_*`` environment variables, read once, before Django starts.

No Django here: the CLI reads the configuration to prepare the data directory and the secret key
before it sets Django up, and ``mamori.settings`` turns the result into Django settings.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mamori.core.calendar import TrainRule, parse_rule
from mamori.core.sla import parse_holidays, parse_workdays
from mamori.core.tracking import TrackingId
from mamori.errors import ConfigurationError, InvalidInput

#: The secret used only in development mode; refused anywhere else.
DEVELOPMENT_SECRET = "mamori-development-only-insecure-secret-key-0000"  # noqa: S105 - refused outside development
_KNOWN_DEFAULTS = frozenset({"", "changeme", "change-me", "secret", DEVELOPMENT_SECRET})
SECRET_FILE = "secret_key"  # noqa: S105 - a file name
MIN_SECRET_LENGTH = 32
MIB = 1024 * 1024


@dataclass(frozen=True)
class SecurityAddress:
    """An address the security mailbox answers to, and the language of its receipts."""

    address: str
    language: str = "en"


@dataclass(frozen=True)
class OutgoingMail:
    """Where receipts and notices are sent through (``MAMORI_OUTGOING_SMTP_URL``)."""

    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    security: str = "none"  # none | starttls | tls


@dataclass(frozen=True)
class Intake:
    """Everything about receiving reports: mail in and out, the SLA, abuse limits."""

    addresses: tuple[SecurityAddress, ...]
    smtp_host: str
    smtp_port: int
    max_message_bytes: int
    outgoing: OutgoingMail | None
    mail_from: str
    public_url: str
    imap_url: str = field(repr=False)
    imap_ca_file: str
    imap_poll_seconds: int
    gnupg_home: Path
    gpg_passphrase: str = field(repr=False)
    sla_first_response_days: int = 1
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    holidays: frozenset[date] = frozenset()
    report_limit_per_ip: int = 10  # web form and portal submissions per hour
    report_limit_per_address: int = 5
    needs_info_close_days: int = 30


KEV_URL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
EPSS_URL = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"


@dataclass(frozen=True)
class ThreatFeeds:
    """Where CISA KEV and FIRST EPSS come from, how often, and when EPSS raises a priority."""

    kev_url: str = KEV_URL
    epss_url: str = EPSS_URL
    import_hours: int = 24  # 0: only on demand (``mamori assess import-kev/import-epss``)
    epss_threshold: float = 0.1


@dataclass(frozen=True)
class Publishing:
    """The public side: release calendar, advisories, the signed static tree and where it goes."""

    public_dir: Path  # the published static tree (``current`` is swapped in atomically)
    site_url: str  # where the public tree is served, e.g. https://www.example.com
    vendor: str  # the vendor name in advisories and CVE records
    publisher_name: str
    publisher_namespace: str
    contact: tuple[str, ...]  # security.txt Contact: mailto:/https: URIs
    advisory_prefix: str
    signing_key: str  # the fingerprint of the team key that signs CSAF documents
    release_rule: TrainRule
    cve_org: str = ""  # CVE Services: the CNA's short name
    cve_org_id: str = ""  # the CNA's UUID (providerMetadata.orgId)
    cve_user: str = ""
    cve_api_key: str = field(default="", repr=False)
    cve_url: str = ""  # CVE Services API base URL; empty: cvelib's production service
    storage_backend: str = ""  # a Django storage class to mirror the tree to (object storage)
    storage_options: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Updates:
    """The update repository (DESIGN.md §7): where it lives, its keys, and how deltas are made."""

    repository_dir: Path  # the static TUF tree: metadata/ and targets/
    keys_dir: Path  # the online keys (targets, bins, snapshot, timestamp); 0700
    content_dir: Path  # every published version's files, for computing deltas
    delta_bases: int = 3  # deltas from the N most recent earlier versions
    delta_threshold: float = 0.7  # a delta is published only below this share of the bundle
    compression_level: int = 19


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    secret_key: str
    development: bool
    debug: bool
    allowed_hosts: tuple[str, ...]
    csrf_trusted_origins: tuple[str, ...]
    time_zone: str
    tracking_prefix: str
    max_body_bytes: int
    max_attachment_bytes: int
    secure_cookies: bool
    intake: Intake
    publishing: Publishing
    updates: Updates
    db_conn_max_age: int = 0
    threat_feeds: ThreatFeeds = ThreatFeeds()


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in {"", "0", "false", "no", "off"}:
        return False
    if value in {"1", "true", "yes", "on"}:
        return True
    raise ConfigurationError(f"{name} must be true or false, not {value!r}")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive")
    return value


def _nonnegative(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if raw == "0":
        return 0
    return _int(env, name, default)


def _list(env: Mapping[str, str], name: str, default: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, default).split(",") if item.strip())


def default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mamori"


def _secret(env: Mapping[str, str], data_dir: Path, development: bool) -> str:
    key = env.get("MAMORI_SECRET_KEY", "").strip()
    if not key:
        path = data_dir / SECRET_FILE
        key = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    if not key and development:
        return DEVELOPMENT_SECRET
    if key in _KNOWN_DEFAULTS or key.startswith("django-insecure"):
        if development:
            return key or DEVELOPMENT_SECRET
        raise ConfigurationError(
            "refusing to start with a default secret key: set MAMORI_SECRET_KEY, run "
            "`mamori bootstrap` to generate one in the data directory, or set MAMORI_DEV=1 "
            "for development"
        )
    if len(key) < MIN_SECRET_LENGTH and not development:
        raise ConfigurationError(f"MAMORI_SECRET_KEY must be at least {MIN_SECRET_LENGTH} chars")
    return key


def _prefix(value: str) -> str:
    try:
        return TrackingId.check_prefix(value)
    except InvalidInput:
        raise ConfigurationError(
            f"MAMORI_TRACKING_PREFIX must be 2-16 capital letters or digits, not {value!r}"
        ) from None


def load(env: Mapping[str, str] | None = None) -> Config:
    """Read the configuration; raise ``ConfigurationError`` naming the variable that is wrong."""
    env = os.environ if env is None else env
    development = _flag(env, "MAMORI_DEV")
    data_dir = Path(env.get("MAMORI_DATA_DIR") or default_data_dir(env)).expanduser()
    time_zone = env.get("MAMORI_TIME_ZONE", "UTC")
    if time_zone not in zoneinfo.available_timezones():
        raise ConfigurationError(f"MAMORI_TIME_ZONE: unknown time zone {time_zone!r}")
    database_url = env.get("MAMORI_DATABASE_URL", "") or f"sqlite:///{data_dir / 'mamori.sqlite3'}"
    if not database_url.startswith(("sqlite://", "postgres://", "postgresql://")):
        raise ConfigurationError("MAMORI_DATABASE_URL must be a sqlite:// or postgresql:// URL")
    return Config(
        data_dir=data_dir,
        database_url=database_url,
        secret_key=_secret(env, data_dir, development),
        development=development,
        debug=_flag(env, "MAMORI_DEBUG"),
        allowed_hosts=_list(env, "MAMORI_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]"),
        csrf_trusted_origins=_list(env, "MAMORI_CSRF_TRUSTED_ORIGINS", ""),
        time_zone=time_zone,
        tracking_prefix=_prefix(env.get("MAMORI_TRACKING_PREFIX", "MAMORI")),
        max_body_bytes=_int(env, "MAMORI_MAX_BODY_BYTES", 2 * MIB),
        max_attachment_bytes=_int(env, "MAMORI_MAX_ATTACHMENT_BYTES", 25 * MIB),
        secure_cookies=_flag(env, "MAMORI_SECURE_COOKIES"),
        intake=_intake(env, data_dir),
        db_conn_max_age=_nonnegative(env, "MAMORI_DB_CONN_MAX_AGE", 0),
        threat_feeds=_threat_feeds(env),
        publishing=_publishing(env, data_dir, time_zone),
        updates=_updates(env, data_dir),
    )


def _feed_url(env: Mapping[str, str], name: str, default: str) -> str:
    url = env.get(name, "").strip() or default
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ConfigurationError(f"{name} must be an http(s) URL, not {url!r}")
    return url


def _threat_feeds(env: Mapping[str, str]) -> ThreatFeeds:
    raw = env.get("MAMORI_EPSS_THRESHOLD", "").strip() or "0.1"
    try:
        threshold = float(raw)
    except ValueError:
        raise ConfigurationError(f"MAMORI_EPSS_THRESHOLD must be a number, not {raw!r}") from None
    if not 0 < threshold <= 1:
        raise ConfigurationError("MAMORI_EPSS_THRESHOLD must be a probability above 0, up to 1")
    return ThreatFeeds(
        kev_url=_feed_url(env, "MAMORI_KEV_URL", KEV_URL),
        epss_url=_feed_url(env, "MAMORI_EPSS_URL", EPSS_URL),
        import_hours=_nonnegative(env, "MAMORI_THREAT_IMPORT_HOURS", 24),
        epss_threshold=threshold,
    )


def _addresses(env: Mapping[str, str]) -> tuple[SecurityAddress, ...]:
    """``security@example.org, security-ja@example.org=ja``: the mailbox's addresses."""
    found = []
    for item in _list(env, "MAMORI_SECURITY_ADDRESSES", "security@localhost"):
        address, _, language = item.partition("=")
        address = address.strip().lower()
        language = language.strip().lower() or "en"
        if parseaddr(address)[1] != address or "@" not in address:
            raise ConfigurationError(f"MAMORI_SECURITY_ADDRESSES: not an address: {address!r}")
        if language not in ("en", "ja"):
            raise ConfigurationError(
                f"MAMORI_SECURITY_ADDRESSES: language must be en or ja ({item})"
            )
        found.append(SecurityAddress(address, language))
    if not found:
        raise ConfigurationError("MAMORI_SECURITY_ADDRESSES must name at least one address")
    return tuple(found)


_OUTGOING_SCHEMES = {
    "smtp": ("none", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}


def _outgoing(env: Mapping[str, str]) -> OutgoingMail | None:
    """``smtp://host:25``, ``smtp+starttls://user:pass@host:587`` or ``smtps://…:465``."""
    url = env.get("MAMORI_OUTGOING_SMTP_URL", "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in _OUTGOING_SCHEMES or not parts.hostname:
        raise ConfigurationError(
            "MAMORI_OUTGOING_SMTP_URL must look like smtp://host:25, "
            "smtp+starttls://user:password@host:587 or smtps://user:password@host:465"
        )
    security, default_port = _OUTGOING_SCHEMES[parts.scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise ConfigurationError("MAMORI_OUTGOING_SMTP_URL: the port is not a number") from None
    return OutgoingMail(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        security=security,
    )


def _calendar(env: Mapping[str, str]) -> tuple[frozenset[int], frozenset[date]]:
    try:
        workdays = parse_workdays(env.get("MAMORI_WORKDAYS", "mon-fri"))
    except InvalidInput as error:
        raise ConfigurationError(f"MAMORI_WORKDAYS: {error.message}") from None
    text = env.get("MAMORI_HOLIDAYS", "")
    holidays_file = env.get("MAMORI_HOLIDAYS_FILE", "").strip()
    if holidays_file:
        try:
            text += "\n" + Path(holidays_file).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigurationError(f"MAMORI_HOLIDAYS_FILE: {error.strerror}") from None
    try:
        holidays = parse_holidays(text)
    except InvalidInput as error:
        raise ConfigurationError(f"MAMORI_HOLIDAYS: {error.message}") from None
    return workdays, holidays


def _public_url(env: Mapping[str, str]) -> str:
    url = env.get("MAMORI_PUBLIC_URL", "").strip().rstrip("/") or "http://127.0.0.1:8000"
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ConfigurationError(f"MAMORI_PUBLIC_URL must be an http(s) URL, not {url!r}")
    return url


def _intake(env: Mapping[str, str], data_dir: Path) -> Intake:
    addresses = _addresses(env)
    workdays, holidays = _calendar(env)
    mail_from = env.get("MAMORI_MAIL_FROM", "").strip() or addresses[0].address
    if "@" not in parseaddr(mail_from)[1]:
        raise ConfigurationError(f"MAMORI_MAIL_FROM: not an address: {mail_from!r}")
    return Intake(
        addresses=addresses,
        smtp_host=env.get("MAMORI_SMTP_HOST", "127.0.0.1"),
        smtp_port=_int(env, "MAMORI_SMTP_PORT", 2525),
        max_message_bytes=_int(env, "MAMORI_MAX_MESSAGE_BYTES", 40 * MIB),
        outgoing=_outgoing(env),
        mail_from=mail_from,
        public_url=_public_url(env),
        imap_url=env.get("MAMORI_IMAP_URL", "").strip(),
        imap_ca_file=env.get("MAMORI_IMAP_CA_FILE", "").strip(),
        imap_poll_seconds=_int(env, "MAMORI_IMAP_POLL_SECONDS", 60),
        gnupg_home=Path(env.get("MAMORI_GNUPG_HOME") or data_dir / "gnupg").expanduser(),
        gpg_passphrase=env.get("MAMORI_GPG_PASSPHRASE", ""),
        sla_first_response_days=_nonnegative(env, "MAMORI_SLA_FIRST_RESPONSE_DAYS", 1),
        workdays=workdays,
        holidays=holidays,
        report_limit_per_ip=_int(env, "MAMORI_REPORT_LIMIT_PER_IP", 10),
        report_limit_per_address=_int(env, "MAMORI_REPORT_LIMIT_PER_ADDRESS", 5),
        needs_info_close_days=_int(env, "MAMORI_NEEDS_INFO_CLOSE_DAYS", 30),
    )


def ensure_secret_file(data_dir: Path) -> Path:
    """Create the data directory and a random secret key file (mode 0600) if there is none."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / SECRET_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
    return path


_ADVISORY_PREFIX = re.compile(r"[A-Z][A-Z0-9]{1,15}")
_FINGERPRINT = re.compile(r"[0-9A-F]{40}|[0-9A-F]{64}")


def _https_or_http(env: Mapping[str, str], name: str, default: str) -> str:
    url = env.get(name, "").strip().rstrip("/") or default
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ConfigurationError(f"{name} must be an http(s) URL, not {url!r}")
    return url


def _contacts(env: Mapping[str, str]) -> tuple[str, ...]:
    given = _list(env, "MAMORI_SECURITY_CONTACT", "")
    if not given:
        given = tuple(f"mailto:{a.address}" for a in _addresses(env))
    for uri in given:
        if not uri.startswith(("mailto:", "https://", "http://", "tel:")):
            raise ConfigurationError(
                f"MAMORI_SECURITY_CONTACT: {uri!r} must be a mailto:, https: or tel: URI"
            )
    return given


def _updates(env: Mapping[str, str], data_dir: Path) -> Updates:
    base = Path(env.get("MAMORI_UPDATES_DIR") or data_dir / "updates").expanduser()
    raw = env.get("MAMORI_DELTA_THRESHOLD", "").strip() or "0.7"
    try:
        threshold = float(raw)
    except ValueError:
        raise ConfigurationError(f"MAMORI_DELTA_THRESHOLD must be a number, not {raw!r}") from None
    if not 0 < threshold <= 1:
        raise ConfigurationError("MAMORI_DELTA_THRESHOLD must be above 0 and at most 1")
    level = _int(env, "MAMORI_BUNDLE_COMPRESSION_LEVEL", 19)
    if level > 22:
        raise ConfigurationError("MAMORI_BUNDLE_COMPRESSION_LEVEL must be 1 to 22")
    return Updates(
        repository_dir=base / "repository",
        keys_dir=Path(env.get("MAMORI_UPDATE_KEYS_DIR") or base / "keys").expanduser(),
        content_dir=base / "content",
        delta_bases=_nonnegative(env, "MAMORI_DELTA_BASES", 3),
        delta_threshold=threshold,
        compression_level=level,
    )


def _publishing(env: Mapping[str, str], data_dir: Path, time_zone: str) -> Publishing:
    site_url = _https_or_http(env, "MAMORI_SITE_URL", _public_url(env))
    prefix = env.get("MAMORI_ADVISORY_PREFIX", "").strip() or "MSA"
    if not _ADVISORY_PREFIX.fullmatch(prefix):
        raise ConfigurationError(
            f"MAMORI_ADVISORY_PREFIX must be 2-16 capital letters or digits, not {prefix!r}"
        )
    signing_key = env.get("MAMORI_SIGNING_KEY", "").strip().replace(" ", "").upper()
    if signing_key and not _FINGERPRINT.fullmatch(signing_key):
        raise ConfigurationError(
            "MAMORI_SIGNING_KEY must be the full fingerprint of the team's OpenPGP key "
            "(40 or 64 hex digits)"
        )
    options_text = env.get("MAMORI_PUBLIC_STORAGE_OPTIONS", "").strip() or "{}"
    try:
        options = json.loads(options_text)
    except ValueError:
        raise ConfigurationError("MAMORI_PUBLIC_STORAGE_OPTIONS must be a JSON object") from None
    if not isinstance(options, dict):
        raise ConfigurationError("MAMORI_PUBLIC_STORAGE_OPTIONS must be a JSON object")
    vendor = env.get("MAMORI_VENDOR", "").strip() or "Mamori"
    cve_url = env.get("MAMORI_CVE_API_URL", "").strip()
    if cve_url:
        cve_url = _https_or_http(env, "MAMORI_CVE_API_URL", "")
    return Publishing(
        public_dir=Path(env.get("MAMORI_PUBLIC_DIR") or data_dir / "public").expanduser(),
        site_url=site_url,
        vendor=vendor,
        publisher_name=env.get("MAMORI_PUBLISHER_NAME", "").strip() or f"{vendor} PSIRT",
        publisher_namespace=_https_or_http(env, "MAMORI_PUBLISHER_NAMESPACE", site_url),
        contact=_contacts(env),
        advisory_prefix=prefix,
        signing_key=signing_key,
        release_rule=parse_rule(
            weekday=env.get("MAMORI_RELEASE_WEEKDAY", "tuesday"),
            week=env.get("MAMORI_RELEASE_WEEK", "2"),
            at=env.get("MAMORI_RELEASE_TIME", "10:00"),
            zone=env.get("MAMORI_RELEASE_TIME_ZONE", "") or time_zone,
            freeze_days=env.get("MAMORI_CODE_FREEZE_DAYS", "7"),
            notice_days=env.get("MAMORI_ADVANCE_NOTICE_DAYS", "3"),
        ),
        cve_org=env.get("MAMORI_CVE_ORG", "").strip(),
        cve_org_id=env.get("MAMORI_CVE_ORG_ID", "").strip(),
        cve_user=env.get("MAMORI_CVE_USER", "").strip(),
        cve_api_key=env.get("MAMORI_CVE_API_KEY", "").strip(),
        cve_url=cve_url,
        storage_backend=env.get("MAMORI_PUBLIC_STORAGE_BACKEND", "").strip(),
        storage_options=options,
    )
