"""``mamori.config.load`` with explicit environments: secrets, time zone, flags, URLs, sizes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mamori import config
from mamori.config import DEVELOPMENT_SECRET, MIB, ensure_secret_file, load
from mamori.errors import ConfigurationError

GOOD_SECRET = "k" * 20 + "0123456789abcdefXYZ"  # 39 characters, not a known default


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A minimal production environment that loads."""
    return {"MAMORI_DATA_DIR": str(tmp_path / "data"), "MAMORI_SECRET_KEY": GOOD_SECRET}


def _refused(environment: dict[str, str], variable: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        load(environment)
    assert variable in caught.value.message
    return caught.value


# The secret key ------------------------------------------------------------------------------


def test_a_good_environment_loads_with_safe_defaults(env: dict[str, str], tmp_path: Path) -> None:
    loaded = load(env)
    assert loaded.secret_key == GOOD_SECRET
    assert loaded.development is False
    assert loaded.debug is False
    assert loaded.secure_cookies is False
    assert loaded.data_dir == tmp_path / "data"
    assert loaded.database_url == f"sqlite:///{tmp_path / 'data' / 'mamori.sqlite3'}"
    assert loaded.time_zone == "UTC"
    assert loaded.tracking_prefix == "MAMORI"
    assert loaded.max_body_bytes == 2 * MIB
    assert loaded.max_attachment_bytes == 25 * MIB
    assert loaded.allowed_hosts == ("localhost", "127.0.0.1", "[::1]")
    assert loaded.csrf_trusted_origins == ()


def test_a_missing_secret_is_refused_outside_development(env: dict[str, str]) -> None:
    del env["MAMORI_SECRET_KEY"]
    _refused(env, "MAMORI_SECRET_KEY")


def test_an_empty_secret_is_refused_outside_development(env: dict[str, str]) -> None:
    env["MAMORI_SECRET_KEY"] = ""
    _refused(env, "MAMORI_SECRET_KEY")


@pytest.mark.parametrize(
    "secret",
    [
        "changeme",
        "change-me",
        "secret",
        DEVELOPMENT_SECRET,
        "django-insecure-0123456789abcdefghijklmnopqrstuvwxyz0123456789",
    ],
)
def test_a_default_secret_is_refused_outside_development(env: dict[str, str], secret: str) -> None:
    env["MAMORI_SECRET_KEY"] = secret
    _refused(env, "MAMORI_SECRET_KEY")


@pytest.mark.parametrize("length", [1, 16, config.MIN_SECRET_LENGTH - 1])
def test_a_short_secret_is_refused_outside_development(env: dict[str, str], length: int) -> None:
    env["MAMORI_SECRET_KEY"] = "q" * length
    error = _refused(env, "MAMORI_SECRET_KEY")
    assert str(config.MIN_SECRET_LENGTH) in error.message


def test_a_secret_of_the_minimum_length_is_accepted(env: dict[str, str]) -> None:
    env["MAMORI_SECRET_KEY"] = "q" * config.MIN_SECRET_LENGTH
    assert load(env).secret_key == "q" * config.MIN_SECRET_LENGTH


@pytest.mark.parametrize("dev", ["1", "true", "yes", "on", "TRUE", " On "])
def test_development_runs_without_a_secret(env: dict[str, str], dev: str) -> None:
    del env["MAMORI_SECRET_KEY"]
    env["MAMORI_DEV"] = dev
    loaded = load(env)
    assert loaded.development is True
    assert loaded.secret_key == DEVELOPMENT_SECRET


@pytest.mark.parametrize("secret", ["changeme", "short"])
def test_development_accepts_a_default_or_short_secret(env: dict[str, str], secret: str) -> None:
    env["MAMORI_SECRET_KEY"] = secret
    env["MAMORI_DEV"] = "1"
    assert load(env).secret_key == secret


@pytest.mark.parametrize("dev", ["0", "false", "no", "off", ""])
def test_false_values_of_mamori_dev_still_require_a_secret(env: dict[str, str], dev: str) -> None:
    del env["MAMORI_SECRET_KEY"]
    env["MAMORI_DEV"] = dev
    _refused(env, "MAMORI_SECRET_KEY")


# The secret file -----------------------------------------------------------------------------


def test_ensure_secret_file_writes_a_private_random_secret(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    path = ensure_secret_file(data)
    assert path == data / config.SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    secret = path.read_text(encoding="utf-8").strip()
    assert len(secret) >= config.MIN_SECRET_LENGTH
    assert ensure_secret_file(tmp_path / "other") != path
    assert (tmp_path / "other" / config.SECRET_FILE).read_text(encoding="utf-8").strip() != secret


def test_load_reads_the_secret_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = ensure_secret_file(data)
    loaded = load({"MAMORI_DATA_DIR": str(data)})
    assert loaded.secret_key == path.read_text(encoding="utf-8").strip()
    assert loaded.development is False


def test_ensure_secret_file_never_overwrites(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = ensure_secret_file(data)
    first = path.read_text(encoding="utf-8")
    assert ensure_secret_file(data) == path
    assert path.read_text(encoding="utf-8") == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load({"MAMORI_DATA_DIR": str(data)}).secret_key == first.strip()


def test_the_environment_wins_over_the_secret_file(env: dict[str, str]) -> None:
    ensure_secret_file(Path(env["MAMORI_DATA_DIR"]))
    assert load(env).secret_key == GOOD_SECRET


@pytest.mark.parametrize("content", ["", "\n", "changeme\n", "short\n"])
def test_a_weak_secret_file_is_refused(tmp_path: Path, content: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / config.SECRET_FILE).write_text(content, encoding="utf-8")
    _refused({"MAMORI_DATA_DIR": str(data)}, "MAMORI_SECRET_KEY")


# Other variables -----------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "utc+9", "Asia/Tokio", "../etc/passwd"])
def test_an_unknown_time_zone_is_refused(env: dict[str, str], zone: str) -> None:
    env["MAMORI_TIME_ZONE"] = zone
    _refused(env, "MAMORI_TIME_ZONE")


def test_a_known_time_zone_is_accepted(env: dict[str, str]) -> None:
    env["MAMORI_TIME_ZONE"] = "Asia/Tokyo"
    assert load(env).time_zone == "Asia/Tokyo"


@pytest.mark.parametrize("name", ["MAMORI_DEV", "MAMORI_DEBUG", "MAMORI_SECURE_COOKIES"])
@pytest.mark.parametrize("value", ["maybe", "2", "enabled", "y"])
def test_a_bad_boolean_is_refused(env: dict[str, str], name: str, value: str) -> None:
    env[name] = value
    _refused(env, name)


def test_booleans_are_read(env: dict[str, str]) -> None:
    env.update(MAMORI_DEBUG="yes", MAMORI_SECURE_COOKIES="TRUE")
    loaded = load(env)
    assert (loaded.debug, loaded.secure_cookies) == (True, True)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://user:pw@localhost/mamori",
        "oracle://db/mamori",
        "http://example.com/db",
        "mamori.sqlite3",
        "/var/lib/mamori/db.sqlite3",
    ],
)
def test_a_database_url_other_than_sqlite_or_postgres_is_refused(
    env: dict[str, str], url: str
) -> None:
    env["MAMORI_DATABASE_URL"] = url
    _refused(env, "MAMORI_DATABASE_URL")


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/mamori/db.sqlite3",
        "postgres://mamori@db/mamori",
        "postgresql://mamori:pw@db:5432/mamori",
    ],
)
def test_sqlite_and_postgres_urls_are_accepted(env: dict[str, str], url: str) -> None:
    env["MAMORI_DATABASE_URL"] = url
    assert load(env).database_url == url


