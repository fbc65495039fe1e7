"""Debian's Chromium, headless, driven by Playwright (never ``playwright install``).

``browser()`` launches /usr/bin/chromium with flags that keep it from talking to anything
but the pages it is sent to; ``Visit`` records, for one page load, every request the page
made (to prove none goes to another host), the bytes transferred (the page's weight) and
any Content-Security-Policy violation or console error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, Request, sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
]


@contextlib.contextmanager
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Visit:
    """What one page did: requests (URLs), bytes transferred, CSP violations, console errors."""

    page: Page
    requests: list[Request] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("request", lambda r: self.requests.append(r))
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.console_errors.append(str(e)))

    def reset(self) -> None:
        self.requests.clear()
        self.console_errors.clear()

    def foreign_requests(self, origin: str) -> list[str]:
        """URLs requested from anywhere but ``origin`` (``http://127.0.0.1:PORT``)."""
        own = urlsplit(origin)
        return [
            r.url
            for r in self.requests
            if urlsplit(r.url).scheme not in ("data", "about", "blob")
            and (urlsplit(r.url).scheme, urlsplit(r.url).netloc) != (own.scheme, own.netloc)
        ]

    def transferred(self) -> int:
        """Bytes on the wire for the requests recorded: response headers and bodies."""
        total = 0
        for r in self.requests:
            if r.response() is None:
                continue
            sizes = r.sizes()
            total += sizes["responseHeadersSize"] + sizes["responseBodySize"]
        return total

    def csp_violations(self) -> list[str]:
        return [m for m in self.console_errors if "Content Security Policy" in m]
