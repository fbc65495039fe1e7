"""Server logs keep no client address and no receipt code (``tallylog.safety.serverlog``)."""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
import textwrap
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallylog.leaf import normalise_receipt_code
from tallylog.safety import serverlog
from tallylog.safety.serverlog import ADDRESS, EMAIL, RECEIPT, PrivateFilter, scrub


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
        # Issue 15 item 10: several separators between groups (20 of 25 digits were logged).
        ("code=01886 - 70025 - 12345 - 67890 - 12345 sent", f"code={RECEIPT} sent"),
        ("code 01886\u3000－\u300070025 -- 12345 . 67890_12345", f"code {RECEIPT}"),
        ("code ⓪①②③④ 𝟓𝟔𝟕𝟖𝟗 ¹²³⁴⁵ ₆₇₈₉₀ ⒈⒉⒊⒋5", f"code {RECEIPT}"),
        # Most of a code (a digit missing) is scrubbed too.
        ("code 01886 - 70025 - 12345 - 67890 - 1234", f"code {RECEIPT}"),
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


@pytest.mark.server
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


# --- Every rendering the receipt-code parser accepts (issue 15 item 10) -------------------

_SEPARATORS = re.compile(r"[\s\-－—_.]+")


def _nfkc_classes() -> tuple[list[str], list[str]]:
    """From ``unicodedata``: the characters ``normalise_receipt_code`` reads as digits (NFKC
    gives ASCII digits and separators, at least one digit) and those it drops (NFKC gives
    separators only)."""
    digitish, separators = [], []
    for cp in range(sys.maxunicode + 1):
        c = chr(cp)
        n = unicodedata.normalize("NFKC", c)
        if not n:
            continue
        if _SEPARATORS.fullmatch(n):
            separators.append(c)
            continue
        rest = _SEPARATORS.sub("", n)
        if rest and rest.isascii() and rest.isdigit():
            digitish.append(c)
    return digitish, separators


DIGITISH, SEPARATORS = _nfkc_classes()
# Characters that stand for exactly the digits of their NFKC form ("①" → "1", "⑩" → "10").
BY_DIGITS: dict[str, list[str]] = {}
for _c in DIGITISH:
    BY_DIGITS.setdefault(_SEPARATORS.sub("", unicodedata.normalize("NFKC", _c)), []).append(_c)


def test_scrubber_classes_are_the_parsers():
    """The scrubber's character classes are exactly what the parser turns into digits or drops."""
    assert [c for c in DIGITISH if not re.fullmatch(f"[{serverlog._DIGITISH}]", c)] == []
    assert [c for c in SEPARATORS if not re.fullmatch(f"[{serverlog._SEPARATOR}]", c)] == []
    every = re.compile(f"[{serverlog._DIGITISH}{serverlog._SEPARATOR}]")
    assert sum(1 for cp in range(sys.maxunicode + 1) if every.fullmatch(chr(cp))) == len(DIGITISH) + len(SEPARATORS)


@st.composite
def renderings(draw: st.DrawFn) -> tuple[str, str]:
    """A receipt code's 25 digits and one way of typing them the parser accepts."""
    digits = draw(st.text(alphabet="0123456789", min_size=25, max_size=25))
    out, i = [], 0
    while i < len(digits):
        # One character for the next one or two digits ("⑩", "⒛", "㉑"), when there is one.
        wide = [d for d in (digits[i : i + 2],) if len(d) == 2 and d in BY_DIGITS]
        chunk = draw(st.sampled_from(wide + [digits[i]]))
        out.append(draw(st.sampled_from(BY_DIGITS[chunk])))
        i += len(chunk)
        out.append(draw(st.text(alphabet=st.sampled_from(SEPARATORS), max_size=4)))
    return digits, "".join(out).rstrip("".join(SEPARATORS))


@pytest.mark.slow  # exhaustive or property-based; in make test, not make test-fast
@settings(max_examples=400, deadline=None)
@given(renderings(), st.sampled_from(["", "code=", "GET /api/v1/receipts?code=", "我的收据 "]),
       st.sampled_from(["", " HTTP/1.1", "!", " 谢谢"]))
def test_scrub_hides_every_rendering_the_parser_accepts(rendering, before, after):
    digits, typed = rendering
    assert normalise_receipt_code(typed) == digits  # the parser accepts it
    line = scrub(before + typed + after)
    assert RECEIPT in line
    seen = _SEPARATORS.sub("", unicodedata.normalize("NFKC", line))
    for k in range(0, 25, 5):
        assert digits[k : k + 5] not in seen, (typed, line)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("SMTPRecipientsRefused({'lin.declarant@example.net': (550, b'no')})", f"SMTPRecipientsRefused({{'{EMAIL}': (550, b'no')}})"),
        ("to=<a.b+c@mail.example.org.cn>, from 10.0.0.1", f"to=<{EMAIL}>, from {ADDRESS}"),
        ("user @ nothing, @handle, a@b", "user @ nothing, @handle, a@b"),
    ],
)
def test_scrub_hides_email_addresses(text, expected):
    """The email intake never logs a sender's address; an exception that quotes one is scrubbed."""
    assert scrub(text) == expected
