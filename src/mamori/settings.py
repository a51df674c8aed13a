"""Django settings, built from ``mamori.config`` (``MAMORI_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url

from mamori import config as _config

CONFIG = _config.load()
BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = CONFIG.data_dir

SECRET_KEY = CONFIG.secret_key
DEBUG = CONFIG.debug
MAMORI_DEVELOPMENT = CONFIG.development
ALLOWED_HOSTS = list(CONFIG.allowed_hosts)
CSRF_TRUSTED_ORIGINS = list(CONFIG.csrf_trusted_origins)
MAMORI_TRACKING_PREFIX = CONFIG.tracking_prefix
MAMORI_MAX_ATTACHMENT_BYTES = CONFIG.max_attachment_bytes
MAMORI_MAX_BODY_BYTES = CONFIG.max_body_bytes
MAMORI_INTAKE = CONFIG.intake
MAMORI_THREAT_FEEDS = CONFIG.threat_feeds
MAMORI_PUBLISHING = CONFIG.publishing
MAMORI_UPDATES = CONFIG.updates

INSTALLED_APPS = [
    # Mamori first, so its templates (login, password change) win over the admin's.
    "mamori.web",
    "mamori.accounts",
    "mamori.products",
    "mamori.cases",
    "mamori.assessment",
    "mamori.fixes",
    "mamori.releases",
    "mamori.advisories",
    "mamori.updates",
    "mamori.intake",
    "django_tasks",
    "django_tasks_db",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "mamori.web.middleware.ApiJsonErrorsMiddleware",
    "mamori.web.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "mamori.web.middleware.PasswordChangeRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mamori.web.middleware.ErrorPageMiddleware",
]

ROOT_URLCONF = "mamori.urls"
ASGI_APPLICATION = "mamori.asgi.application"
WSGI_APPLICATION = "mamori.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mamori.web.context.mamori",
            ],
        },
    },
]


def _database(url: str) -> dict[str, Any]:
    # Web requests open a connection each; long-running processes (the worker) keep theirs for
    # MAMORI_DB_CONN_MAX_AGE seconds, checked before reuse.
    db: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=CONFIG.db_conn_max_age, conn_health_checks=True)
    )
    if db["ENGINE"] == "django.db.backends.sqlite3":
        Path(db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        db["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
        }
    return db


DATABASES = {"default": _database(CONFIG.database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ja", "日本語")]
TIME_ZONE = CONFIG.time_zone
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

# Background work: a database-backed queue (django-tasks), run by `mamori worker` (DESIGN.md §9).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Outgoing mail (receipts, notices): MAMORI_OUTGOING_SMTP_URL. Without it mail stays queued.
_OUTGOING = CONFIG.intake.outgoing
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = _OUTGOING.host if _OUTGOING else "localhost"
EMAIL_PORT = _OUTGOING.port if _OUTGOING else 25
EMAIL_HOST_USER = _OUTGOING.username if _OUTGOING else ""
EMAIL_HOST_PASSWORD = _OUTGOING.password if _OUTGOING else ""
EMAIL_USE_TLS = bool(_OUTGOING and _OUTGOING.security == "starttls")
EMAIL_USE_SSL = bool(_OUTGOING and _OUTGOING.security == "tls")
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = CONFIG.intake.mail_from

STATIC_URL = "static/"
MEDIA_ROOT = DATA_DIR / "files"
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": None},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The public tree (advisories, CSAF provider directory) is mirrored to object storage when
# MAMORI_PUBLIC_STORAGE_BACKEND names a Django storage (e.g. storages.backends.s3.S3Storage).
if CONFIG.publishing.storage_backend:
    STORAGES["public"] = {
        "BACKEND": CONFIG.publishing.storage_backend,
        "OPTIONS": dict(CONFIG.publishing.storage_options),
    }
# Static files are served from the package by WhiteNoise; no collectstatic step is needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Request limits: bodies beyond these are refused before Django reads them.
DATA_UPLOAD_MAX_MEMORY_SIZE = CONFIG.max_body_bytes
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000

# Security baseline (DESIGN.md §10).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = CONFIG.secure_cookies  # set MAMORI_SECURE_COOKIES=1 behind HTTPS
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "mail.log": {"level": "WARNING"},  # aiosmtpd logs every SMTP command at INFO
        "gnupg": {"level": "ERROR"},  # python-gnupg warns on every unknown-key signature
    },
}
