"""Keeping phone numbers out of the call log.

A call record never holds a phone number: the forms have no field for one, and every
free-text value is checked by ``looks_like_phone_number``, which errs on the side of
refusing. The detector is the declarations' own (``tallylog.registry.declarations.contact``):
one definition for the console, the public form and the API.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tallylog.registry.declarations.contact import (  # noqa: F401 (re-exported)
    MIN_PHONE_DIGITS,
    looks_like_phone_number,
)


def reject_phone_number(text: str) -> None:
    """Django validator: refuse free text that looks like a phone number."""
    if looks_like_phone_number(text):
        raise ValidationError(
            _("This looks like a phone number. Never record a phone number; remove it."),
            code="phone_number",
        )


def latest_today() -> datetime.date:
    """Today's date where it is latest on Earth (UTC+14): no call can be dated after it."""
    return (timezone.now() + datetime.timedelta(hours=14)).date()


def not_in_future(day: datetime.date) -> None:
    """Django validator: refuse a date that has not yet begun anywhere."""
    if day > latest_today():
        raise ValidationError(_("A call cannot be dated in the future."), code="future")


def region_choices() -> list[tuple[str, str]]:
    """The regions one may name (``declarations.regions.REGIONS``), in the active language."""
    from django.utils.translation import get_language

    from tallylog.registry.declarations.regions import REGIONS

    language = get_language()
    return [(region.code, region.name(language)) for region in REGIONS]


def known_region(code: str) -> None:
    """Django validator: the empty string or a region code of ``REGIONS``."""
    from tallylog.registry.declarations.regions import is_region

    if code and not is_region(code):
        raise ValidationError(_("Unknown region."), code="region")
