"""Safe rendering of the Markdown that operators write in news posts.

Two layers: markdown-it-py with raw HTML disabled (``<script>`` in the source stays text),
then nh3 (the ammonia sanitiser) on the output, which keeps only a short list of tags and
attributes, only http(s)/mailto links, and adds ``rel="noopener noreferrer nofollow"``.
Images are dropped: an ``<img>`` pointing elsewhere would make every reader's browser
contact a third party, which these pages never do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urljoin

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "em", "strong", "code", "pre", "blockquote",
    "ul", "ol", "li", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(source: str) -> str:
    """HTML for ``source`` (CommonMark + tables), safe to insert in a page unescaped."""
    return _clean(_md.render(source))


def _clean(html: str, href: Callable[[str], str] | None = None) -> str:
    def attribute(tag: str, name: str, value: str) -> str:
        return href(value) if href is not None and tag == "a" and name == "href" else value

    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        attribute_filter=attribute if href is not None else None,
    )


def html_with_absolute_links(html: str, page_url: str) -> str:
    """``html`` (``render_markdown``'s) with every link resolved against ``page_url``: for
    mail, where ``/transparency/`` has no site to be relative to. Sanitised again, as by
    ``render_markdown``; ``markdown_with_absolute_links`` does the same to the source."""
    return _clean(html, lambda href: urljoin(page_url, href))


# An inline link's destination (``](dest``) or a link reference definition's
# (``[label]: dest``), in angle brackets or not (CommonMark §6.3, §4.7).
_DESTINATION = re.compile(r"(?P<inline>\]\(\s*<?)(?P<dest>[^\s)>]+)|^(?P<ref> {0,3}\[[^\]]+\]:\s*<?)(?P<rdest>[^\s>]+)", re.M)


def markdown_with_absolute_links(source: str, page_url: str) -> str:
    """The Markdown ``source`` with each link destination resolved against ``page_url``:
    the plain-text part of a mail (``html_with_absolute_links`` is its HTML part)."""

    def absolute(match: re.Match[str]) -> str:
        if match["inline"] is not None:
            return match["inline"] + urljoin(page_url, match["dest"])
        return match["ref"] + urljoin(page_url, match["rdest"])

    return _DESTINATION.sub(absolute, source)
