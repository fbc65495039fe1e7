"""URLs of the petitions app (mounted by tallylog/urls.py)."""

urlpatterns: list = []
