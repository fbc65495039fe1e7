"""Keeping phone numbers out of the call log.

A call record never holds a phone number: the forms have no field for one, and every
free-text value is checked by ``looks_like_phone_number``, which errs on the side of
refusing. It looks for seven or more digits in a run that may be broken by spaces, dots,
dashes, slashes or brackets and may start with ``+``, after folding full-width digits
(NFKC) and Chinese numerals (一二三…, 壹贰叁…, 〇/零) to ASCII digits — the ways a number
gets typed or dictated. Calendar dates written year first (2026-11-25) are not counted.
"""

from __future__ import annotations

import datetime
import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MIN_PHONE_DIGITS = 7

_CHINESE_DIGITS = str.maketrans(
    {
        "〇": "0", "零": "0", "洞": "0",
        "一": "1", "壹": "1", "幺": "1", "么": "1",
        "二": "2", "贰": "2", "貳": "2", "两": "2", "兩": "2",
        "三": "3", "叁": "3", "參": "3",
        "四": "4", "肆": "4",
        "五": "5", "伍": "5",
        "六": "6", "陆": "6", "陸": "6",
        "七": "7", "柒": "7", "拐": "7",
        "八": "8", "捌": "8",
        "九": "9", "玖": "9", "勾": "9",
    }
)  # fmt: skip
# A digit followed by up to three separators, repeated: "138 0013-8000", "(010) 1234.5678".
_DIGIT_RUN = re.compile(r"\+?\(?\d(?:[\s.\-/()]{0,3}\d)+")
# Calendar dates (2026-11-25, 2026/11/25, 2026.11.25) are not phone numbers.
_DATE = re.compile(r"(?<!\d)(?:19|20)\d\d([-/.])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])(?!\d)")


def looks_like_phone_number(text: str) -> bool:
    """True when ``text`` holds a run of ``MIN_PHONE_DIGITS`` or more digits, however
    written (see the module docstring)."""
    folded = _DATE.sub(" ", unicodedata.normalize("NFKC", text).translate(_CHINESE_DIGITS))
    return any(sum(ch.isdigit() for ch in run.group()) >= MIN_PHONE_DIGITS for run in _DIGIT_RUN.finditer(folded))


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
