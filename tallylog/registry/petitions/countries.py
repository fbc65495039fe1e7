"""Countries and regions a signer can choose, named and sorted as readers of each language expect.

Codes are ISO 3166-1 alpha-2 (from pycountry). Names are Unicode CLDR's (through Babel),
which are reviewed for each locale (pycountry's Chinese translations had typos: 柬埔塞,
波利维亚, 吉尔吉斯坦), except where the wording is contested and a neutral name is used.

Sorting follows the reader, not code points: Simplified Chinese by pinyin, Traditional
Chinese by zhuyin (bopomofo), syllable by syllable and then by tone, as Chinese
dictionaries and Taiwan's school lists do (readings from pypinyin); English by letters,
ignoring accents and case (Åland among the A's, Côte d’Ivoire among the C's).
"""

from __future__ import annotations

import unicodedata
from functools import cache

import pycountry
from babel import Locale
from django.utils.translation import get_language
from pypinyin import Style, lazy_pinyin

from tallylog.registry.news.models import site_language

_CLDR = {"zh-hans": "zh_Hans", "zh-hant": "zh_Hant", "en": "en"}
# Neutral names where CLDR's wording takes a side.
_OVERRIDES = {
    "TW": {"en": "Taiwan", "zh-hans": "台湾", "zh-hant": "台灣"},
    "HK": {"en": "Hong Kong", "zh-hans": "香港", "zh-hant": "香港"},
    "MO": {"en": "Macao", "zh-hans": "澳门", "zh-hant": "澳門"},
    "PS": {"en": "Palestine", "zh-hans": "巴勒斯坦", "zh-hant": "巴勒斯坦"},
}
CODES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)
_TONE_MARKS = {"ˊ": 2, "ˇ": 3, "ˋ": 4, "˙": 5}


@cache
def _names(language: str) -> dict[str, str]:
    territories = Locale.parse(_CLDR.get(language, "en")).territories
    return {code: _OVERRIDES.get(code, {}).get(language) or territories.get(code, code) for code in CODES}


def _pinyin_key(name: str) -> tuple[tuple[str, int], ...]:
    """Syllable by syllable: the letters (ü as v, after u), then the tone (1–4, 5 neutral)."""
    syllables = lazy_pinyin(name, style=Style.TONE3, neutral_tone_with_five=True)
    return tuple((s[:-1], int(s[-1])) if s[-1:].isdigit() else (s, 0) for s in syllables)


def _zhuyin_key(name: str) -> tuple[tuple[str, int], ...]:
    """Syllable by syllable in zhuyin order (ㄅㄆㄇㄈ…, the order of the Bopomofo block), then the tone."""
    keys = []
    for s in lazy_pinyin(name, style=Style.BOPOMOFO):
        tone = next((_TONE_MARKS[c] for c in s if c in _TONE_MARKS), 1)
        keys.append(("".join(c for c in s if c not in _TONE_MARKS), tone))
    return tuple(keys)


def _letters_key(name: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)).casefold()


def collation_key(name: str, language: str) -> tuple[object, ...]:
    """How ``name`` sorts for readers of ``language`` (``zh-hans``, ``zh-hant``, ``en``)."""
    if language == "zh-hans":
        return (_pinyin_key(name), name)
    if language == "zh-hant":
        return (_zhuyin_key(name), name)
    return (_letters_key(name), name)


def country_name(code: str, language_code: str | None = None) -> str:
    """The name of ``code`` in ``language_code`` (default: the active language)."""
    return _names(site_language(language_code or get_language())).get(code, code)


@cache
def _sorted(language: str) -> list[tuple[str, str]]:
    names = _names(language)
    return sorted(names.items(), key=lambda item: collation_key(item[1], language))


def country_choices(language_code: str | None = None) -> list[tuple[str, str]]:
    """(code, name) of every country or region, sorted as readers of that language expect."""
    return list(_sorted(site_language(language_code or get_language())))
