"""The JSON API (mounted at /api/v1/ by tallylog/urls.py)."""

urlpatterns: list = []
