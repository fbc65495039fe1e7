"""The site's URL map. Each interface (web, api, console, ops) owns its URLs; this file only mounts them."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("tallylog.api.urls")),
    path("petitions/", include("tallylog.web.petitions")),
    path("news/", include("tallylog.web.news")),
    path("newsletter/", include("tallylog.web.newsletter")),
    path("console/", include("tallylog.console.urls")),
    path("metrics", include("tallylog.ops.metrics")),
    path("", include("tallylog.web.urls")),
]
