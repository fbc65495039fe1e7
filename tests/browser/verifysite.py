"""A static site for the browser receipt check (/verify/, issue 14 §3): a log built with
``tallylog.tlog.Appender`` (days of v1 and v2 leaves), the verify page rendered as
``tallylog export-static`` writes it, a plain file server, and one check run in Chromium.

Shared by tests/browser/test_verify.py and bench/bench_browsercheck.py.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tallylog import leaf
from tallylog.tlog import Appender, FileStore, Signer, generate_key
from tallylog.tlog.dayindex import DAY_INDEX_PATH, DayRange, format_day_index

ORIGIN = "verify.example/log"
STATUSES = ("included", "not-found", "invalid")


def make_leaf(i: int, day: str, code: str | None = None, version: int = 2) -> bytes:
    """A declaration leaf of ``day`` as the registry writes it; its tag is ``code``'s when
    given, else a random-looking one of entry ``i``."""
    commit = f"{i:064x}"
    if version == 1:
        tag = leaf.receipt_tag_v1(code) if code else f"{i + 7:064x}"
        return leaf.encode_leaf(kind="declaration", campaign="three-withdrawals", day=day, channel="web",
                                commit=commit, tag=tag, orgs=["league", "party"])
    salt = f"{i:032x}"
    tag = leaf.receipt_tag(code, salt) if code else f"{i + 7:064x}"
    return leaf.encode_leaf(kind="declaration", campaign="three-withdrawals", day=day, channel="web",
                            commit=commit, tag=tag, orgs=["league", "party"], tag_salt=salt)


def build_log(log_dir: Path, days: Sequence[tuple[str, int]], codes: dict[int, tuple[str, int]],
              batch: int = 65536) -> str:
    """Append ``days`` (``(day, count)``, in order) to a new log in ``log_dir``; entry ``i``
    in ``codes`` carries the tag of receipt ``codes[i] = (code, leaf version)``. Writes
    the day index and a signed checkpoint; returns the verifier key."""
    skey, vkey = generate_key(ORIGIN)
    store = FileStore(log_dir)
    appender = Appender.open(store, Signer(skey), ORIGIN)
    ranges, index = [], 0
    for day, count in days:
        start = index
        while index < start + count:
            n = min(batch, start + count - index)
            entries = []
            for i in range(index, index + n):
                code, version = codes.get(i, (None, 2))
                entries.append(make_leaf(i, day, code, version))
            appender.stage(entries)
            index += n
        ranges.append(DayRange(day, start, index))
    store.write(DAY_INDEX_PATH, format_day_index(ranges))
    appender.publish()
    return vkey


def render_verify_page(site: Path, verifier_key: str, langs: Sequence[str] = ("zh-hans", "zh-hant", "en")) -> None:
    """Write ``site/<lang>/verify/index.html`` and ``site/assets/*.js`` as
    ``tallylog export-static`` does, for a log at ``site/log`` signed by ``verifier_key``."""
    from django.test import RequestFactory
    from django.utils import translation

    from tallylog.web import assets, views
    from tallylog.web.export import ExportMarker, rewrite_links

    (site / "assets").mkdir(parents=True, exist_ok=True)
    (site / assets.STYLESHEET_PATH).write_bytes(assets.stylesheet()[0])
    for name in assets.SCRIPTS:
        (site / "assets" / name).write_bytes(assets.script(name)[0])
    for lang in langs:
        request = RequestFactory().get("/verify/")
        request.tallylog_export = ExportMarker(checkpoint=None, lang_hrefs={o: f"../../{o}/verify/index.html" for o in langs})  # type: ignore[attr-defined]
        with translation.override(lang):
            request.LANGUAGE_CODE = lang  # type: ignore[attr-defined]
            response = views.verify_page(request, verifier_key)
        page = rewrite_links(response.content.decode(), lang=lang, url="/verify/", exported={"verify/index.html"})
        (site / lang / "verify").mkdir(parents=True, exist_ok=True)
        (site / lang / "verify" / "index.html").write_text(page)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """A plain file server (``python -m http.server``'s handler) over ``directory`` on
    loopback, in a thread; yields its origin ``http://127.0.0.1:PORT``."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Outcome:
    status: str
    text: str
    index: int | None
    bytes: int
    ms: int


def run_check(page: Any, url: str, timeout_ms: float = 120_000) -> Outcome:
    """Open ``url`` (``…/verify/#CODE[/DAY]``) in the Playwright ``page`` and wait for
    ``#result`` to get its ``data-status``."""
    page.goto("about:blank")  # a new document even when only the fragment differs
    page.goto(url)
    page.wait_for_selector("#result[data-status]", timeout=timeout_ms)
    result = page.locator("#result")
    index = result.get_attribute("data-index")
    return Outcome(
        status=result.get_attribute("data-status") or "",
        text=result.inner_text(),
        index=int(index) if index is not None else None,
        bytes=int(result.get_attribute("data-bytes") or 0),
        ms=int(result.get_attribute("data-ms") or 0),
    )
