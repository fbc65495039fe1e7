"""Fixtures for the JSON API tests (shared with the page tests)."""

from tests.web.conftest import campaign, declare, home, log, sequence  # noqa: F401
from tests.support.mail import mailbox, open_petition, petition  # noqa: F401  (shared fixtures)
