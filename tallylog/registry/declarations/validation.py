"""Validation of a declaration's fields by the registry's rules: the ONE definition.

``submit_declaration`` (web form, API, volunteers' console) and bulk import apply these
rules; ``clean_text`` is also every other free-text field's normaliser.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.models import ALIAS_MAX, STATEMENT_MAX, Channel
from tallylog.registry.declarations.regions import is_region

# Nobody withdrew from the Party before it was founded (1921-07-01); older dates are typos.
EARLIEST_DECLARED_ON = datetime.date(1921, 7, 1)

# Control (Cc), format (Cf: bidi overrides, zero-width), surrogate and private-use
# characters never reach a public surface.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
_SPACES = re.compile(r"\s+")


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

    Single-line text has every run of whitespace collapsed to one space; multi-line text
    keeps line breaks (``\\r\\n`` and ``\\r`` become ``\\n``) and at most one blank line.
    """
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = []
        for line in text.split("\n"):
            kept = "".join(c for c in line if unicodedata.category(c) not in _DROPPED_CATEGORIES)
            lines.append(_SPACES.sub(" ", kept).strip())
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    else:
        text = "".join(
            " " if c in "\t\n\r" else c
            for c in text
            if c in "\t\n\r" or unicodedata.category(c) not in _DROPPED_CATEGORIES
        )
        text = _SPACES.sub(" ", text)
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
    """
    errors: dict[str, list[str]] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if campaign.kind != Campaign.Kind.DECLARATION:
        fail("campaign", _("This campaign does not take declarations."))
    elif not campaign.is_active or (campaign.closes_at and campaign.closes_at <= timezone.now()):
        fail("campaign", _("This campaign is closed."))

    clean_alias = clean_text(alias)
    if not clean_alias:
        fail("alias", _("Please enter an alias (any name you choose)."))
    elif len(clean_alias) > ALIAS_MAX:
        fail("alias", _("The alias is too long: at most %(max)d characters.") % {"max": ALIAS_MAX})

    clean_orgs: list[str] = []
    if isinstance(orgs, str) or not isinstance(orgs, Iterable):
        fail("orgs", _("Choose at least one organisation."))
    else:
        codes = [clean_text(o) for o in orgs]
        known = (
            known_orgs
            if known_orgs is not None
            else frozenset(campaign.organisations.values_list("code", flat=True))
        )
        unknown = sorted({c for c in codes if c not in known})
        if not codes:
            fail("orgs", _("Choose at least one organisation."))
        elif unknown:
            fail("orgs", _("Unknown organisation: %(codes)s.") % {"codes": ", ".join(unknown)})
        clean_orgs = sorted(set(codes))

    clean_statement = clean_text(statement, multiline=True)
    if len(clean_statement) > STATEMENT_MAX:
        fail(
            "statement",
            _("The statement is too long: at most %(max)d characters (you wrote %(n)d).")
            % {"max": STATEMENT_MAX, "n": len(clean_statement)},
        )

    clean_region = clean_text(region)
    if clean_region and not is_region(clean_region):
        fail("region", _("Unknown region."))

    clean_channel = clean_text(channel)
    if clean_channel not in Channel.values:
        fail("channel", _("Unknown channel."))

    clean_day: datetime.date | None = None
    if declared_on not in (None, ""):
        if isinstance(declared_on, datetime.datetime):
            fail("declared_on", _("Give a date, not a time."))
        elif isinstance(declared_on, datetime.date):
            clean_day = declared_on
        else:
            try:
                clean_day = datetime.date.fromisoformat(clean_text(declared_on))
            except ValueError:
                fail("declared_on", _("Give the date as YYYY-MM-DD."))
        if clean_day is not None:
            if clean_day > timezone.now().date():
                fail("declared_on", _("The date is in the future."))
            elif clean_day < EARLIEST_DECLARED_ON:
                fail("declared_on", _("The date is too early."))

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
