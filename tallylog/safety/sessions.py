"""The service-centre console's session: when it starts, idles out and ends.

A console session starts at sign-in (``start_console_session``), ends after
``TALLYLOG_CONSOLE_IDLE_SECONDS`` without a request or ``TALLYLOG_CONSOLE_MAX_SECONDS``
after sign-in whatever happens (defaults and checks in ``tallylog.config``). Both the console's pages (``tallylog.console``) and the console's
API router (``tallylog.api.console``, session-cookie authentication) check it with
``session_is_current``.
"""

from __future__ import annotations

import time

from django.contrib.auth import logout
from django.http import HttpRequest

from tallylog.config import config


def _session_limits() -> tuple[int, int]:
    return (
        config().console_idle_seconds,
        config().console_max_seconds,
    )


def start_console_session(request: HttpRequest) -> None:
    """Mark ``request``'s (just signed-in) session as a console session starting now."""
    request.session["console_login_at"] = int(time.time())
    request.session.set_expiry(_session_limits()[0])


def session_is_current(request: HttpRequest) -> bool:
    """Whether ``request`` carries a console session that has neither idled out nor
    outlived ``TALLYLOG_CONSOLE_MAX_SECONDS``; ends an outlived one and extends a current one
    (sliding idle expiry, saved on every request)."""
    if not request.user.is_authenticated:
        return False
    idle, most = _session_limits()
    if time.time() - request.session.get("console_login_at", 0) > most:
        logout(request)
        return False
    request.session.set_expiry(idle)
    return True