@pytest.mark.parametrize("name", ["MAMORI_MAX_BODY_BYTES", "MAMORI_MAX_ATTACHMENT_BYTES"])
@pytest.mark.parametrize("value", ["10MB", "lots", "1.5", "1e6", "0x100"])
def test_a_non_numeric_size_is_refused(env: dict[str, str], name: str, value: str) -> None:
    env[name] = value
    _refused(env, name)


@pytest.mark.parametrize("name", ["MAMORI_MAX_BODY_BYTES", "MAMORI_MAX_ATTACHMENT_BYTES"])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_size_must_be_positive(env: dict[str, str], name: str, value: str) -> None:
    env[name] = value
    _refused(env, name)


def test_sizes_are_read(env: dict[str, str]) -> None:
    env.update(MAMORI_MAX_BODY_BYTES="1000", MAMORI_MAX_ATTACHMENT_BYTES=" 5000 ")
    loaded = load(env)
    assert (loaded.max_body_bytes, loaded.max_attachment_bytes) == (1000, 5000)


def test_lists_are_split_and_trimmed(env: dict[str, str]) -> None:
    env.update(
        MAMORI_ALLOWED_HOSTS=" mamori.example , ,psirt.example,",
        MAMORI_CSRF_TRUSTED_ORIGINS="https://mamori.example",
    )
    loaded = load(env)
    assert loaded.allowed_hosts == ("mamori.example", "psirt.example")
    assert loaded.csrf_trusted_origins == ("https://mamori.example",)


