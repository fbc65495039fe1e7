"""The JSON API (mounted at /api/v1/ by tallylog/urls.py).

Paths
that no endpoint serves, and methods an endpoint does not take, answer with the JSON
error body too (``tallylog.api.errors``).
"""

from django.urls import URLPattern, URLResolver, re_path

from tallylog.api.endpoints import api
from tallylog.api.errors import json_404, json_405


def _json_errors(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = json_405(pattern.callback)
    return patterns


app_name = "api"  # the namespace django-ninja reverses its own URLs in

urlpatterns = [
    *_json_errors(list(api.urls[0])),
    re_path(r"^.*$", json_404, name="api-not-found"),
]
