"""The one configuration object: every setting tallylog reads, with its default, parser and
system check, in one place (docs/configuration.md is its table).

Two kinds of settings, both listed in ``SETTINGS``:

- Tallylog's own (``Config``'s fields): read by ``config()``, once, from the Django setting
  of the same name when the settings module (or ``override_settings``) defines it, else from
  the environment variable, else the default. Code reads ``config().sequencer_batch``, never
  ``django.conf.settings`` or ``os.environ``.
- Django's (``DJANGO_ENVIRONMENT``): tallylog/settings.py turns these environment variables
  into Django settings (``DATABASES``, ``EMAIL_PORT``, …) with ``environ_value`` and
  ``databases``, which never raise: a bad value gives its default there (for a database
  URL, a database that refuses every query) and its system check says what is wrong.

A bad value is never a traceback: ``problems()`` lists each with the stable ID of its system
check (``tallylog.checks.check_configuration``); the CLI prints them and exits non-zero
before doing anything, and ``config()`` raises ``ConfigError`` instead of guessing.

A new setting is one line here (a ``Config`` field, or an entry of ``DJANGO_ENVIRONMENT``)
and one row in docs/configuration.md; tests/test_config.py keeps the two the same.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import SplitResult, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

Parser = Callable[[Any], Any]


class Problem(NamedTuple):
    """A bad value of one setting: the setting's name, its check ID and what is wrong."""

    name: str
    check: str
    message: str


class ConfigError(ImproperlyConfigured):
    """The configuration has bad values (``problems``); the system checks name each one."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.check}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Setting:
    """One setting: ``name`` is both the environment variable and the Django setting;
    ``parse`` turns a raw value (text from the environment, or a Python value from Django
    settings) into the typed one, raising ``ValueError("must be …")``; ``check`` is the ID
    of the system check that reports a bad value ("" when any value is accepted)."""

    name: str
    default: Any
    parse: Parser
    check: str = ""
    secret: bool = False  # a bad value is not repeated in messages (passwords in URLs)


# -- parsers (each raises ValueError with what the value must be) -----------------------


def text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError("must be text")  # noqa: TRY004 -- every parser says "must be …" by ValueError
    return raw


def integer(low: int, high: int | None = None) -> Parser:
    """Whole numbers in ``low..high`` (``high`` None: no upper bound)."""
    bounds = f"a whole number from {low}" + (f" to {high}" if high is not None else " up")

    def parse(raw: Any) -> int:
        if isinstance(raw, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", raw):
            raw = int(raw)
        if type(raw) is not int or raw < low or (high is not None and raw > high):
            raise ValueError(f"must be {bounds}")
        return raw

    return parse


def seconds(low_exclusive: float, high: float) -> Parser:
    """A number of seconds in ``(low_exclusive, high]``."""

    def parse(raw: Any) -> float:
        if isinstance(raw, str):
            try:
                raw = float(raw)
            except ValueError:
                pass
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            raise ValueError(f"must be a number of seconds in ({low_exclusive:g}, {high:g}]")
        if not low_exclusive < raw <= high:
            raise ValueError(f"must be a number of seconds in ({low_exclusive:g}, {high:g}]")
        return float(raw)

    return parse


_ON = {"on", "true", "yes", "1"}
_OFF = {"off", "false", "no", "0"}


def switch(raw: Any) -> bool:
    """``on``/``off`` (also true/false, yes/no, 1/0; any case), or a Python bool."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _ON | _OFF:
        return raw.strip().lower() in _ON
    raise ValueError("must be on or off")


def flag(raw: Any) -> bool:
    """True only for ``"1"`` (or a Python True): debug pages are never on by accident."""
    return raw is True or raw == "1"


