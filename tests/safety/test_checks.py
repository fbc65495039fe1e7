"""System checks of the safety settings."""

from django.test import override_settings

from tallylog.safety.checks import check_safety_settings


def test_default_settings_pass():
    assert check_safety_settings() == []


@override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": "/tmp/x"}})
def test_disk_cache_is_an_error():
    assert [e.id for e in check_safety_settings()] == ["tallylog.safety.E001"]


def test_the_shared_cache_must_be_on_a_memory_file_system():
    from pathlib import Path

    from tallylog.config import SHARED_MEMORY_CACHE
    from tallylog.safety.checks import filesystem_type

    repo = Path(__file__).resolve().parents[2]
    assert filesystem_type(Path("/dev/shm")) == "tmpfs" and filesystem_type(repo) != "tmpfs"
    for location, found in ((repo / "var-cache" / "c.sqlite3", ["tallylog.safety.E001"]), (Path("/dev/shm/tallylog-x/c.sqlite3"), [])):
        with override_settings(CACHES={"default": {"BACKEND": SHARED_MEMORY_CACHE, "LOCATION": str(location)}}):
            assert [e.id for e in check_safety_settings()] == found


@override_settings(TALLYLOG_RATE_LIMITS="declare=oops")
def test_malformed_limits_are_an_error():
    assert [e.id for e in check_safety_settings()] == ["tallylog.safety.E002"]
