"""Validation of a declaration's fields by the registry's rules: the ONE definition.

``submit_declaration`` (web form, API, volunteers' console) and bulk import apply these
rules; ``clean_text`` is also every other free-text field's normaliser.
"""

from __future__ import annotations

import datetime
import functools
import re
import sys
import time
import unicodedata
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.contact import (
    CONTACT_CHECKED_CHANNELS,
    contact_errors,
)
from tallylog.registry.declarations.models import ALIAS_MAX, STATEMENT_MAX, Channel
from tallylog.registry.declarations.regions import BY_CODE, is_region

# Nobody withdrew from the Party before it was founded (1921-07-01); older dates are typos.
EARLIEST_DECLARED_ON = datetime.date(1921, 7, 1)

# Control (Cc), format (Cf: bidi overrides, zero-width), surrogate and private-use
# characters never reach a public surface.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
_SPACES = re.compile(r"\s+")
_LINE_SPACES = re.compile(r"[^\S\n]+")  # whitespace within a line
_LINE_EDGES = re.compile(r" ?\n ?")  # a line break and the (collapsed) spaces around it
_BLANK_LINES = re.compile(r"\n{3,}")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CHANNELS = frozenset(Channel.values)
_SECONDS_PER_DAY = 86400


@functools.cache
def _dropped_mask() -> bytes:
    """One byte per code point: 1 where ``unicodedata.category`` is a dropped category.

    Computed on first use, not at import: the scan of every code point costs ~0.1 s, and
    most processes never need it (text that ``str.isprintable()`` holds none of them).
    """
    code_points = map(chr, range(sys.maxunicode + 1))
    return bytes(map(_DROPPED_CATEGORIES.__contains__, map(unicodedata.category, code_points)))


@functools.cache
def _dropped(keep: str) -> re.Pattern[str]:
    """Runs of characters of the dropped categories, except the characters of ``keep``."""
    mask = bytearray(_dropped_mask())
    for c in keep:
        mask[ord(c)] = 0
    ranges = "".join(
        f"\\U{m.start():08x}-\\U{m.end() - 1:08x}" for m in re.finditer(b"\x01+", mask)
    )
    return re.compile(f"[{ranges}]+")


class DeclarationInvalid(Exception):
    """Submitted data failed validation; nothing was saved.

    ``errors`` maps a field name (``alias``, ``orgs``, ``statement``, ``region``,
    ``declared_on``, ``channel``, ``campaign``) to translated messages, ready for a form
    or an API error body.
    """

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


def clean_text(value: object, *, multiline: bool = False) -> str:
    """Normalise user text: Unicode NFC, control/format characters removed, trimmed.

    The rules, in order:

    1. ``None`` is ``""``; anything else is ``str(value)``, normalised to NFC.
    2. Characters of the categories Cc (control), Cf (format: bidi overrides, zero-width),
       Cs (surrogate) and Co (private use) are removed — after normalising, so removing
       one may leave text that is not NFC. Single-line text keeps tab, CR and LF (as
       whitespace, step 3); multi-line text first turns ``\\r\\n`` and ``\\r`` into
       ``\\n``, keeps ``\\n`` and removes tabs with the other controls.
    3. Single-line: every run of whitespace (``str.isspace``) becomes one space.
       Multi-line: the same within each line, and each line is trimmed; three or more
       line breaks in a row become two (at most one blank line).
    4. The result is trimmed of whitespace (and, multi-line, of line breaks) at both ends.
    """
    if value is None:
        return ""
    text = value if type(value) is str else str(value)
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if text.isprintable():
        # The common case: no character of a dropped category and no whitespace but
        # U+0020 (str.isprintable is false for C* and Z* except the space), so one line.
        if "  " in text:
            text = _SPACES.sub(" ", text)
        return text.strip()
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = _LINE_SPACES.sub(" ", _dropped("\n").sub("", text))
        text = _BLANK_LINES.sub("\n\n", _LINE_EDGES.sub("\n", text))
    else:
        text = _SPACES.sub(" ", _dropped("\t\n\r").sub("", text))
    return text.strip()


