"""Server logs that carry no client address, no receipt code and no email address.

The HTTP server (granian) logs through Python's ``logging``: its own messages (the
loggers ``_granian``, Rust's included, and ``granian.access``) and Django's pass through
handlers that carry ``PrivateFilter``, which replaces IP addresses, receipt codes and email
addresses in every record (the email intake never logs a sender's address; this is the net
under it, for an exception that would quote one: ``docs/email-intake.md``). A path such as ``/api/v1/receipts/<code>`` would otherwise put a receipt code
in the access log, and Django logs the path of a request that failed.

- ``PrivateFilter``: a ``logging.Filter`` for every handler, Django's ``LOGGING`` ones too.
- ``server_logging()``: the ``logging`` configuration of ``tallylog serve``.
- ``ACCESS_LOG_FORMAT``: the access log's line: no client address, no query string.

``scrub`` is the function the filter uses.

A receipt code is found in every form ``tallylog.leaf.normalise_receipt_code`` accepts
(NFKC, then separators removed): each digit may be any character whose NFKC form is made
of ASCII digits and separators (full-width, mathematical, circled, superscript "１", "𝟏",
"①", "¹", "⒈", …) and between digits any run of characters whose NFKC form is
separators only (spaces of every width, dashes, dots, low lines: ``01886 - 70025 - …``).
Any such run holding ``PARTIAL_DIGITS`` or more digits is replaced whole, so that a code
typed with a digit too few or too many is not logged either.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import unicodedata
from typing import Any

ADDRESS = "[address]"
RECEIPT = "[receipt]"
EMAIL = "[email]"

# IPv4 dotted quads are always replaced (even out of range); IPv6 candidates only when
# ``ipaddress`` accepts them, so that times ("07:11:59") are left alone.
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d)")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%[\w.-]+)?")
# The characters that ``normalise_receipt_code`` turns into digits (_DIGITISH: NFKC gives
# ASCII digits and separators only, at least one digit) or removes (_SEPARATOR: NFKC gives
# separators only), for the Unicode version of this Python (tests/safety/test_serverlog.py
# recomputes both from ``unicodedata`` and fails when they differ).
_DIGITISH = (
    r"\u0030-\u0039\u00b2-\u00b3\u00b9\u2070\u2074-\u2079\u2080-\u2089\u2460-\u2473"
    r"\u2488-\u249b\u24ea\u3251-\u325f\u32b1-\u32bf\uff10-\uff19\U0001d7ce-\U0001d7ff"
    r"\U0001f100\U0001fbf0-\U0001fbf9"
)
_SEPARATOR = (
    r"\u0009-\u000d\u001c-\u0020\u002d-\u002e\u005f\u0085\u00a0\u1680\u2000-\u200a\u2014"
    r"\u2024-\u2026\u2028-\u2029\u202f\u205f\u3000\ufe19\ufe30-\ufe31\ufe33-\ufe34"
    r"\ufe4d-\ufe4f\ufe52\ufe58\ufe63\uff0d-\uff0e\uff3f"
)
# A run of digits with separators between them (maximal: it starts at the first digit of
# the run and takes every later digit reachable through separators).
_DIGIT_RUN = re.compile(f"[{_DIGITISH}](?:[{_SEPARATOR}]*[{_DIGITISH}])*")
# A run with this many digits or more is a receipt code or most of one (a code is 25).
PARTIAL_DIGITS = 16
_RECEIPT_PATH = re.compile(r"(/receipts/)[^/?\s\"]+")
# local@domain.tld: the local part in the characters addresses use (RFC 5322's dot-atom
# but the quote and brace marks, which Python's reprs put around an address).
_EMAIL = re.compile(r"[A-Za-z0-9!#$%&*+/=?^_~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _ipv6(match: re.Match[str]) -> str:
    text = match.group(0)
    core = text.split("%", 1)[0]
    for candidate, rest in ((core, ""), (core.rstrip(":"), ":" * (len(core) - len(core.rstrip(":"))))):
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        return ADDRESS + rest
    return text


def _receipt_code(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in unicodedata.normalize("NFKC", match.group(0)))
    return RECEIPT if digits >= PARTIAL_DIGITS else match.group(0)


def scrub(text: str) -> str:
    """``text`` with email addresses, receipt paths and codes, then IP addresses, replaced."""
    if "@" in text:
        text = _EMAIL.sub(EMAIL, text)
    text = _RECEIPT_PATH.sub(r"\1" + RECEIPT, text)
    text = _DIGIT_RUN.sub(_receipt_code, text)
    text = _IPV4.sub(ADDRESS, text)
    return _IPV6.sub(_ipv6, text)


class PrivateFilter(logging.Filter):
    """Scrubs every record (message, arguments, exception text) passing through a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = scrub(message)
        record.args = ()
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        record.exc_info = None
        return True


# Request log without the client address (granian's %(addr)s) or the query string: time,
# method, path, status, duration in milliseconds.
ACCESS_LOG_FORMAT = '%(time)s "%(method)s %(path)s" %(status)d %(dt_ms).1fms'

# granian warns when a worker has more threads than 2 × cores + 1. tallylog's threads mostly
# wait for a shared commit (docs/api-submissions.md), so the warning is wrong here.
_THREADS_WARNING = "Configuration allows spawning up to"


class QuietThreadsWarning(logging.Filter):
    """Drops granian's warning about the number of threads (``_THREADS_WARNING``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_THREADS_WARNING)


def server_logging() -> dict[str, Any]:
    """The ``logging`` configuration of the HTTP server's processes: the server's messages
    on standard error and its access log on standard output, both through ``PrivateFilter``."""
    private = {"()": PrivateFilter}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "server": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "access": {"format": "%(message)s"},
        },
        "filters": {"private": private, "threads": {"()": QuietThreadsWarning}},
        "handlers": {
            "server": {
                "class": "logging.StreamHandler",
                "formatter": "server",
                "filters": ["threads", "private"],
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "filters": ["private"],
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "_granian": {"handlers": ["server"], "level": "INFO", "propagate": False},
            "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            "tallylog.serve": {"handlers": ["server"], "level": "INFO", "propagate": False},
        },
    }
