"""Fixtures of the in-process tests, for the browser tests that export a site first."""

from tests.registry.conftest import campaign, home, log  # noqa: F401  (shared fixtures)
from tests.web.conftest import declare, sequence  # noqa: F401
