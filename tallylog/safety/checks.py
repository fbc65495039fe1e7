"""System checks of the safety settings (stable IDs ``tallylog.safety.E00N``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from tallylog.config import config
from tallylog.safety.ratelimit import parse_limits

_DISK_CACHES = (
    "django.core.cache.backends.filebased.FileBasedCache",
    "django.core.cache.backends.db.DatabaseCache",
)


_MEMORY_FILESYSTEMS = {"tmpfs", "ramfs"}


def filesystem_type(path: Path) -> str:
    """The type of the file system ``path`` is on (``/proc/self/mounts``'s longest match)."""
    path = Path(os.path.realpath(path))
    best, kind = "", ""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return ""
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        if (path == Path(point) or Path(point) in path.parents) and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def _memory_location(location: str) -> bool:
    path = Path(location)
    while not path.exists() and path != path.parent:
        path = path.parent
    return filesystem_type(path) in _MEMORY_FILESYSTEMS


@register()
def check_safety_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """E001: the cache writes to disk (the address-hashing key must stay in memory).
    E002: ``TALLYLOG_RATE_LIMITS`` is malformed."""
    errors = []
    default = settings.CACHES.get("default", {})
    backend = default.get("BACKEND", "")
    on_disk = backend == "tallylog.safety.sharedcache.MemoryFileCache" and not _memory_location(default.get("LOCATION", ""))
    if backend in _DISK_CACHES or on_disk:
        errors.append(
            Error(
                f"the default cache ({backend}) stores on disk; the rate-limit key that hashes "
                "client addresses must live only in memory",
                hint="use Redis (TALLYLOG_CACHE_URL) or the default cache on a memory file system (docs/safety.md)",
                id="tallylog.safety.E001",
            )
        )
    try:
        parse_limits(config().rate_limits)
    except ValueError as exc:
        errors.append(Error(str(exc), id="tallylog.safety.E002"))
    return errors
