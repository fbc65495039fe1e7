"""Template tags of the public pages: ``{% load tallyweb %}``.

- ``{% stylesheet_url %}``: the one first-party stylesheet, versioned by its content hash.
- ``{% script_url "verify.js" %}``: a first-party script, versioned the same way.
- ``{% lang_switcher %}``: links to this page in the other languages (no JavaScript, no
  form, so no cookie until a reader picks a language).
- ``{% site_name %}``: the site's name in the current language.
- ``{% gap %}``: a space between sentences in English, none in Chinese.
- ``{{ code|html_lang }}``: ``zh-hans`` → ``zh-Hans`` for ``<html lang>``.
- ``{% localized obj "field" %}``: ``obj.localized(field, current language)``.
- ``{{ data|b64 }}`` / ``{{ data|hex }}``: bytes for display.
- ``{% page_url name arg… %}``: like ``{% url %}``; kept apart so a static export can map it.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from tallylog.web import assets

register = template.Library()

HTML_LANG = {"zh-hans": "zh-Hans", "zh-hant": "zh-Hant", "en": "en"}


@register.simple_tag
def gap() -> str:
    """The space English puts between two sentences, or after a label's colon, and Chinese
    does not (after 。 or ：): ``{% translate "A." %}{% gap %}{% translate "B." %}``."""
    return "" if (translation.get_language() or "").startswith("zh") else " "


@register.simple_tag
def stylesheet_url() -> str:
    return assets.stylesheet_url()


@register.simple_tag
def script_url(name: str) -> str:
    return assets.script_url(name)


@register.filter
def html_lang(code: str) -> str:
    return HTML_LANG.get((code or "").lower(), code)


@register.simple_tag
def site_name() -> str:
    return _("Three withdrawals")


@register.simple_tag
def localized(obj: Any, field: str) -> str:
    return obj.localized(field, translation.get_language())


@register.filter
def b64(data: bytes | memoryview | None) -> str:
    return base64.b64encode(bytes(data or b"")).decode("ascii")


@register.filter
def grouped(value: int | None) -> str:
    """``1234567`` → ``1,234,567`` (the same in all three languages)."""
    return f"{int(value or 0):,}"


@register.filter(name="hex")
def hex_(data: bytes | memoryview | None) -> str:
    return bytes(data or b"").hex()


@register.filter
def leaf_text(data: bytes | memoryview | None) -> str:
    """A leaf (canonical UTF-8 JSON) as text."""
    return bytes(data or b"").decode("utf-8", errors="replace")


@register.inclusion_tag("web/lang_switcher.html", takes_context=True)
def lang_switcher(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    current = translation.get_language()
    export = getattr(request, "tallylog_export", None)
    next_path = request.get_full_path() if request is not None else "/"
    links = []
    for code, name in settings.LANGUAGES:
        if export is not None:
            href = export.lang_hrefs.get(code, "")
        else:
            href = reverse("web:set_language", args=[code]) + "?" + urlencode({"next": next_path})
        links.append({"code": code, "name": name, "href": href, "current": code == current, "lang": HTML_LANG[code]})
    return {"links": links}
