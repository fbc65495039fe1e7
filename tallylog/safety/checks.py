"""System checks of the safety settings (stable IDs ``tallylog.safety.E00N``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from tallylog.config import config
from tallylog.safety.ratelimit import parse_limits

_DISK_CACHES = (
    "django.core.cache.backends.filebased.FileBasedCache",
    "django.core.cache.backends.db.DatabaseCache",
)


@register()
def check_safety_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """E001: the cache writes to disk (the address-hashing key must stay in memory).
    E002: ``TALLYLOG_RATE_LIMITS`` is malformed."""
    errors = []
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend in _DISK_CACHES:
        errors.append(
            Error(
                f"the default cache ({backend}) stores on disk; the rate-limit key that hashes "
                "client addresses must live only in memory",
                hint="use the local-memory, memcached or Redis cache backend",
                id="tallylog.safety.E001",
            )
        )
    try:
        parse_limits(config().rate_limits)
    except ValueError as exc:
        errors.append(Error(str(exc), id="tallylog.safety.E002"))
    return errors