def test_the_data_dir_defaults_under_xdg_data_home(tmp_path: Path) -> None:
    loaded = load({"XDG_DATA_HOME": str(tmp_path), "MAMORI_DEV": "1"})
    assert loaded.data_dir == tmp_path / "mamori"


@pytest.mark.parametrize("prefix", ["psirt", "M", "MAMORI\n", "MA-MORI", "A" * 17])
def test_a_bad_tracking_prefix_is_refused_at_start(env: dict[str, str], prefix: str) -> None:
    _refused({**env, "MAMORI_TRACKING_PREFIX": prefix}, "MAMORI_TRACKING_PREFIX")


def test_a_secret_of_spaces_is_refused(env: dict[str, str]) -> None:
    _refused({**env, "MAMORI_SECRET_KEY": " " * 40}, "MAMORI_SECRET_KEY")


# Intake ---------------------------------------------------------------------------------------


def test_intake_defaults_work_on_one_machine(env: dict[str, str], tmp_path: Path) -> None:
    intake = load(env).intake
    assert [a.address for a in intake.addresses] == ["security@localhost"]
    assert (intake.smtp_host, intake.smtp_port) == ("127.0.0.1", 2525)
    assert intake.outgoing is None
    assert intake.mail_from == "security@localhost"
    assert intake.public_url == "http://127.0.0.1:8000"
    assert intake.gnupg_home == tmp_path / "data" / "gnupg"
    assert intake.workdays == frozenset({0, 1, 2, 3, 4})
    assert intake.sla_first_response_days == 1


def test_intake_settings_are_read(env: dict[str, str], tmp_path: Path) -> None:
    holidays = tmp_path / "holidays.txt"
    holidays.write_text("# Japan\n2027-01-01\n")
    env.update(
        MAMORI_SECURITY_ADDRESSES="Security@Example.org, security-ja@example.org=ja",
        MAMORI_OUTGOING_SMTP_URL="smtp+starttls://mamori%40example.org:p%40ss@mail.example.org",
        MAMORI_WORKDAYS="sun-thu",
        MAMORI_HOLIDAYS="2026-12-31",
        MAMORI_HOLIDAYS_FILE=str(holidays),
        MAMORI_SLA_FIRST_RESPONSE_DAYS="0",
        MAMORI_PUBLIC_URL="https://mamori.example.org/",
    )
    intake = load(env).intake
    assert [(a.address, a.language) for a in intake.addresses] == [
        ("security@example.org", "en"),
        ("security-ja@example.org", "ja"),
    ]
    outgoing = intake.outgoing
    assert outgoing is not None
    assert (outgoing.host, outgoing.port, outgoing.security) == (
        "mail.example.org",
        587,
        "starttls",
    )
    assert (outgoing.username, outgoing.password) == ("mamori@example.org", "p@ss")
    assert "p@ss" not in repr(intake)
    assert intake.workdays == frozenset({6, 0, 1, 2, 3})
    assert {str(d) for d in intake.holidays} == {"2026-12-31", "2027-01-01"}
    assert intake.sla_first_response_days == 0
    assert intake.public_url == "https://mamori.example.org"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAMORI_SECURITY_ADDRESSES", "not an address"),
        ("MAMORI_SECURITY_ADDRESSES", "security@example.org=fr"),
        ("MAMORI_SECURITY_ADDRESSES", " , "),
        ("MAMORI_OUTGOING_SMTP_URL", "http://mail.example.org"),
        ("MAMORI_OUTGOING_SMTP_URL", "smtp://mail.example.org:port"),
        ("MAMORI_WORKDAYS", "mon-funday"),
        ("MAMORI_WORKDAYS", ""),
        ("MAMORI_HOLIDAYS", "2026-13-01"),
        ("MAMORI_HOLIDAYS_FILE", "/nonexistent/holidays.txt"),
        ("MAMORI_PUBLIC_URL", "ftp://example.org"),
        ("MAMORI_MAIL_FROM", "nobody"),
        ("MAMORI_SMTP_PORT", "twenty-five"),
        ("MAMORI_SLA_FIRST_RESPONSE_DAYS", "-1"),
        ("MAMORI_DB_CONN_MAX_AGE", "forever"),
    ],
)
def test_bad_intake_settings_are_refused_by_name(
    env: dict[str, str], variable: str, value: str
) -> None:
    env[variable] = value
    _refused(env, variable)


