"""URLs of the news app (mounted by tallylog/urls.py)."""

urlpatterns: list = []
