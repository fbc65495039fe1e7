"""Django settings for tallylog.

This module is the edge where configuration is read from the environment; nothing else in
tallylog reads the environment or ``django.conf.settings`` at import time.

Environment:
  TALLYLOG_HOME       home directory (database, signing key, log); default ./var
  TALLYLOG_DEBUG      "1" for debug pages (never in production)
  TALLYLOG_ALLOWED_HOSTS  comma-separated host names; default localhost,127.0.0.1,[::1]
  DATABASE_URL        postgres://user:pass@host:port/name; default SQLite in the home
  DATABASE_REPLICA_URLS  comma-separated postgres:// URLs of read replicas (docs/deploy.md)
  TALLYLOG_ORIGIN     the log's origin line (used by ``tallylog init`` for a new key)
  TALLYLOG_SEQUENCER_BATCH     entries per sequencer pass (default 4096)
  TALLYLOG_SEQUENCER_INTERVAL  seconds between sequencer passes (default 0.5)
  TALLYLOG_GROUP_COMMIT  "off" writes each declaration in its own transaction (default on;
                      docs/api-submissions.md)
  TALLYLOG_EMAIL_HOST / _PORT / _FROM  SMTP relay for mail (default localhost:25)
  TALLYLOG_SITE_URL   public base URL for links in mail (default http://127.0.0.1:8000)
"""

from __future__ import annotations

import os
from pathlib import Path

from tallylog.home import Home

HOME = Home.from_env()
_secrets = HOME.read_secrets()

BASE_DIR = Path(__file__).resolve().parent
DEBUG = os.environ.get("TALLYLOG_DEBUG") == "1"
# A missing secret is reported by the system check tallylog.E001 (see tallylog/checks.py);
# commands that need none (keygen, verify) never load Django.
SECRET_KEY = _secrets.get("secret_key") or os.environ.get("TALLYLOG_SECRET_KEY", "")
TALLYLOG_RECEIPT_KEY = _secrets.get("receipt_key") or os.environ.get("TALLYLOG_RECEIPT_KEY", "")
TALLYLOG_HOME = str(HOME.path)
TALLYLOG_ORIGIN = os.environ.get("TALLYLOG_ORIGIN", "")
TALLYLOG_SEQUENCER_BATCH = int(os.environ.get("TALLYLOG_SEQUENCER_BATCH", "4096"))
TALLYLOG_SEQUENCER_INTERVAL = float(os.environ.get("TALLYLOG_SEQUENCER_INTERVAL", "0.5"))
TALLYLOG_GROUP_COMMIT = os.environ.get("TALLYLOG_GROUP_COMMIT", "on") != "off"

ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("TALLYLOG_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "tallylog.registry.campaigns",
    "tallylog.registry.entries",
    "tallylog.registry.declarations",
    "tallylog.registry.petitions",
    "tallylog.registry.subscribers",
    "tallylog.registry.news",
    "tallylog.registry.volunteers",
    "tallylog.registry.imports",
    "tallylog.safety",
    "tallylog.web",
    "tallylog.api",
    "tallylog.console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "tallylog.safety.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tallylog.dbrouter.ReplicaReadsMiddleware",
]

ROOT_URLCONF = "tallylog.urls"
WSGI_APPLICATION = "tallylog.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _postgres(url: str, setting: str) -> dict[str, object]:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"{setting}: unsupported scheme {parts.scheme!r} (use postgres://)")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": 60,
    }


def _database() -> dict[str, object]:
    url = os.environ.get("DATABASE_URL", "")
    if url:
        return _postgres(url, "DATABASE_URL")
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(HOME.db_path),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
        },
    }


def _replicas() -> dict[str, dict[str, object]]:
    """``DATABASE_REPLICA_URLS`` (comma-separated postgres:// URLs of hot standbys) as the
    read-only aliases replica1…N that tallylog.dbrouter sends public page reads to."""
    urls = [u.strip() for u in os.environ.get("DATABASE_REPLICA_URLS", "").split(",") if u.strip()]
    if urls and not os.environ.get("DATABASE_URL", ""):
        raise ValueError("DATABASE_REPLICA_URLS needs DATABASE_URL: replicas follow a PostgreSQL primary")
    replicas: dict[str, dict[str, object]] = {}
    for n, url in enumerate(urls, start=1):
        replica = _postgres(url, "DATABASE_REPLICA_URLS")
        # A replica that is down is noticed at connection time (tallylog.dbrouter falls
        # back to default): check a kept connection first, and give up on a new one soon.
        replica.update(CONN_HEALTH_CHECKS=True, OPTIONS={"connect_timeout": 3}, TEST={"MIRROR": "default"})
        replicas[f"replica{n}"] = replica
    return replicas


DATABASES = {"default": _database(), **_replicas()}
DATABASE_ROUTERS = ["tallylog.dbrouter.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [
    ("zh-hans", "简体中文"),
    ("zh-hant", "繁體中文"),
    ("en", "English"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "/static/"
STATIC_ROOT = str(HOME.path / "static")

SESSION_COOKIE_AGE = 8 * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_CONTENT_TYPE_NOSNIFF = True

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = os.environ.get("TALLYLOG_EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("TALLYLOG_EMAIL_PORT", "25"))
# The site's public base URL, for links in mail sent outside a request (tallylog newsletter).
TALLYLOG_SITE_URL = os.environ.get("TALLYLOG_SITE_URL", "http://127.0.0.1:8000")
DEFAULT_FROM_EMAIL = os.environ.get("TALLYLOG_EMAIL_FROM", "tallylog@localhost")

# Safety (docs/safety.md): rate limits ("off" or "scope=N/SECONDS,…"), proxies trusted for
# the client address (which is only ever kept as a keyed hash, in the cache), flood screen.
TALLYLOG_RATE_LIMITS = os.environ.get("TALLYLOG_RATE_LIMITS", "")
TALLYLOG_TRUSTED_PROXIES = int(os.environ.get("TALLYLOG_TRUSTED_PROXIES", "0"))
TALLYLOG_FLOOD_THRESHOLD = int(os.environ.get("TALLYLOG_FLOOD_THRESHOLD", "20"))
TALLYLOG_FLOOD_WINDOW = int(os.environ.get("TALLYLOG_FLOOD_WINDOW", "3600"))

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Logs never carry an IP address: the access log of `tallylog serve` is formatted without one.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"private": {"()": "tallylog.safety.serverlog.PrivateFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["private"]}
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.request": {"level": "ERROR"}, "django.server": {"level": "ERROR"}},
}
