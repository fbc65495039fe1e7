"""Share links: plain URLs of each network's share endpoint, nothing loaded from them.

A share link is an ordinary ``<a>`` the reader may follow; the page embeds no script,
image, font or frame of any of these sites, and the links carry
``rel="noopener noreferrer"`` and ``referrerpolicy="no-referrer"`` so the network learns
nothing but the URL being shared. Copying the link needs no JavaScript: it is shown in a
read-only text field.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode


@dataclass(frozen=True)
class ShareTarget:
    key: str  # stable identifier, also the CSS class
    name: str  # the network's own name (not translated)
    href: str


def share_targets(url: str, title: str) -> list[ShareTarget]:
    """Share links for the absolute ``url`` titled ``title``, one per network, in order:
    Facebook, X, LinkedIn, Telegram, WhatsApp, Weibo, email."""
    text = f"{title} {url}"
    return [
        ShareTarget("facebook", "Facebook", "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": url})),
        ShareTarget("x", "X", "https://x.com/intent/post?" + urlencode({"url": url, "text": title})),
        ShareTarget("linkedin", "LinkedIn", "https://www.linkedin.com/sharing/share-offsite/?" + urlencode({"url": url})),
        ShareTarget("telegram", "Telegram", "https://t.me/share/url?" + urlencode({"url": url, "text": title})),
        ShareTarget("whatsapp", "WhatsApp", "https://wa.me/?" + urlencode({"text": text})),
        ShareTarget("weibo", "微博 Weibo", "https://service.weibo.com/share/share.php?" + urlencode({"url": url, "title": title})),
        ShareTarget("email", "Email", f"mailto:?subject={quote(title)}&body={quote(text)}"),
    ]
