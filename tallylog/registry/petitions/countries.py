"""Countries and regions a signer can choose, named in the reader's language.

Codes are ISO 3166-1 alpha-2 (from pycountry); names come from pycountry's translations
(zh_CN for Simplified, zh_TW for Traditional Chinese), except where its wording is
contested and a neutral name is used instead.
"""

from __future__ import annotations

import gettext
from functools import cache

import pycountry
from django.utils.translation import get_language

from tallylog.registry.news.models import site_language

_LOCALE = {"zh-hans": "zh_CN", "zh-hant": "zh_TW"}
# Neutral names where pycountry's (or its translators') wording takes a side.
_OVERRIDES = {
    "TW": {"en": "Taiwan", "zh-hans": "台湾", "zh-hant": "台灣"},
    "HK": {"en": "Hong Kong", "zh-hans": "香港", "zh-hant": "香港"},
    "MO": {"en": "Macao", "zh-hans": "澳门", "zh-hant": "澳門"},
}
CODES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)


@cache
def _names(language: str) -> dict[str, str]:
    names = {}
    if language in _LOCALE:
        translate = gettext.translation(
            "iso3166-1", pycountry.LOCALES_DIR, languages=[_LOCALE[language]]
        ).gettext
    for country in pycountry.countries:
        english = getattr(country, "common_name", None) or country.name
        name = english
        if language in _LOCALE:
            name = translate(english)
            if name == english:
                name = translate(country.name)
        names[country.alpha_2] = _OVERRIDES.get(country.alpha_2, {}).get(language, name)
    return names


def country_name(code: str, language_code: str | None = None) -> str:
    """The name of ``code`` in ``language_code`` (default: the active language)."""
    return _names(site_language(language_code or get_language())).get(code, code)


def country_choices(language_code: str | None = None) -> list[tuple[str, str]]:
    """(code, name) of every country or region, sorted by name in that language."""
    names = _names(site_language(language_code or get_language()))
    return sorted(names.items(), key=lambda item: item[1])