def names(raw: Any) -> list[str]:
    """A comma-separated list (or a Python list) of names, blanks dropped."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ValueError("must be a comma-separated list")
    return [i.strip() for i in items if i.strip()]


def directory(raw: Any) -> Path:
    return Path(text(raw)).expanduser().resolve()


def rate_limits(raw: Any) -> str | Mapping[str, Any]:
    """Kept as given; ``tallylog.safety.ratelimit.parse_limits`` reads it (check
    tallylog.safety.E002), since the scopes and their defaults are the safety layer's."""
    return "" if raw is None else raw


def _url(url: str, schemes: tuple[str, ...], kind: str) -> tuple[SplitResult, int | None]:
    """``url`` split, and its port; ``ValueError("must be <kind> …")`` for another scheme
    or a port that is not a number."""
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise ValueError(f"must be {kind} (scheme {parts.scheme!r} is not supported)")
    try:
        return parts, parts.port
    except ValueError:
        raise ValueError(f"must be {kind} with a numeric port") from None


def postgres(url: Any, name: str = "DATABASE_URL") -> dict[str, Any]:
    """A ``postgres://user:pass@host:port/name`` URL as a Django ``DATABASES`` entry."""
    parts, port = _url(text(url), ("postgres", "postgresql"), "a postgres:// URL")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(port or ""),
        "CONN_MAX_AGE": 60,
    }


def database_url(raw: Any) -> dict[str, Any] | None:
    return postgres(raw) if raw else None


def replica_urls(raw: Any) -> list[dict[str, Any]]:
    return [postgres(url) for url in names(raw)]


def site_url(raw: Any) -> str:
    """The site's public base URL: ``http://`` or ``https://``, a host, an optional port,
    nothing after the host but an optional ``/`` (links are built as base + path); kept
    without the trailing slash. Empty: not configured (``tallylog serve`` may derive one,
    see ``tallylog.registry.subscribers.emails.site_url``)."""
    url = text(raw).strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number 0-65535
    except ValueError:
        raise ValueError("must be an http:// or https:// URL whose port is a number from 1 to 65535") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must be the site's root URL: scheme, host and port only (like https://example.org)")
    return url.rstrip("/")


MAIL_SECURITY = ("none", "starttls", "tls")


def mail_security(raw: Any) -> str:
    """How the SMTP connection is protected: ``none`` (plain SMTP, a relay on this machine
    or network), ``starttls`` (port 587: plain, then upgraded) or ``tls`` (port 465)."""
    value = text(raw).strip().lower()
    if value not in MAIL_SECURITY:
        raise ValueError("must be none, starttls or tls")
    return value


def cache_url(raw: Any) -> str:
    """A Redis URL (``redis://``, ``rediss://``, ``unix://``), or empty for the default."""
    url = text(raw).strip()
    if url and urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return url


def token(raw: Any) -> str:
    """A bearer token: empty (none), or 32 to 256 visible ASCII characters."""
    value = text(raw)
    if value and not re.fullmatch(r"[!-~]{32,256}", value):
        raise ValueError("must be 32 to 256 visible ASCII characters (e.g. `openssl rand -hex 32`)")
    return value



class ImapUrl(NamedTuple):
    """Where the email intake reads its mail (``imap_url``): TLS from the first byte
    (``imaps://``) or, to this machine only, plain IMAP (``imap://``)."""

    tls: bool
    host: str
    port: int
    user: str
    password: str
    mailbox: str


_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def imap_url(raw: Any) -> ImapUrl | None:
    """``imaps://user:password@host[:port]/MAILBOX`` (port 993, mailbox INBOX by default;
    user and password percent-encoded), or ``imap://…`` (port 143) to a loopback host only:
    a password never crosses a network in clear. Empty: no email intake."""
    url = text(raw).strip()
    if not url:
        return None
    parts, port = _url(url, ("imaps", "imap"), "an imaps:// URL")
    if not parts.hostname:
        raise ValueError("must be an imaps:// URL with a host")
    if not parts.username or parts.password is None:
        raise ValueError("must be an imaps:// URL with a user and a password (imaps://user:password@host/INBOX)")
    if parts.scheme == "imap" and parts.hostname not in _LOOPBACK:
        raise ValueError("must be an imaps:// URL: plain imap:// is only for a server on this machine (127.0.0.1)")
    if parts.query or parts.fragment:
        raise ValueError("must be an imaps:// URL without a query or fragment")
    tls = parts.scheme == "imaps"
    return ImapUrl(
        tls=tls,
        host=parts.hostname,
        port=port or (993 if tls else 143),
        user=unquote(parts.username),
        password=unquote(parts.password),
        mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
    )


