"""The site's stylesheet and scripts, served by tallylog itself (no staticfiles app, no CDN).

Their URLs carry a hash of their content so they can be cached forever
(``Cache-Control: immutable``) and still change with a new release. The scripts are the
receipt check in the browser (``verify.js``, issue 14 §3) and the Ed25519 fallback it
imports where WebCrypto has none (``ed25519.js``, vendored: static/tallylog/VENDORED.md).
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

STYLESHEET = Path(__file__).resolve().parent / "static" / "tallylog" / "site.css"
STYLESHEET_PATH = "assets/site.css"
SCRIPTS = ("verify.js", "ed25519.js")


@cache
def stylesheet() -> tuple[bytes, str]:
    """The stylesheet's bytes and the first 12 hex digits of their SHA-256."""
    data = STYLESHEET.read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


def stylesheet_url() -> str:
    return f"/{STYLESHEET_PATH}?v={stylesheet()[1]}"


@cache
def script(name: str) -> tuple[bytes, str]:
    """The bytes of script ``name`` (one of ``SCRIPTS``) and the first 12 hex digits of
    their SHA-256; ``KeyError`` for any other name."""
    if name not in SCRIPTS:
        raise KeyError(name)
    data = (STYLESHEET.parent / SCRIPTS[SCRIPTS.index(name)]).read_bytes()  # a plain str
    return data, hashlib.sha256(data).hexdigest()[:12]


def script_url(name: str) -> str:
    return f"/assets/{name}?v={script(name)[1]}"
