"""Contact details in free text: the ONE detector of phone numbers and email addresses.

What people type to be reached ("有事打我电话 138 1234 5678", ``１３８…``,
"一三八一二三四五六七八", ``name@example.com``) must not reach a public page or the
permanent log, nor a call record. Every declaration, whatever its channel (web form, API,
console, email intake, bulk import), is checked by ``validate_declaration`` through
``contact_errors`` (an imported row that fails goes to the import's report); the console's call notes by
``tallylog.registry.volunteers.validators.reject_phone_number``.

``looks_like_phone_number`` looks for seven or more digits in a run that may be broken by
spaces, dots, dashes, slashes or brackets and may start with ``+``, after folding
full-width digits (NFKC) and Chinese numerals (一二三…, 壹贰叁…, 〇/零) to ASCII digits —
the ways a number gets typed or dictated. Calendar dates written year first (2026-11-25)
are not counted. ``looks_like_email`` looks for ``local@domain.tld`` after the same folding
(``＠`` is ``@``), with spaces around ``@`` and dots, and ``(at)``/``[at]`` for ``@``.
Both err on the side of refusing.
"""

from __future__ import annotations

import re
import unicodedata

from django.utils.translation import gettext as _

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
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}\s*(?:@|[(\[]\s*at\s*[)\]])\s*"
    r"[A-Za-z0-9-]+(?:\s*(?:\.|[(\[]\s*dot\s*[)\]])\s*[A-Za-z0-9-]+)+",
    re.IGNORECASE,
)


# Any digit as NFKC leaves it, or a Chinese numeral: fewer than MIN_PHONE_DIGITS of them
# in a text and it holds no phone number (one scan in C instead of folding every text).
_ANY_DIGIT = re.compile("[0-9" + "".join(chr(c) for c in _CHINESE_DIGITS) + "]")
_AT_WORD = re.compile(r"[(\[]\s*at\s*[)\]]", re.IGNORECASE)


def _fold(text: str) -> str:
    """NFKC (full-width digits and ``＠``/``．`` to ASCII, ① to 1); ASCII is left as it is."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text
    return unicodedata.normalize("NFKC", text)


def _phone_in(folded: str) -> bool:
    if len(_ANY_DIGIT.findall(folded)) < MIN_PHONE_DIGITS:
        return False
    folded = _DATE.sub(" ", folded.translate(_CHINESE_DIGITS))
    return any(sum(ch.isdigit() for ch in run.group()) >= MIN_PHONE_DIGITS for run in _DIGIT_RUN.finditer(folded))


def _email_in(folded: str) -> bool:
    return ("@" in folded or _AT_WORD.search(folded) is not None) and _EMAIL.search(folded) is not None


def looks_like_phone_number(text: str) -> bool:
    """True when ``text`` holds a run of ``MIN_PHONE_DIGITS`` or more digits, however
    written (see the module docstring)."""
    return _phone_in(_fold(text))


def looks_like_email(text: str) -> bool:
    """True when ``text`` holds something like an email address (module docstring)."""
    return _email_in(_fold(text))


def contact_errors(**fields: str) -> dict[str, list[str]]:
    """For each field (name → text) that holds a phone number or an email address, a
    message in the active language saying why it is refused; ``{}`` when none does."""
    errors: dict[str, list[str]] = {}
    for name, text in fields.items():
        if not text:
            continue
        folded = _fold(text)
        if _phone_in(folded):
            errors[name] = [_(
                "This looks like a phone number. Everything you write here is published for "
                "everyone to read, forever: remove the number. We never need to contact you."
            )]
        elif _email_in(folded):
            errors[name] = [_(
                "This looks like an email address. Everything you write here is published for "
                "everyone to read, forever: remove the address. We never need to contact you."
            )]
    return errors