def setting(name: str, default: Any, parse: Parser, check: str = "", *, secret: bool = False) -> Any:
    """A ``Config`` field read from setting ``name`` (``secret``: a bad value is not repeated)."""
    return dataclasses.field(
        default=default, repr=not secret, metadata={"setting": Setting(name, default, parse, check, secret)}
    )


# -- the configuration object ------------------------------------------------------------

DEFAULT_HOME = "var"


@dataclass(frozen=True)
class Config:
    """Tallylog's settings, typed and checked. Built by ``config()``; never changed."""

    home: Path = setting("TALLYLOG_HOME", DEFAULT_HOME, directory)  # noqa: RUF009 -- a field()
    # The public base URL of links in mail; "" when not configured (docs/petitions.md, "Mail").
    site_url: str = setting("TALLYLOG_SITE_URL", "", site_url, "tallylog.E017")
    # The sequencer (docs/operating.md).
    sequencer_batch: int = setting("TALLYLOG_SEQUENCER_BATCH", 4096, integer(1, 65536), "tallylog.E004")
    sequencer_interval: float = setting("TALLYLOG_SEQUENCER_INTERVAL", 0.5, seconds(0, 60), "tallylog.E004")
    # Witnesses (docs/witness.md): cosignatures needed to publish the cosigned checkpoint.
    witness_quorum: int = setting("TALLYLOG_WITNESS_QUORUM", 1, integer(1, 64), "tallylog.E020")
    # Publication in batches at fixed clock boundaries (0: as soon as possible).
    publish_interval: int = setting("TALLYLOG_PUBLISH_INTERVAL", 900, integer(0, 86400), "tallylog.E021")
    # Writes (docs/api-submissions.md).
    group_commit: bool = setting("TALLYLOG_GROUP_COMMIT", True, switch, "tallylog.E012")
    # Safety (docs/safety.md).
    rate_limits: str | Mapping[str, Any] = setting("TALLYLOG_RATE_LIMITS", "", rate_limits, "tallylog.safety.E002")
    trusted_proxies: int = setting("TALLYLOG_TRUSTED_PROXIES", 0, integer(0), "tallylog.E013")
    flood_threshold: int = setting("TALLYLOG_FLOOD_THRESHOLD", 20, integer(0), "tallylog.E014")
    flood_window: int = setting("TALLYLOG_FLOOD_WINDOW", 3600, integer(1), "tallylog.E014")
    hsts_seconds: int = setting("TALLYLOG_HSTS_SECONDS", 365 * 24 * 3600, integer(0), "tallylog.E015")
    # The service-centre console (docs/volunteers.md).
    console_idle_seconds: int = setting("TALLYLOG_CONSOLE_IDLE_SECONDS", 30 * 60, integer(1), "tallylog.E016")
    console_max_seconds: int = setting("TALLYLOG_CONSOLE_MAX_SECONDS", 12 * 3600, integer(1), "tallylog.E016")
    # The operator's view (docs/operating.md): the bearer token of /metrics ("": no /metrics).
    metrics_token: str = setting("TALLYLOG_METRICS_TOKEN", "", token, "tallylog.E023", secret=True)
    # The email intake (docs/email-intake.md): the mailbox ``tallylog mail-intake`` reads.
    intake_imap_url: ImapUrl | None = setting("TALLYLOG_INTAKE_IMAP_URL", "", imap_url, "tallylog.E024", secret=True)  # noqa: RUF009 -- a field()


