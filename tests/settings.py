"""Settings for the test suite: the production settings on a fresh temporary home."""

import os
import tempfile

from tallylog.home import Home

os.environ.setdefault("TALLYLOG_HOME", tempfile.mkdtemp(prefix="tallylog-test-"))
Home.from_env().ensure()

from tallylog.settings import *  # noqa: E402, F403 (the production settings, after the home exists)

ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]  # noqa: F405 (from the star import)
# In-process tests count in this process's memory (the shared cache is tested through real
# servers: tests/safety/test_shared_limits.py).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; Argon2 in production

# Rate limits and flood detection count across the whole test run in the shared local-memory
# cache; off by default so unrelated tests cannot trip them. tests/safety turns them on with
# override_settings.
TALLYLOG_RATE_LIMITS = "off"
TALLYLOG_FLOOD_THRESHOLD = 0
# Entries are published as soon as the sequencer runs (production: in batches every 15
# minutes); tests of the schedule set it with override_settings.
TALLYLOG_PUBLISH_INTERVAL = 0
