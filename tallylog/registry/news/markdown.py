"""Safe rendering of the Markdown that operators write in news posts.

Two layers: markdown-it-py with raw HTML disabled (``<script>`` in the source stays text),
then nh3 (the ammonia sanitiser) on the output, which keeps only a short list of tags and
attributes, only http(s)/mailto links, and adds ``rel="noopener noreferrer nofollow"``.
Images are dropped: an ``<img>`` pointing elsewhere would make every reader's browser
contact a third party, which these pages never do.
"""

from __future__ import annotations

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
    html = _md.render(source)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
