"""URLs of the news app (mounted at /news/ by tallylog/urls.py)."""

from django.urls import path

from tallylog.registry.news import views

app_name = "news"
urlpatterns = [
    path("", views.post_list, name="list"),
    path("feed.atom", views.PostFeed(), name="feed"),
    path("<slug:slug>/", views.post_detail, name="post"),
]
