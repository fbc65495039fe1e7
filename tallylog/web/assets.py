"""The site's one stylesheet, served by tallylog itself (no staticfiles app, no CDN).

Its URL carries a hash of its content so it can be cached forever
(``Cache-Control: immutable``) and still change with a new release.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

STYLESHEET = Path(__file__).resolve().parent / "static" / "tallylog" / "site.css"
STYLESHEET_PATH = "assets/site.css"


@cache
def stylesheet() -> tuple[bytes, str]:
    """The stylesheet's bytes and the first 12 hex digits of their SHA-256."""
    data = STYLESHEET.read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


def stylesheet_url() -> str:
    return f"/{STYLESHEET_PATH}?v={stylesheet()[1]}"
