"""Server logs that carry no client address and no receipt code.

gunicorn writes the client address into some of its own messages (``Invalid request from
ip=…`` on a malformed request) and, in the access log, whatever the format asks for; a
path such as ``/api/v1/receipts/<code>`` would put a receipt code in the access log, and
Django logs the path of a request that failed. Two pieces keep them out:

- ``PrivateLogger``: a gunicorn ``logger_class``. Every error-log message has IP addresses
  and receipt codes replaced; in the access log the address (``%(h)s``), referrer,
  forwarding headers and raw request line are blanked and receipt paths redacted.
- ``PrivateFilter``: a ``logging.Filter`` for Django's ``LOGGING`` handlers doing the same
  to every record.

``scrub`` is the function both use.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
from typing import Any

from gunicorn.glogging import Logger

ADDRESS = "[address]"
RECEIPT = "[receipt]"

# IPv4 dotted quads are always replaced (even out of range); IPv6 candidates only when
# ``ipaddress`` accepts them, so that times ("07:11:59") are left alone.
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d)")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%[\w.-]+)?")
# A receipt code as typed: 25 digits, in groups or not, ASCII or full-width.
_RECEIPT_CODE = re.compile(r"(?<![\d０-９])(?:[\d０-９][\s\-－—_.]?){24}[\d０-９](?![\d０-９])")
_RECEIPT_PATH = re.compile(r"(/receipts/)[^/?\s\"]+")


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


def scrub(text: str) -> str:
    """``text`` with receipt paths and codes, then IP addresses, replaced."""
    text = _RECEIPT_PATH.sub(r"\1" + RECEIPT, text)
    text = _RECEIPT_CODE.sub(RECEIPT, text)
    text = _IPV4.sub(ADDRESS, text)
    return _IPV6.sub(_ipv6, text)


def _scrub_args(args: Any) -> Any:
    if isinstance(args, tuple):
        return tuple(scrub(a) if isinstance(a, str) else a for a in args)
    if isinstance(args, dict):
        return {k: scrub(v) if isinstance(v, str) else v for k, v in args.items()}
    return args


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


class PrivateLogger(Logger):
    """gunicorn's logger with addresses and receipt codes kept out of both logs."""

    # Each message is scrubbed only when its level is written: gunicorn logs every request
    # at debug level, which is off by default, and scrubbing it cost every request.
    def _write(self, level: int, method: Any, msg: Any, args: Any, kwargs: Any) -> None:
        if self.error_log.isEnabledFor(level):
            method(scrub(str(msg)), *_scrub_args(args), **kwargs)

    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._write(logging.CRITICAL, super().critical, msg, args, kwargs)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._write(logging.ERROR, super().error, msg, args, kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._write(logging.WARNING, super().warning, msg, args, kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._write(logging.INFO, super().info, msg, args, kwargs)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._write(logging.DEBUG, super().debug, msg, args, kwargs)

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._write(logging.ERROR, super().exception, msg, args, kwargs)

    def log(self, lvl: Any, msg: Any, *args: Any, **kwargs: Any) -> None:
        level = self.LOG_LEVELS.get(lvl.lower(), logging.INFO) if isinstance(lvl, str) else lvl
        self._write(level, functools.partial(super().log, level), msg, args, kwargs)

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["h"] = "-"
        atoms["f"] = "-"
        atoms["r"] = scrub(f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')} {environ.get('SERVER_PROTOCOL')}")
        atoms["U"] = scrub(str(atoms.get("U") or ""))
        atoms["q"] = scrub(str(atoms.get("q") or ""))
        for name in list(atoms):
            if name.startswith("{") and name.endswith("}i"):
                header = name[1:-2]
                if header in ("x-forwarded-for", "x-real-ip", "forwarded", "client-ip", "referer", "cookie"):
                    atoms[name] = "-"
                else:
                    atoms[name] = scrub(str(atoms[name]))
            elif name.endswith("}e"):
                atoms[name] = scrub(str(atoms[name]))
        return atoms
