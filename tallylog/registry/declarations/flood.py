"""Flood detection: many near-identical declarations are held for review, not published.

A flood is the same alias and statement, give or take spacing, punctuation, letter case,
character width and digits, submitted to one campaign many times within a window: a
script filling the tally. ``flood_suspected`` counts each submission's normalised content
under a keyed hash (``tallylog.registry.keyed.keyed_hash``, today's cache-only key) and
answers True from the ``TALLYLOG_FLOOD_THRESHOLD``-th copy on within
``TALLYLOG_FLOOD_WINDOW`` seconds; the registry then saves the declaration pending review
instead of publishing it (``submit_declaration(..., hold_for_review=True)``). Nothing is
refused: a moderator publishes the genuine ones.

Defaults: 20 copies within 3,600 seconds. Common aliases with no statement (匿名,
"anonymous") are frequent among real declarants, hence a threshold well above one.
"""

from __future__ import annotations

import time
import unicodedata

from tallylog.config import config
from tallylog.registry.keyed import count_in_window, keyed_hash


def normalise_content(text: str) -> str:
    """``text`` reduced for comparison: NFKC, case-folded, keeping letters only.

    Spaces, punctuation, symbols, digits and control characters are dropped, so
    "张三 1", "张三２!" and "张三" compare equal.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch).startswith(("L", "M")))


def flood_suspected(campaign: str, alias: str, statement: str, *, now: float | None = None) -> bool:
    """Count one submission of this content to ``campaign``; True when it looks like a flood.

    Call it once per accepted submission, after validation (``submit_declaration``): it
    has a side effect (the count). True from the ``TALLYLOG_FLOOD_THRESHOLD``-th
    submission of the same normalised alias and statement within the current window.
    """
    threshold = config().flood_threshold
    window = config().flood_window
    if threshold <= 0:
        return False
    digest = keyed_hash("flood", campaign, normalise_content(alias), normalise_content(statement))
    count = count_in_window(f"flood:{digest}", window, time.time() if now is None else now)
    return count >= threshold
