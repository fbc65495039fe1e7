"""The JSON API, version 1: one django-ninja API, built here, mounted at /api/v1/ by
tallylog/urls.py.

Every router is mounted in ``build_api``, in the order the schema lists them:

- ``tallylog.api.declarations`` at ``/api/v1/`` (log, campaigns, tallies, declarations, receipts);
- ``tallylog.api.petitions`` at ``/api/v1/campaigns/`` (``…/{slug}/signatures``);
- ``tallylog.api.console`` (the service centre console) at ``/api/v1/console/``.

Paths that no endpoint serves, and methods an endpoint does not take, answer with the JSON
error body too (``tallylog.api.errors``). The OpenAPI schema is at ``/api/v1/openapi.json``.
"""

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, re_path
from ninja import NinjaAPI

from tallylog.api import console, declarations, petitions
from tallylog.api.bodies import RENDERER, JsonOnly
from tallylog.api.errors import install_handlers, json_404, json_405

# The schema's operationIds name the module each endpoint was first written in; they are
# part of the published API, so they stay as they were before the routers moved here
# (issue 13): module → the prefix it publishes.
OPERATION_ID_PREFIX = {
    declarations.__name__: "tallylog_api_endpoints",
    petitions.__name__: "tallylog_registry_petitions_api",
    console.__name__: "tallylog_registry_volunteers_api",
}


class TallylogAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Any) -> str:
        view = operation.view_func
        return f"{OPERATION_ID_PREFIX[view.__module__]}_{view.__name__}"


def build_api() -> NinjaAPI:
    """The API with its error handlers and every router mounted."""
    api = TallylogAPI(
        title="tallylog",
        version="1",
        description="A registry for mass public declarations whose tally anyone can verify.",
        urls_namespace="api",
        docs_url=None,
        parser=JsonOnly(),
        renderer=RENDERER,
    )
    install_handlers(api)
    api.add_router("", declarations.router)
    api.add_router("/campaigns/", petitions.router)
    api.add_router("/console/", console.build_router())
    return api


api = build_api()


def api_index(request: HttpRequest) -> JsonResponse:
    """``/api/v1/``: where the schema and the first endpoints are, for a person or a client
    that starts there (it answered 404)."""
    return JsonResponse(
        {
            "api": "tallylog",
            "version": "v1",
            "openapi": "/api/v1/openapi.json",
            "log": "/api/v1/log",
            "campaigns": "/api/v1/campaigns/{slug}/tally",
        }
    )


def _json_errors(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            # django-ninja's own root view answers 404 in HTML: ours says where things are.
            pattern.callback = api_index if pattern.name == "api-root" else json_405(pattern.callback)
    return patterns


app_name = "api"  # the namespace django-ninja reverses its own URLs in

urlpatterns = [
    *_json_errors(list(api.urls[0])),
    re_path(r"^.*$", json_404, name="api-not-found"),
]
