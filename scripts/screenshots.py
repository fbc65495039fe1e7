"""Screenshots of every public page, in the three languages, at 1280 px and 390 px.

With Debian's Chromium (tests/support/chromium.py), against a running site:

    tallylog init --home /tmp/shots --demo && tallylog demo --home /tmp/shots --count 40
    TALLYLOG_HOME=/tmp/shots DJANGO_SETTINGS_MODULE=tallylog.settings \\
        python scripts/screenshots.py --seed            # a petition and a news post
    tallylog serve --home /tmp/shots --port 8731 &
    python scripts/screenshots.py --base http://127.0.0.1:8731 --out /tmp/shots-png

Files are named ``<page>-<language>-<width>.png``; look at them. Nothing is written into
the repository.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAGES = {
    "home": "/",
    "declare": "/declare/",
    "declarations": "/declarations/",
    "entry": "/entries/0/",
    "receipt": "/receipt/",
    "withdraw": "/withdraw/",
    "transparency": "/transparency/",
    "verify": "/verify/",
    "certificate": "/certificate/0/",
    "petitions": "/petitions/",
    "petition": "/petitions/a-petition/",
    "news": "/news/",
    "post": "/news/big-news/",
    "newsletter": "/newsletter/",
    "log": "/log/",
    "notfound": "/no-such-page/",
}
LANGUAGES = ("zh-hans", "zh-hant", "en")
WIDTHS = (1280, 390)


def seed() -> None:
    """A petition and one news post in Simplified Chinese only (the fallback case)."""
    import django

    django.setup()
    from django.utils import timezone

    from tallylog.registry.campaigns.models import Campaign
    from tallylog.registry.news.models import Post

    Campaign.objects.get_or_create(
        slug="a-petition",
        defaults={"kind": Campaign.Kind.PETITION, "title_zh_hans": "释放良心犯", "title_zh_hant": "釋放良心犯",
                  "title_en": "Free the prisoners of conscience"},
    )
    Post.objects.get_or_create(
        slug="big-news",
        defaults={"title": "声明人数突破四十", "language": "zh-hans", "body": "感谢每一位声明人。**谢谢**。",
                  "published_at": timezone.now()},
    )


def shoot(base: str, out: Path, pages: list[str]) -> None:
    from tests.support.chromium import browser

    out.mkdir(parents=True, exist_ok=True)
    with browser() as b:
        for lang in LANGUAGES:
            for width in WIDTHS:
                context = b.new_context(
                    viewport={"width": width, "height": 900}, extra_http_headers={"Accept-Language": lang},
                    java_script_enabled=True,
                )
                page = context.new_page()
                for name in pages:
                    page.goto(base + PAGES[name])
                    page.screenshot(path=str(out / f"{name}-{lang}-{width}.png"), full_page=True)
                context.close()
    print(f"{len(pages) * len(LANGUAGES) * len(WIDTHS)} screenshots in {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="http://127.0.0.1:8731", help="the running site")
    parser.add_argument("--out", type=Path, default=Path("/tmp/tallylog-screenshots"))
    parser.add_argument("--page", action="append", choices=sorted(PAGES), help="only these pages (repeatable)")
    parser.add_argument("--seed", action="store_true", help="add the petition and the news post, then exit")
    args = parser.parse_args()
    if args.seed:
        seed()
    else:
        shoot(args.base.rstrip("/"), args.out, args.page or list(PAGES))


if __name__ == "__main__":
    main()