# Environment variables that tallylog/settings.py turns into Django's own settings, and
# those read before Django starts (the home, and the origin ``tallylog init`` names a new
# key with). ``environ_value`` reads them.
DJANGO_ENVIRONMENT: tuple[Setting, ...] = (
    Setting("TALLYLOG_DEBUG", False, flag),
    Setting("TALLYLOG_SECRET_KEY", "", text, "tallylog.E001", secret=True),
    Setting("TALLYLOG_RECEIPT_KEY", "", text, "tallylog.E001", secret=True),
    Setting("TALLYLOG_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"], names),
    Setting("TALLYLOG_CACHE_URL", "", cache_url, "tallylog.E018", secret=True),
    Setting("DATABASE_URL", "", database_url, "tallylog.E010", secret=True),
    Setting("DATABASE_REPLICA_URLS", "", replica_urls, "tallylog.E010", secret=True),
    Setting("TALLYLOG_EMAIL_HOST", "localhost", text),
    Setting("TALLYLOG_EMAIL_PORT", 25, integer(1, 65535), "tallylog.E011"),
    Setting("TALLYLOG_EMAIL_FROM", "tallylog@localhost", text),
    Setting("TALLYLOG_ORIGIN", "", text),
    # A relay that wants a login and TLS (docs/petitions.md, "Mail").
    Setting("TALLYLOG_EMAIL_SECURITY", "none", mail_security, "tallylog.E022"),
    Setting("TALLYLOG_EMAIL_USER", "", text),
    Setting("TALLYLOG_EMAIL_PASSWORD", "", text, "tallylog.E022", secret=True),
)

CONFIG_SETTINGS: tuple[Setting, ...] = tuple(f.metadata["setting"] for f in dataclasses.fields(Config))
SETTINGS: dict[str, Setting] = {s.name: s for s in (*CONFIG_SETTINGS, *DJANGO_ENVIRONMENT)}


def _parse(s: Setting, raw: Any, problems: list[Problem]) -> Any:
    try:
        return s.parse(raw)
    except ValueError as exc:
        shown = "" if s.secret else f", not {raw!r}"
        problems.append(Problem(s.name, s.check, f"{s.name} {exc}{shown}."))
        return s.parse(s.default)


def _environ(s: Setting, environ: Mapping[str, str]) -> Any:
    """The raw value of ``s`` in ``environ``; unset or empty is the default."""
    raw = environ.get(s.name, "")
    return raw if raw != "" else s.default


