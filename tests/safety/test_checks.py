"""System checks of the safety settings."""

from django.test import override_settings

from tallylog.safety.checks import check_safety_settings


def test_default_settings_pass():
    assert check_safety_settings() == []


@override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": "/tmp/x"}})
def test_disk_cache_is_an_error():
    assert [e.id for e in check_safety_settings()] == ["tallylog.safety.E001"]


@override_settings(TALLYLOG_RATE_LIMITS="declare=oops")
def test_malformed_limits_are_an_error():
    assert [e.id for e in check_safety_settings()] == ["tallylog.safety.E002"]
