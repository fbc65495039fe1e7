"""Django settings for tallylog.

Django's own settings, some from the environment (``DATABASE_URL``, ``TALLYLOG_EMAIL_PORT``,
…) through ``tallylog.config.environ_value``. Tallylog's settings (``TALLYLOG_SEQUENCER_BATCH``
and the rest) are read by ``tallylog.config.config()``: from this module when it defines
them (a deployment's own settings module, or ``override_settings``), else the environment.
Every setting, its default and its system check: docs/configuration.md.
Nothing in tallylog reads the environment or ``django.conf.settings`` at import time.
"""

from __future__ import annotations

from pathlib import Path

from tallylog.config import caches as _caches
from tallylog.config import databases as _databases
from tallylog.config import environ_value as _env
from tallylog.config import proxy_settings as _proxy_settings
from tallylog.home import Home

HOME = Home.from_env()
_secrets = HOME.read_secrets()

BASE_DIR = Path(__file__).resolve().parent
# A bad value in the environment is its default here; its system check (run by every
# command before anything else: tallylog.checks.check_configuration) reports it.
DEBUG = _env("TALLYLOG_DEBUG")
# A missing secret is reported by the system check tallylog.E001 (see tallylog/checks.py);
# commands that need none (keygen, verify) never load Django.
SECRET_KEY = _secrets.get("secret_key") or _env("TALLYLOG_SECRET_KEY")
TALLYLOG_RECEIPT_KEY = _secrets.get("receipt_key") or _env("TALLYLOG_RECEIPT_KEY")
TALLYLOG_HOME = str(HOME.path)

ALLOWED_HOSTS = _env("TALLYLOG_ALLOWED_HOSTS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",  # the admin's CSS and JS, collected into HOME/static by init
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


DATABASES = _databases(HOME.db_path)
DATABASE_ROUTERS = ["tallylog.dbrouter.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Permissions follow a staff member's current role on every request (issue 15.7).
AUTHENTICATION_BACKENDS = ["tallylog.registry.volunteers.permissions.RoleBackend"]

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
# Files Django writes (collectstatic into the home) get the process's umask (0077: private,
# issue 15) and the directory's default ACL (docs/deploy.md lets nginx read static/), not
# Django's default chmod to 0644 (which also reset the ACL mask).
FILE_UPLOAD_PERMISSIONS = None
FILE_UPLOAD_DIRECTORY_PERMISSIONS = None

SESSION_COOKIE_AGE = 8 * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SAMESITE = "Lax"
# Cookies end with the browser session: a phone seized later keeps no trace of the visit
# (issue 15.6). The console's sessions keep their own idle limit (tallylog.safety.sessions).
CSRF_COOKIE_AGE = None
LANGUAGE_COOKIE_AGE = None
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# A failed CSRF check: our page in the reader's language, keeping what they typed.
CSRF_FAILURE_VIEW = "tallylog.web.csrf.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_CONTENT_TYPE_NOSNIFF = True

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = _env("TALLYLOG_EMAIL_HOST")
EMAIL_PORT = _env("TALLYLOG_EMAIL_PORT")
DEFAULT_FROM_EMAIL = _env("TALLYLOG_EMAIL_FROM")
EMAIL_HOST_USER = _env("TALLYLOG_EMAIL_USER")
EMAIL_HOST_PASSWORD = _env("TALLYLOG_EMAIL_PASSWORD")
EMAIL_USE_TLS = _env("TALLYLOG_EMAIL_SECURITY") == "starttls"  # the server's certificate is verified
EMAIL_USE_SSL = _env("TALLYLOG_EMAIL_SECURITY") == "tls"
EMAIL_TIMEOUT = 30  # a relay that stops answering fails the send, never hangs a request

# Rate limits, the daily hashing key, the flood screen, the login throttle: shared by every
# worker, in memory only (Redis with TALLYLOG_CACHE_URL, else a file on tmpfs; safety.md).
CACHES = _caches(HOME.path)

# Behind a proxy (docs/deploy.md): SECURE_PROXY_SSL_HEADER with a trusted proxy; Secure
# cookies and CSRF_TRUSTED_ORIGINS from TALLYLOG_SITE_URL.
_proxy = _proxy_settings()
SECURE_PROXY_SSL_HEADER = _proxy["SECURE_PROXY_SSL_HEADER"]
SESSION_COOKIE_SECURE = _proxy["SESSION_COOKIE_SECURE"]
CSRF_COOKIE_SECURE = _proxy["CSRF_COOKIE_SECURE"]
LANGUAGE_COOKIE_SECURE = _proxy["LANGUAGE_COOKIE_SECURE"]
CSRF_TRUSTED_ORIGINS = _proxy["CSRF_TRUSTED_ORIGINS"]

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