def environ_value(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """Setting ``name`` parsed from the environment (tallylog/settings.py's reader): its
    default when unset, empty or bad (never raises: ``problems()`` reports a bad value)."""
    s = SETTINGS[name]
    return _parse(s, _environ(s, os.environ if environ is None else environ), [])


def databases(sqlite_path: Path, environ: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Django's ``DATABASES`` from ``DATABASE_URL`` and ``DATABASE_REPLICA_URLS``: the
    primary as ``default`` (the embedded SQLite database at ``sqlite_path`` when unset),
    the replicas as the read-only aliases replica1…N that tallylog.dbrouter sends public
    page reads to. A bad value gives a ``default`` that refuses every query (Django's
    dummy backend), never another database: check tallylog.E010 says what is wrong."""
    environ = os.environ if environ is None else environ
    found: list[Problem] = []
    primary = _parse(SETTINGS["DATABASE_URL"], _environ(SETTINGS["DATABASE_URL"], environ), found)
    replicas = _parse(SETTINGS["DATABASE_REPLICA_URLS"], _environ(SETTINGS["DATABASE_REPLICA_URLS"], environ), found)
    if found or (replicas and primary is None):
        return {"default": {"ENGINE": "django.db.backends.dummy"}}
    if primary is None:
        primary = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(sqlite_path),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
            },
        }
    result = {"default": primary}
    for n, replica in enumerate(replicas, start=1):
        # A replica that is down is noticed at connection time (tallylog.dbrouter falls
        # back to default): check a kept connection first, and give up on a new one soon.
        replica.update(CONN_HEALTH_CHECKS=True, OPTIONS={"connect_timeout": 3}, TEST={"MIRROR": "default"})
        result[f"replica{n}"] = replica
    return result


# Where the default cache keeps its data: a memory file system (tmpfs), never a disk.
MEMORY_DIR = Path("/dev/shm")
SHARED_MEMORY_CACHE = "tallylog.safety.sharedcache.MemoryFileCache"


def caches(home: Path, environ: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Django's ``CACHES``: the rate-limit counters, the daily hashing key, the flood screen
    and the login throttle, shared by every worker (docs/safety.md, "Shared limits").

    ``TALLYLOG_CACHE_URL`` set: that Redis, through Django's own Redis backend (shared by
    every machine). Unset: an SQLite file on the memory file system ``MEMORY_DIR``, one per
    home, shared by this machine's workers and kept across restarts of tallylog (not of the
    machine). Without a memory file system, each process's local memory.
    A bad URL gives the default here; check tallylog.E018 reports it."""
    url = environ_value("TALLYLOG_CACHE_URL", environ)
    if url:
        return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": "tallylog"}}
    if MEMORY_DIR.is_dir() and os.access(MEMORY_DIR, os.W_OK):
        name = hashlib.sha256(str(home).encode()).hexdigest()[:16]
        location = MEMORY_DIR / f"tallylog-{os.getuid()}-{name}" / "cache.sqlite3"
        return {"default": {"BACKEND": SHARED_MEMORY_CACHE, "LOCATION": str(location)}}
    return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def proxy_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Django's settings that follow from ``TALLYLOG_SITE_URL`` and
    ``TALLYLOG_TRUSTED_PROXIES`` (docs/deploy.md, "Behind a proxy"): with a trusted proxy,
    its ``X-Forwarded-Proto: https`` marks a request secure (so HSTS is sent and CSRF
    compares https origins); an ``https://`` site sends its cookies ``Secure`` only and
    trusts its own origin for CSRF. Check tallylog.E019 refuses an https site with no
    trusted proxy (``tallylog serve`` speaks plain HTTP: TLS ends in the proxy)."""
    url = environ_value("TALLYLOG_SITE_URL", environ)
    https = urlsplit(url).scheme == "https"
    parts = urlsplit(url)
    result: dict[str, Any] = {
        "SESSION_COOKIE_SECURE": https,
        "CSRF_COOKIE_SECURE": https,
        "LANGUAGE_COOKIE_SECURE": https,
        "CSRF_TRUSTED_ORIGINS": [f"{parts.scheme}://{parts.netloc}"] if url else [],
        "SECURE_PROXY_SSL_HEADER": None,
    }
    if environ_value("TALLYLOG_TRUSTED_PROXIES", environ) >= 1:
        result["SECURE_PROXY_SSL_HEADER"] = ("HTTP_X_FORWARDED_PROTO", "https")
    return result


def build(environ: Mapping[str, str] | None = None) -> tuple[Config, list[Problem]]:
    """A ``Config`` from the current Django settings and ``environ`` (default: this
    process's environment), its defaults standing in for bad values, and every bad value
    (in ``SETTINGS`` order; ``DJANGO_ENVIRONMENT``'s too). Never raises: for the system
    checks; everything else calls ``config()``."""
    environ = os.environ if environ is None else environ
    found: list[Problem] = []
    built = _build(environ, found)
    for s in DJANGO_ENVIRONMENT:
        _parse(s, _environ(s, environ), found)
    found.extend(_combinations(built, environ))
    return built, found


def _combinations(built: Config, environ: Mapping[str, str]) -> list[Problem]:
    """Settings each good alone but not together (a proxy setting without the trusted
    hops it needs would join here, under its own check ID)."""
    found = []
    if _environ(SETTINGS["DATABASE_REPLICA_URLS"], environ) and not _environ(SETTINGS["DATABASE_URL"], environ):
        message = "DATABASE_REPLICA_URLS needs DATABASE_URL: replicas follow a PostgreSQL primary."
        found.append(Problem("DATABASE_REPLICA_URLS", "tallylog.E010", message))
    if urlsplit(built.site_url).scheme == "https" and built.trusted_proxies == 0:
        message = (
            "TALLYLOG_SITE_URL is https:// but TALLYLOG_TRUSTED_PROXIES is 0: tallylog serve speaks plain "
            "HTTP, so TLS ends in a proxy, which must be trusted (1) to say the request was https and whom "
            "it came from (docs/deploy.md, \"Behind a proxy\")."
        )
        found.append(Problem("TALLYLOG_TRUSTED_PROXIES", "tallylog.E019", message))
    security = _parse(SETTINGS["TALLYLOG_EMAIL_SECURITY"], _environ(SETTINGS["TALLYLOG_EMAIL_SECURITY"], environ), [])
    if _environ(SETTINGS["TALLYLOG_EMAIL_PASSWORD"], environ) and security == "none":
        message = (
            "TALLYLOG_EMAIL_PASSWORD is set but TALLYLOG_EMAIL_SECURITY is none: the password would cross "
            "the network in clear. Set TALLYLOG_EMAIL_SECURITY to starttls (port 587) or tls (port 465)."
        )
        found.append(Problem("TALLYLOG_EMAIL_PASSWORD", "tallylog.E022", message))
    host = urlsplit(built.site_url).hostname
    if host and not host_allowed(host):
        message = (
            f"TALLYLOG_SITE_URL's host {host!r} is not one TALLYLOG_ALLOWED_HOSTS lets the site answer to: "
            "every link in mail would be refused (400). Add it to TALLYLOG_ALLOWED_HOSTS."
        )
        found.append(Problem("TALLYLOG_SITE_URL", "tallylog.E017", message))
    return found


def host_allowed(host: str) -> bool:
    """Whether Django answers a request for ``host`` (its ``ALLOWED_HOSTS`` rules)."""
    from django.conf import settings
    from django.http.request import validate_host

    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # as Django does in debug mode
    return validate_host(f"[{host}]" if ":" in host else host, allowed)


def problems(environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Every bad value (``build``'s second half)."""
    return build(environ)[1]


def _build(environ: Mapping[str, str], found: list[Problem]) -> Config:
    from django.conf import settings

    values: dict[str, Any] = {}
    for f in dataclasses.fields(Config):
        s: Setting = f.metadata["setting"]
        raw = getattr(settings, s.name) if hasattr(settings, s.name) else _environ(s, environ)
        values[f.name] = _parse(s, raw, found)
    return Config(**values)


# -- the one accessor --------------------------------------------------------------------

_current: tuple[object, Config] | None = None
_lock = threading.Lock()


def config() -> Config:
    """The configuration, built once (from Django settings and the environment) and kept
    until the settings change. ``ConfigError`` when a value is bad (the CLI and
    ``tallylog serve`` report it first, as a system check)."""
    global _current
    from django.conf import settings

    # override_settings swaps the settings holder (and sends setting_changed); a setting
    # deleted inside ``override_settings()`` sends nothing, but its holder is new too.
    settings.DEBUG  # noqa: B018 -- sets the settings up, so that the holder below is theirs
    holder = settings._wrapped  # type: ignore[misc]  # LazySettings' holder: private in the stubs
    current = _current
    if current is not None and current[0] is holder:
        return current[1]
    with _lock:
        found: list[Problem] = []
        built = _build(os.environ, found)
        if found:  # only Config's own: a bad DJANGO_ENVIRONMENT value is Django's to use
            raise ConfigError(found)
        _current = (holder, built)
        return built


def reset_config(**kwargs: Any) -> None:
    """Forget the built configuration: the next ``config()`` reads it again (Django's
    ``setting_changed`` calls this; tests that change the environment call it too)."""
    global _current
    _current = None


setting_changed.connect(reset_config, dispatch_uid="tallylog.config.reset_config")
