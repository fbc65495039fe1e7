"""Template filters of the console: ``{% load consoletags %}``.

- ``{% stylesheet %}``: the console stylesheet's URL, versioned by its content hash.
- ``{{ code|label:labels }}``: the label of ``code`` in the ``{code: label}`` mapping a view
  built once per page (regions in the reader's language), the code itself if it has none.
"""

from __future__ import annotations

from collections.abc import Mapping

from django import template
from django.urls import reverse

register = template.Library()


@register.filter
def label(code: str, labels: Mapping[str, str]) -> str:
    return labels.get(code, code) if code else ""


@register.simple_tag
def stylesheet() -> str:
    from tallylog.console.views import stylesheet_bytes

    return f"{reverse('console:stylesheet')}?v={stylesheet_bytes()[1]}"