def validate_declaration(
    campaign: Campaign,
    *,
    alias: object,
    orgs: object,
    statement: object = "",
    region: object = "",
    channel: object = Channel.WEB,
    declared_on: object = None,
    known_orgs: frozenset[str] | None = None,
) -> dict[str, Any]:
    """Normalise and validate a declaration's fields without saving anything.

    Returns the cleaned fields (``alias``, ``orgs``, ``statement``, ``region``,
    ``channel``, ``declared_on``) ready for ``new_declaration``; raises
    ``DeclarationInvalid`` listing every bad field. ``known_orgs`` (the campaign's
    organisation codes) saves a query per call when validating many rows (bulk import).

    Bulk import calls this for every row, so the common case avoids work: values that
    are already clean (a known organisation code, region or channel as a plain ``str``;
    a ``YYYY-MM-DD`` date) skip ``clean_text``, and messages are translated only for
    a field that fails. Each field gets at most one message.
    """
    errors: dict[str, list[str]] = {}

    if campaign.kind != Campaign.Kind.DECLARATION:
        errors["campaign"] = [_("This campaign does not take declarations.")]
    elif not campaign.is_active or (campaign.closes_at and campaign.closes_at <= timezone.now()):
        errors["campaign"] = [_("This campaign is closed.")]

    clean_alias = clean_text(alias)
    if not clean_alias:
        errors["alias"] = [_("Please enter an alias (any name you choose).")]
    elif len(clean_alias) > ALIAS_MAX:
        errors["alias"] = [_("The alias is too long: at most %(max)d characters.") % {"max": ALIAS_MAX}]

    clean_orgs: list[str] = []
    if isinstance(orgs, str) or not (type(orgs) is list or isinstance(orgs, Iterable)):
        errors["orgs"] = [_("Choose at least one organisation.")]
    else:
        if known_orgs is None:
            known_orgs = frozenset(campaign.organisations.values_list("code", flat=True))
        # Codes that clean to themselves: given as they are, they need no clean_text.
        clean_known = _clean_codes(known_orgs) if type(known_orgs) is frozenset else frozenset()
        if type(orgs) is list and orgs and all(type(o) is str and o in clean_known for o in orgs):
            clean_orgs = sorted(set(orgs)) if len(orgs) > 1 else list(orgs)
        else:
            codes = [clean_text(o) for o in orgs]
            unknown = sorted({c for c in codes if c not in known_orgs})
            if not codes:
                errors["orgs"] = [_("Choose at least one organisation.")]
            elif unknown:
                errors["orgs"] = [_("Unknown organisation: %(codes)s.") % {"codes": ", ".join(unknown)}]
            clean_orgs = sorted(set(codes))

    if type(statement) is str and not statement:
        clean_statement = ""
    else:
        clean_statement = clean_text(statement, multiline=True)
    if len(clean_statement) > STATEMENT_MAX:
        errors["statement"] = [
            _("The statement is too long: at most %(max)d characters (you wrote %(n)d).")
            % {"max": STATEMENT_MAX, "n": len(clean_statement)}
        ]

    if type(region) is str and (not region or region in _CLEAN_REGIONS):
        clean_region = region  # "" or a region's code: already clean
    else:
        clean_region = clean_text(region)
        if clean_region and not is_region(clean_region):
            errors["region"] = [_("Unknown region.")]

    if type(channel) in (str, Channel) and channel in _CHANNELS:
        clean_channel = str(channel)  # a channel's value: already clean
    else:
        clean_channel = clean_text(channel)
        if clean_channel not in _CHANNELS:
            errors["channel"] = [_("Unknown channel.")]

    clean_day: datetime.date | None = None
    if declared_on is None or declared_on == "":
        pass
    elif isinstance(declared_on, datetime.datetime):
        errors["declared_on"] = [_("Give a date, not a time.")]
    else:
        if isinstance(declared_on, datetime.date):
            clean_day = declared_on
        else:
            try:
                if type(declared_on) is str and _ISO_DAY.fullmatch(declared_on):
                    clean_day = datetime.date.fromisoformat(declared_on)  # clean as it is
                else:
                    clean_day = datetime.date.fromisoformat(clean_text(declared_on))
            except ValueError:
                errors["declared_on"] = [_("Give the date as YYYY-MM-DD.")]
        if clean_day is not None:
            if clean_day > _today():
                errors["declared_on"] = [_("The date is in the future.")]
            elif clean_day < EARLIEST_DECLARED_ON:
                errors["declared_on"] = [_("The date is too early.")]

    if clean_channel in CONTACT_CHECKED_CHANNELS:  # no phone number or email published
        errors = {**contact_errors(alias=clean_alias, statement=clean_statement), **errors}
    if errors:
        raise DeclarationInvalid(errors)
    return {
        "alias": clean_alias,
        "orgs": clean_orgs,
        "statement": clean_statement,
        "region": clean_region,
        "channel": clean_channel,
        "declared_on": clean_day,
    }


# Region codes that clean_text leaves as they are (all of them: slugs).
_CLEAN_REGIONS = frozenset(c for c in BY_CODE if clean_text(c) == c)


@functools.lru_cache(maxsize=16)
def _clean_codes(known_orgs: frozenset[str]) -> frozenset[str]:
    """The codes of ``known_orgs`` that ``clean_text`` leaves as they are."""
    return frozenset(c for c in known_orgs if type(c) is str and clean_text(c) == c)


class _Today:
    """``timezone.now().date()``, computed once per UTC day instead of once per row."""

    day = datetime.date.min
    starts = ends = 0.0  # the day's bounds, seconds since the epoch


def _today() -> datetime.date:
    """Today's date as ``timezone.now().date()`` gives it (UTC, as ``USE_TZ`` is on)."""
    if not settings.USE_TZ:
        return timezone.now().date()
    now = time.time()  # the clock datetime.now() reads
    if not _Today.starts <= now < _Today.ends:
        day = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).date()
        starts = datetime.datetime.combine(day, datetime.time(), datetime.timezone.utc).timestamp()
        _Today.day, _Today.starts, _Today.ends = day, starts, starts + _SECONDS_PER_DAY
    return _Today.day