def test_publishing_defaults_follow_the_site_and_the_security_mailbox(
    env: dict[str, str], tmp_path: Path
) -> None:
    env["MAMORI_DATA_DIR"] = str(tmp_path)
    env["MAMORI_SECURITY_ADDRESSES"] = "psirt@example.com"
    pub = load(env).publishing
    assert pub.public_dir == tmp_path / "public"
    assert pub.contact == ("mailto:psirt@example.com",)
    assert pub.advisory_prefix == "MSA"
    assert pub.signing_key == ""
    assert (pub.release_rule.weekday, pub.release_rule.week) == (1, 2)
    assert (pub.release_rule.freeze_days, pub.release_rule.notice_days) == (7, 3)


def test_the_signing_key_is_a_whole_fingerprint(env: dict[str, str]) -> None:
    env["MAMORI_SIGNING_KEY"] = "ab12 " * 10  # spaces as gpg prints them
    assert load(env).publishing.signing_key == "AB12" * 10
    env["MAMORI_SIGNING_KEY"] = "0123456789abcdef0123456789abcdef01234567"
    assert load(env).publishing.signing_key == "0123456789ABCDEF0123456789ABCDEF01234567"
    env["MAMORI_SIGNING_KEY"] = "0123456789ABCDEF"  # a key id is not enough
    with pytest.raises(ConfigurationError, match="MAMORI_SIGNING_KEY"):
        load(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAMORI_ADVISORY_PREFIX", "msa"),
        ("MAMORI_SITE_URL", "ftp://example.com"),
        ("MAMORI_SECURITY_CONTACT", "security@example.com"),
        ("MAMORI_PUBLIC_STORAGE_OPTIONS", "[1, 2]"),
        ("MAMORI_RELEASE_WEEKDAY", "someday"),
        ("MAMORI_RELEASE_WEEK", "5"),
        ("MAMORI_CODE_FREEZE_DAYS", "-1"),
    ],
)
def test_bad_publishing_settings_are_refused_by_name(
    env: dict[str, str], name: str, value: str
) -> None:
    env[name] = value
    with pytest.raises(ConfigurationError, match=name):
        load(env)


def test_the_update_repository_defaults_to_the_data_directory(env: dict[str, str]) -> None:
    updates = load(env).updates
    data = Path(env["MAMORI_DATA_DIR"])
    assert updates.repository_dir == data / "updates" / "repository"
    assert updates.keys_dir == data / "updates" / "keys"
    assert (updates.delta_bases, updates.delta_threshold, updates.compression_level) == (3, 0.7, 19)
    custom = load(
        {
            **env,
            "MAMORI_UPDATES_DIR": "/srv/updates",
            "MAMORI_UPDATE_KEYS_DIR": "/etc/mamori/keys",
            "MAMORI_DELTA_BASES": "0",
            "MAMORI_DELTA_THRESHOLD": "0.5",
        }
    ).updates
    assert custom.repository_dir == Path("/srv/updates/repository")
    assert custom.keys_dir == Path("/etc/mamori/keys")
    assert (custom.delta_bases, custom.delta_threshold) == (0, 0.5)


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("MAMORI_DELTA_THRESHOLD", "seventy", "must be a number"),
        ("MAMORI_DELTA_THRESHOLD", "0", "above 0 and at most 1"),
        ("MAMORI_DELTA_THRESHOLD", "1.5", "above 0 and at most 1"),
        ("MAMORI_DELTA_BASES", "-1", "must be positive"),
        ("MAMORI_BUNDLE_COMPRESSION_LEVEL", "23", "1 to 22"),
    ],
)
def test_bad_update_settings_are_refused(
    env: dict[str, str], variable: str, value: str, problem: str
) -> None:
    assert problem in _refused({**env, variable: value}, variable).message
