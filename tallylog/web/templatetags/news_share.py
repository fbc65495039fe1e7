"""``{% share_targets url title as targets %}``: the share links of a page (see news/share.py)."""

from __future__ import annotations

from typing import Any

from django import template

from tallylog.registry.news.share import ShareTarget
from tallylog.registry.news.share import share_targets as build

register = template.Library()


@register.simple_tag(takes_context=True)
def share_targets(context: template.Context, url: str, title: str) -> dict[str, Any]:
    """The absolute form of ``url`` (relative to the current request) and its share links."""
    request = context.get("request")
    absolute = request.build_absolute_uri(url) if request is not None else url
    targets: list[ShareTarget] = build(absolute, str(title))
    return {"url": absolute, "targets": targets}
