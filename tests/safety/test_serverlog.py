"""Server logs keep no client address and no receipt code (``tallylog.safety.serverlog``)."""

from __future__ import annotations

import datetime
import io
import logging

import pytest
from gunicorn.config import Config

from tallylog.safety.serverlog import ADDRESS, RECEIPT, PrivateFilter, PrivateLogger, scrub


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Invalid request from ip=127.93.17.3: Invalid HTTP Version", f"Invalid request from ip={ADDRESS}: Invalid HTTP Version"),
        ("peer 203.0.113.250:51234 closed", f"peer {ADDRESS}:51234 closed"),
        ("from 2001:db8::1 and [fe80::1%eth0]:80", f"from {ADDRESS} and [{ADDRESS}]:80"),
        ("mapped ::ffff:198.51.100.7", f"mapped {ADDRESS}:{ADDRESS}"),  # over-scrubbed, never under
        ("odd 999.1.1.1", f"odd {ADDRESS}"),
        ("GET /api/v1/receipts/12345-67890-12345-67890-12345 HTTP/1.1", f"GET /api/v1/receipts/{RECEIPT} HTTP/1.1"),
        ("/api/v1/receipts/%EF%BC%91", f"/api/v1/receipts/{RECEIPT}"),
        ("code 1234567890123456789012345 typed", f"code {RECEIPT} typed"),
        ("code １２３４５－６７８９０－１２３４５－６７８９０－１２３４５!", f"code {RECEIPT}!"),
        # Left alone: times, versions, sizes, short numbers.
        ("at 07:11:59 in 0.25s, gunicorn 23.0.0, 4 workers", "at 07:11:59 in 0.25s, gunicorn 23.0.0, 4 workers"),
        ("entry 12345 of 1000000", "entry 12345 of 1000000"),
    ],
)
def test_scrub(text, expected):
    assert scrub(text) == expected


def test_filter_scrubs_django_records():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PrivateFilter())
    logger = logging.getLogger("tests.safety.serverlog")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("Internal Server Error: %s from %s", "/api/v1/receipts/12345-67890-12345-67890-12345", "192.0.2.44")
        try:
            raise ValueError("bad peer 192.0.2.45")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "192.0.2.4" not in out and "12345-67890" not in out
    assert f"/api/v1/receipts/{RECEIPT} from {ADDRESS}" in out
    assert "ValueError" in out


class _Resp:
    status = "200 OK"
    sent = 123
    headers: list = []


def test_gunicorn_logger_blanks_address_and_receipt_paths():
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", '%(h)s %(r)s %(U)s %(f)s %({x-forwarded-for}i)s %(a)s')
    logger = PrivateLogger(cfg)
    environ = {
        "REMOTE_ADDR": "192.0.2.50",
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/api/v1/receipts/12345-67890-12345-67890-12345?x=192.0.2.51",
        "PATH_INFO": "/api/v1/receipts/12345-67890-12345-67890-12345",
        "QUERY_STRING": "x=192.0.2.51",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": "http://192.0.2.52/receipt/",
        "HTTP_USER_AGENT": "test",
    }
    headers = [("X-FORWARDED-FOR", "192.0.2.53"), ("USER-AGENT", "test")]
    atoms = logger.atoms(_Resp(), headers, environ, datetime.timedelta(milliseconds=5))
    line = cfg.access_log_format % atoms
    assert "192.0.2" not in line and "12345" not in line, line
    assert RECEIPT in line


def test_gunicorn_error_log_scrubbed(capsys):
    cfg = Config()
    cfg.set("errorlog", "-")
    logger = PrivateLogger(cfg)
    logger.warning("Invalid request from ip={ip}: {error}".format(ip="192.0.2.60", error="bad"))
    logger.info("peer %s", "2001:db8::7")
    err = capsys.readouterr().err
    assert "192.0.2.60" not in err and "2001:db8" not in err
    assert err.count(ADDRESS) == 2


def test_gunicorn_debug_lines_scrubbed_when_written_and_skipped_when_not(capsys, monkeypatch):
    cfg = Config()
    cfg.set("errorlog", "-")
    cfg.set("loglevel", "debug")
    PrivateLogger(cfg).debug("GET %s from %s", "/receipt/", "192.0.2.61")
    err = capsys.readouterr().err
    assert "192.0.2.61" not in err and ADDRESS in err and "GET /receipt/" in err
    # At the default level nothing is written, and nothing is scrubbed for nothing.
    import tallylog.safety.serverlog as serverlog

    calls = []
    monkeypatch.setattr(serverlog, "scrub", lambda text: calls.append(text) or text)
    cfg.set("loglevel", "info")
    PrivateLogger(cfg).debug("GET %s from %s", "/receipt/", "192.0.2.62")
    assert capsys.readouterr().err == "" and calls == []


def test_gunicorn_log_by_level_name_scrubbed_and_filtered(capsys):
    cfg = Config()
    cfg.set("errorlog", "-")
    logger = PrivateLogger(cfg)  # level info
    logger.log("warning", "peer %s", "192.0.2.63")
    logger.log("debug", "peer %s", "192.0.2.64")
    logger.log(logging.ERROR, "peer %s", "192.0.2.65")
    err = capsys.readouterr().err
    assert "192.0.2.6" not in err and err.count(ADDRESS) == 2
