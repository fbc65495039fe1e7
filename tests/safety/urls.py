"""The site's URL map with a few test views in front, for the safety middleware's tests
(``@pytest.mark.urls``)."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.urls import include, path

from tallylog.safety.ratelimit import check_rate, rate_limit
from tallylog.urls import urlpatterns as site_patterns


def page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("<!doctype html><p>ok</p>")


def form(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return HttpResponse("posted")
    return HttpResponse(f'<form method="post"><input name="csrfmiddlewaretoken" value="{get_token(request)}"></form>')


def meta(request: HttpRequest) -> JsonResponse:
    """Echo what a view can see of the client."""
    return JsonResponse(
        {k: v for k, v in request.META.items() if isinstance(v, str) and (k.startswith("REMOTE") or k.startswith("HTTP_X"))}
    )


def declare(request: HttpRequest, slug: str) -> HttpResponse:
    check_rate(request, "declare", slug)
    return HttpResponse("declared", status=201)


@rate_limit("login")
def login(request: HttpRequest) -> HttpResponse:
    return HttpResponse("signed in")


def api_declare(request: HttpRequest, slug: str) -> JsonResponse:
    return JsonResponse({"receipt": "x"}, status=201)


api = [path("campaigns/<slug:slug>/declarations", api_declare)]

urlpatterns = [
    path("t/", page),
    path("t/form/", form),
    path("t/meta/", meta),
    path("t/declare/<slug:slug>/", declare),
    path("t/staff/login/", login),
    path("log/checkpoint", page),
    path("api/v1/", include(api)),
    *site_patterns,
]
