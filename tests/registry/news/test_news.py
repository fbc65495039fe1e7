"""News posts: safe Markdown, list/post pages, the Atom feed, and share links."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tallylog.registry.news.markdown import render_markdown
from tallylog.registry.news.models import Post
from tallylog.registry.news.share import share_targets

ATOM = "{http://www.w3.org/2005/Atom}"


def make_post(slug: str, language: str = "en", *, days_ago: float = 1, body: str = "Hello **world**.", **kw: object) -> Post:
    return Post.objects.create(
        title=kw.pop("title", f"Title {slug}"), slug=slug, language=language, body=body,
        published_at=None if days_ago is None else timezone.now() - timedelta(days=days_ago), **kw,
    )


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "img", "iframe", "style", "object", "embed", "link", "form"):
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on") or name in ("src", "style"):
                self.found.append(f"{tag}[{name}]")
            scheme = re.match(r"\s*([^/?#:]*):", value or "")
            if name == "href" and scheme and scheme.group(1).lower() not in ("http", "https", "mailto"):
                self.found.append(f"{tag}[href={value}]")


def dangers(html: str) -> list[str]:
    """Elements and attributes of ``html`` that could run script or load from elsewhere."""
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.found


@pytest.fixture
def en() -> Client:
    return Client(headers={"accept-language": "en"})


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "[click](javascript:alert(1))",
        "<img src=x onerror=alert(1)>",
        "![tracker](https://tracker.example/p.png)",
        '<a href="https://x.example" onclick="alert(1)">x</a>',
        "<iframe src=https://x.example></iframe>",
        "<style>body{display:none}</style>",
    ],
)
def test_markdown_never_yields_script_or_third_party_loads(source: str) -> None:
    assert dangers(render_markdown(source)) == []


def test_markdown_keeps_formatting_and_makes_links_safe() -> None:
    html = render_markdown("# T\n\nSome *em* and [a link](https://example.org).\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<em>em</em>" in html and "<table>" in html
    assert 'href="https://example.org"' in html and 'rel="noopener noreferrer nofollow"' in html


@hsettings(max_examples=200, deadline=None)
@given(st.text())
def test_no_markdown_source_produces_a_script(source: str) -> None:
    assert dangers(render_markdown(source)) == []


def test_list_shows_published_posts_of_the_readers_language(en, db) -> None:
    make_post("old", days_ago=3)
    make_post("new", days_ago=1)
    make_post("draft", days_ago=None)
    make_post("future", days_ago=-1)
    make_post("chinese", "zh-hans")
    page = en.get("/news/").content.decode()
    assert page.index("Title new") < page.index("Title old")
    assert "Title draft" not in page and "Title future" not in page and "Title chinese" not in page
    zh = Client(headers={"accept-language": "zh-CN"}).get("/news/").content.decode()
    assert zh.index("Title chinese") < zh.index("Title new")  # English, as no Chinese version exists
    assert en.get("/news/draft/").status_code == 404
    assert en.get("/news/future/").status_code == 404


def test_a_chinese_reader_without_a_version_in_their_script_gets_the_other_then_english(en, db) -> None:
    """Issue 17: a Traditional reader saw "no news" when the only post was in Simplified."""
    only_simplified = make_post("jian", "zh-hans", days_ago=1)
    original = make_post("both", "zh-hans", days_ago=2)
    make_post("both-hant", "zh-hant", days_ago=2, translation_of=original)
    make_post("english", "en", days_ago=3)
    hant = Client(headers={"accept-language": "zh-TW"}).get("/news/").content.decode()
    titles = re.findall(r'<a href="/news/([a-z-]+)/"', hant)
    assert titles == ["jian", "both-hant", "english"]  # one version per story, newest first
    assert '<a href="/news/jian/" lang="zh-Hans">Title jian</a> <span class="meta">（简体中文）</span>' in hant
    assert "尚未譯成您所用語言的文章以原文顯示" in hant
    assert "此語言暫無新聞" not in hant
    hans = Client(headers={"accept-language": "zh-CN"}).get("/news/").content.decode()
    assert re.findall(r'<a href="/news/([a-z-]+)/"', hans) == ["jian", "both", "english"]
    only_simplified.delete()
    Post.objects.filter(slug="english").delete()
    hant = Client(headers={"accept-language": "zh-TW"}).get("/news/").content.decode()
    assert "尚未譯成" not in hant  # every post shown is in the reader's own script
    # English readers get English only (the Chinese stories are not theirs).
    assert re.findall(r'<a href="/news/([a-z-]+)/"', en.get("/news/").content.decode()) == []


def test_list_query_count_is_constant(en, db) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            en.get("/news/")
        return len(ctx.captured_queries)

    make_post("a")
    few = queries()
    for i in range(25):
        make_post(f"p{i}")
    assert queries() == few


def test_post_page_renders_safely_with_translations_and_share_links(en, db) -> None:
    original = make_post("launch", body="Launch <script>x()</script> **now**", title="We launch & grow")
    make_post("launch-zh", "zh-hans", translation_of=original, title="我们启动")
    page = en.get("/news/launch/").content.decode()
    assert "<strong>now</strong>" in page and "<script" not in page
    assert "&lt;script&gt;" in page  # raw HTML shown as text
    assert 'href="/news/launch-zh/"' in page
    links = re.findall(r'<a class="share-(\w+)" href="([^"]+)"([^>]*)>', page)
    assert [k for k, _h, _a in links] == ["facebook", "x", "linkedin", "telegram", "whatsapp", "weibo", "email"]
    for _key, _href, attrs in links:
        assert 'rel="noopener noreferrer nofollow"' in attrs and 'referrerpolicy="no-referrer"' in attrs
    facebook = parse_qs(urlsplit(links[0][1].replace("&amp;", "&")).query)
    assert facebook["u"] == ["http://testserver/news/launch/"]
    assert 'value="http://testserver/news/launch/"' in page  # copy-link field
    # Nothing is loaded from another host: no src= and no stylesheet elsewhere.
    assert not re.search(r'src="https?://', page)
    assert not re.search(r'<link[^>]+href="https?://', page)


def test_share_targets_encode_url_and_title() -> None:
    targets = {t.key: t.href for t in share_targets("https://s.example/p?a=1&b=2", "标题 & more")}
    assert parse_qs(urlsplit(targets["x"]).query) == {"url": ["https://s.example/p?a=1&b=2"], "text": ["标题 & more"]}
    assert parse_qs(urlsplit(targets["weibo"]).query)["title"] == ["标题 & more"]
    assert targets["email"].startswith("mailto:?subject=%E6%A0%87%E9%A2%98%20%26%20more&body=")
    assert all(not href.startswith("http:") for href in targets.values())


def test_atom_feed(en, db) -> None:
    make_post("one", body="Body *one*")
    make_post("two", days_ago=None)
    response = en.get("/news/feed.atom")
    assert response["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["Title one"]
    entry = entries[0]
    assert entry.find(f"{ATOM}link").get("href") == "http://testserver/news/one/"
    assert "<em>one</em>" in entry.findtext(f"{ATOM}summary")
    assert entry.findtext(f"{ATOM}updated")


def test_share_include_works_on_petition_pages(en, open_petition) -> None:
    page = en.get(f"/petitions/{open_petition.slug}/").content.decode()
    assert "https://t.me/share/url?url=http%3A%2F%2Ftestserver%2Fpetitions%2Fstand-with-them%2F" in page
