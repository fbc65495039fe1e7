"""URLs of the subscribers app (mounted by tallylog/urls.py)."""

urlpatterns: list = []
