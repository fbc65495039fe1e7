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
from tallylog.registry.declarations.contact import contact_errors
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


class _Invalid(Exception):
    """A field broke a rule; ``message`` (translated) says which."""

    def __init__(self, message: str) -> None:
        self.message = message


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
    ``DeclarationInvalid`` listing every bad field, each with one message. ``known_orgs``
    (the campaign's organisation codes) saves a query per call when validating many rows
    (bulk import). Each rule is one function below, returning the clean value or raising
    ``_Invalid`` with its message.
    """
    errors: dict[str, list[str]] = {}
    try:
        _takes_declarations(campaign)
    except _Invalid as exc:
        errors["campaign"] = [exc.message]
    try:
        clean_alias = _alias(alias)
    except _Invalid as exc:
        errors["alias"] = [exc.message]
    try:
        clean_orgs = _orgs(orgs, campaign, known_orgs)
    except _Invalid as exc:
        errors["orgs"] = [exc.message]
    try:
        clean_statement = _statement(statement)
    except _Invalid as exc:
        errors["statement"] = [exc.message]
    try:
        clean_region = _region(region)
    except _Invalid as exc:
        errors["region"] = [exc.message]
    try:
        clean_channel = _channel(channel)
    except _Invalid as exc:
        errors["channel"] = [exc.message]
    try:
        clean_day = _declared_on(declared_on)
    except _Invalid as exc:
        errors["declared_on"] = [exc.message]
    # No phone number or email address is published, whatever the channel, bulk import
    # too (tallylog.registry.declarations.contact).
    found = contact_errors(
        alias=clean_alias if "alias" not in errors else "",
        statement=clean_statement if "statement" not in errors else "",
    )
    errors = {**found, **errors}
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


# --- The rules: one per field. ------------------------------------------------------------


def _takes_declarations(campaign: Campaign) -> None:
    """The campaign is a declaration campaign, active and not closed."""
    if campaign.kind != Campaign.Kind.DECLARATION:
        raise _Invalid(_("This campaign does not take declarations."))
    if not campaign.is_active or (campaign.closes_at and campaign.closes_at <= timezone.now()):
        raise _Invalid(_("This campaign is closed."))


def _alias(value: object) -> str:
    """Any name the declarant chooses: not empty, at most ``ALIAS_MAX`` characters."""
    alias = clean_text(value)
    if not alias:
        raise _Invalid(_("Please enter an alias (any name you choose)."))
    if len(alias) > ALIAS_MAX:
        raise _Invalid(_("The alias is too long: at most %(max)d characters.") % {"max": ALIAS_MAX})
    return alias


def _orgs(value: object, campaign: Campaign, known_orgs: frozenset[str] | None) -> list[str]:
    """At least one organisation, each one of the campaign's codes; sorted, each once."""
    # Any iterable but a str ("type is list" first: speed).
    if not (type(value) is list or isinstance(value, Iterable)) or isinstance(value, str):
        raise _Invalid(_("Choose at least one organisation."))
    if known_orgs is None:
        known_orgs = frozenset(campaign.organisations.values_list("code", flat=True))
    # (speed) Codes given as they clean to: no clean_text.
    clean = _clean_codes(known_orgs) if type(known_orgs) is frozenset else frozenset()
    if type(value) is list and value and all(type(c) is str and c in clean for c in value):
        return sorted(set(value)) if len(value) > 1 else list(value)
    codes = [clean_text(code) for code in value]
    if not codes:
        raise _Invalid(_("Choose at least one organisation."))
    unknown = sorted({code for code in codes if code not in known_orgs})
    if unknown:
        raise _Invalid(_("Unknown organisation: %(codes)s.") % {"codes": ", ".join(unknown)})
    return sorted(set(codes))


def _statement(value: object) -> str:
    """Optional text of several lines, at most ``STATEMENT_MAX`` characters."""
    statement = "" if type(value) is str and not value else clean_text(value, multiline=True)  # (speed)
    if len(statement) > STATEMENT_MAX:
        raise _Invalid(
            _("The statement is too long: at most %(max)d characters (you wrote %(n)d).")
            % {"max": STATEMENT_MAX, "n": len(statement)}
        )
    return statement


def _region(value: object) -> str:
    """Optional: one of the regions' codes."""
    if type(value) is str and value in _CLEAN_REGIONS:
        return value  # already clean (speed)
    region = clean_text(value)
    if region and not is_region(region):
        raise _Invalid(_("Unknown region."))
    return region


def _channel(value: object) -> str:
    """One of the channels' values."""
    if type(value) in _PLAIN_STR_TYPES and value in _CHANNELS:
        return str(value)  # already clean (speed)
    channel = clean_text(value)
    if channel not in _CHANNELS:
        raise _Invalid(_("Unknown channel."))
    return channel


def _declared_on(value: object) -> datetime.date | None:
    """Optional: a day (``YYYY-MM-DD`` or a ``date``, not a time), not in the future, not
    before ``EARLIEST_DECLARED_ON``."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        raise _Invalid(_("Give a date, not a time."))
    if isinstance(value, datetime.date):
        day = value
    else:
        try:
            day = datetime.date.fromisoformat(
                value if type(value) is str and _ISO_DAY.fullmatch(value) else clean_text(value)  # (speed)
            )
        except ValueError:
            raise _Invalid(_("Give the date as YYYY-MM-DD.")) from None
    if day > _today():
        raise _Invalid(_("The date is in the future."))
    if day < EARLIEST_DECLARED_ON:
        raise _Invalid(_("The date is too early."))
    return day


# --- Speed only: shortcuts that give the rules' own results for the common values. --------
# Bulk import applies the rules to millions of rows. Values that are already clean (a known
# organisation code, region or channel given as a plain ``str``; a ``YYYY-MM-DD`` date; an
# empty statement) skip ``clean_text`` — the rules mark those one-line checks "(speed)" —
# and today's date is computed once per day. Each shortcut returns exactly what the rule's
# own path would (tests/registry/declarations/test_validation.py compares them
# with tests/support/reference.py; bench/bench_validate.py measures them).

# Region codes that clean_text leaves as they are (all of them: slugs), and "" (no region).
_CLEAN_REGIONS = frozenset(c for c in BY_CODE if clean_text(c) == c) | {""}
# ``str`` and the one choices type whose ``str`` is its value that callers pass (the default
# channel): ``type(value) in`` is cheaper than ``isinstance``.
_PLAIN_STR_TYPES = (str, Channel)


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
        day = datetime.datetime.fromtimestamp(now, datetime.UTC).date()
        starts = datetime.datetime.combine(day, datetime.time(), datetime.UTC).timestamp()
        _Today.day, _Today.starts, _Today.ends = day, starts, starts + _SECONDS_PER_DAY
    return _Today.day
