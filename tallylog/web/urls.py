"""Public pages (mounted at / by tallylog/urls.py)."""

urlpatterns: list = []
