"""The JSON API (mounted at /api/v1/ by tallylog/urls.py).

The petitions app's router is mounted at ``/api/v1/campaigns/`` (``…/{slug}/signatures``)
and the volunteers' console router at ``/api/v1/console/``. Paths
that no endpoint serves, and methods an endpoint does not take, answer with the JSON
error body too (``tallylog.api.errors``).
"""

from django.urls import URLPattern, URLResolver, re_path

from tallylog.api.endpoints import api
from tallylog.api.errors import json_404, json_405
from tallylog.registry.petitions.api import router as petitions_router
from tallylog.registry.volunteers.api import router as console_router

# The other apps' endpoints: /campaigns/{slug}/signatures and /console/….
api.add_router("/campaigns/", petitions_router)
api.add_router("/console/", console_router)


def _json_errors(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            # django-ninja's own root view answers 404 in HTML.
            pattern.callback = json_404 if pattern.name == "api-root" else json_405(pattern.callback)
    return patterns


app_name = "api"  # the namespace django-ninja reverses its own URLs in

urlpatterns = [
    *_json_errors(list(api.urls[0])),
    re_path(r"^.*$", json_404, name="api-not-found"),
]
