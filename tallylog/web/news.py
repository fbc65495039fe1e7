"""News pages: the list (in the reader's language), one post, and the Atom feed.

Mounted at /news/ by tallylog/urls.py; URL names in the ``news`` namespace.
"""

from __future__ import annotations

from django.contrib.syndication.views import Feed
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from tallylog.registry.news.models import Post, site_language

PAGE_SIZE = 20


def post_list(request: HttpRequest) -> HttpResponse:
    language = site_language(get_language())
    posts = Post.objects.published().for_reader(language)
    page = Paginator(posts, PAGE_SIZE).get_page(request.GET.get("page"))
    elsewhere = any(post.language != language for post in page.object_list)
    return render(request, "news/list.html", {"page": page, "language": language, "elsewhere": elsewhere})


def post_detail(request: HttpRequest, slug: str) -> HttpResponse:
    post = Post.objects.published().select_related("translation_of").filter(slug=slug).first()
    if post is None:
        raise Http404(_("No such news post."))
    others = [p for p in post.family() if p.pk != post.pk and p.is_published]
    return render(request, "news/post.html", {"post": post, "translations": others})


class PostFeed(Feed):
    """Atom 1.0 (RFC 4287) feed of the latest posts in the reader's language."""

    feed_type = Atom1Feed
    limit = 30

    def get_object(self, request: HttpRequest, *args: object, **kwargs: object) -> str:
        return site_language(get_language())

    def title(self, language: str) -> str:
        return _("News")

    def link(self, language: str) -> str:
        return reverse("news:list")

    def feed_url(self, language: str) -> str:
        return reverse("news:feed")

    def subtitle(self, language: str) -> str:
        return _("News from the organisers")

    def items(self, language: str) -> list[Post]:
        return list(Post.objects.published().in_language(language).newest_first()[: self.limit])

    def item_title(self, item: Post) -> str:
        return item.title

    def item_description(self, item: Post) -> str:
        return item.body_html

    def item_pubdate(self, item: Post) -> object:
        return item.published_at

    def item_updateddate(self, item: Post) -> object:
        return max(item.updated_at, item.published_at) if item.published_at else item.updated_at


app_name = "news"
urlpatterns = [
    path("", post_list, name="list"),
    path("feed.atom", PostFeed(), name="feed"),
    path("<slug:slug>/", post_detail, name="post"),
]
