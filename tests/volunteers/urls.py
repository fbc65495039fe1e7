"""URLconf for the volunteers tests: the site's own, with the console API mounted at
/api/v1/console/ by the tests themselves until the site's API mounts it."""

from django.urls import Resolver404, path, resolve
from ninja import NinjaAPI

from tallylog.registry.volunteers.api import build_router
from tallylog.urls import urlpatterns as site_patterns


def _site_mounts_console_api() -> bool:
    try:
        resolve("/api/v1/console/calls", urlconf="tallylog.urls")
    except Resolver404:
        return False
    return True


urlpatterns = list(site_patterns)
if not _site_mounts_console_api():
    _api = NinjaAPI(urls_namespace="volunteers-tests-api", docs_url=None, openapi_url=None)
    _api.add_router("/console/", build_router())
    urlpatterns.insert(0, path("api/v1/", _api.urls))
