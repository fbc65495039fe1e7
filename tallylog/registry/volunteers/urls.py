"""URLs of the volunteers app (mounted by tallylog/urls.py)."""

urlpatterns: list = []
