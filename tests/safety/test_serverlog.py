"""Server logs keep no client address and no receipt code (``tallylog.safety.serverlog``)."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import textwrap

import pytest

from tallylog.safety.serverlog import ADDRESS, RECEIPT, PrivateFilter, scrub


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
        ("at 07:11:59 in 0.25s, granian 2.8.9, 4 workers", "at 07:11:59 in 0.25s, granian 2.8.9, 4 workers"),
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


def test_server_logging_scrubs_granian_and_keeps_its_access_log_private():
    """granian's own messages and its access log, configured as ``tallylog serve`` does
    (granian's ``configure_logging`` and its access-log builder, in a process of their own)."""
    script = textwrap.dedent(
        """
        import logging, time
        from granian.log import LogLevels, configure_logging, log_request_builder
        from tallylog.safety.serverlog import ACCESS_LOG_FORMAT, server_logging

        configure_logging(LogLevels.info, server_logging())
        server = logging.getLogger("_granian")
        server.info("Listening at: http://%s:8000", "192.0.2.70")
        server.warning("connection error detected: peer 2001:db8::70 reset")
        server.warning("Configuration allows spawning up to 8 Python threads, which seems high")
        logging.getLogger("_granian.serve").info("Started worker-1")
        logging.getLogger("tallylog.serve").info("serving on port %s with %d workers", 8000, 2)
        log_request = log_request_builder(ACCESS_LOG_FORMAT)
        request = {
            "addr_remote": "192.0.2.71", "path": "/api/v1/receipts/12345-67890-12345-67890-12345",
            "qs": "code=12345678901234567890123457", "method": "GET", "scheme": "http",
            "protocol": "HTTP/1.1",
        }
        log_request(time.time(), time.perf_counter(), request, 404)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    access, server = done.stdout, done.stderr
    for text in (access, server):
        assert "192.0.2.7" not in text and "2001:db8" not in text and "12345-67890" not in text
        assert "123456789012345" not in text
    assert f"Listening at: http://{ADDRESS}:8000" in server
    assert f"connection error detected: peer {ADDRESS} reset" in server
    assert "Started worker-1" in server and "serving on port 8000 with 2 workers" in server
    assert "Configuration allows" not in server  # tallylog's threads wait for commits
    # The access log: time, method, path (receipt redacted), status, duration; no query.
    [line] = access.splitlines()
    assert f'"GET /api/v1/receipts/{RECEIPT}" 404 ' in line and line.endswith("ms")
    assert "code=" not in line
