"""Configuration from ``MAMORI_*`` environment variables, read once, before Django starts.

No Django here: the CLI reads the configuration to prepare the data directory and the secret key
before it sets Django up, and ``mamori.settings`` turns the result into Django settings.
"""

from __future__ import annotations

import os
import secrets
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mamori.core.tracking import TrackingId
from mamori.errors import ConfigurationError, InvalidInput

#: The secret used only in development mode; refused anywhere else.
DEVELOPMENT_SECRET = "mamori-development-only-insecure-secret-key-0000"  # noqa: S105 - refused outside development
_KNOWN_DEFAULTS = frozenset({"", "changeme", "change-me", "secret", DEVELOPMENT_SECRET})
SECRET_FILE = "secret_key"  # noqa: S105 - a file name
MIN_SECRET_LENGTH = 32
MIB = 1024 * 1024


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
