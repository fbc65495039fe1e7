"""Errors of the JSON API: every 4xx answer is ``{"error": {"code", "message", "fields"?}}``
(``tallylog.safety.errors``: the body, its schema ``ErrorOut`` and ``error_response``).

``ApiError`` is raised by endpoints; ``install_handlers`` maps it, django-ninja's own
errors (validation, unparsable body, 404) and the registry's ``DeclarationInvalid`` onto
that body. ``json_404`` and ``json_405`` cover what never reaches django-ninja: an
unknown path under ``/api/v1/`` and a method an endpoint does not take.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError

from tallylog.registry.declarations.actions import DeclarationInvalid
from tallylog.safety.errors import error_response


class ApiError(Exception):
    """An answer with a 4xx status and a stable machine-readable ``code``."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields


class UnsupportedMediaType(Exception):
    """The request body is not ``application/json``."""


class TooDeep(ValueError):
    """The JSON body nests arrays and objects deeper than ``tallylog.api.bodies.MAX_DEPTH``."""


def too_deep_response(limit: int) -> HttpResponse:
    return error_response(400, "too_deep", f"The JSON body is nested too deeply: at most {limit} levels of arrays and objects.")


def _field_name(loc: Any) -> str:
    """``["body", "payload", "alias"]`` → ``alias``; ``["query", "limit"]`` → ``limit``."""
    parts = [str(p) for p in (loc or ()) if p not in ("body", "query", "path", "payload", "filters")]
    return ".".join(parts) or "body"


def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    fields: dict[str, list[str]] = {}
    for err in exc.errors:
        fields.setdefault(_field_name(err.get("loc")), []).append(str(err.get("msg", "invalid")))
    summary = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items())
    return error_response(422, "invalid", f"Invalid request: {summary}", fields)


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    cause = exc.__cause__
    if isinstance(cause, UnsupportedMediaType):
        return error_response(415, "unsupported_media_type", "Send the body as JSON with Content-Type: application/json.")
    if isinstance(cause, RequestDataTooBig):
        return _too_large(request, cause)
    if isinstance(cause, TooDeep):
        return too_deep_response(int(str(cause)))
    if exc.status_code == 400:
        return error_response(400, "malformed_json", "The request body is not valid JSON.")
    return error_response(exc.status_code, "error", str(exc))


def _too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    # django-ninja reads the body (request.body) before parsing it, so Django's own
    # exception reaches the API as it is, not only as the cause of an HttpError.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_response(413, "too_large", f"The request body is too large: at most {limit:,} bytes.")


def _declaration_invalid(request: HttpRequest, exc: DeclarationInvalid) -> HttpResponse:
    message = " ".join(m for messages in exc.errors.values() for m in messages)
    status, code = (404, "unknown_campaign") if set(exc.errors) == {"campaign"} else (422, "invalid")
    return error_response(status, code, message, exc.errors)


def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return error_response(exc.status, exc.code, exc.message, exc.fields)


def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(404, "not_found", "Not found.")


def install_handlers(api: NinjaAPI) -> None:
    """Make every error ``api`` answers a JSON error body."""
    # ninja types a handler's argument as "the exception or its class"; ours get the instance.
    handlers: list[tuple[type[Exception], Callable[[HttpRequest, Any], HttpResponse]]] = [
        (ValidationError, _validation),
        (HttpError, _http_error),
        (RequestDataTooBig, _too_large),
        (DeclarationInvalid, _declaration_invalid),
        (ApiError, _api_error),
        (Http404, _not_found),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, handler)


def json_404(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any path under /api/v1/ that no endpoint serves."""
    return error_response(404, "not_found", f"No endpoint at {request.path}.")


def json_405(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a django-ninja path view so that a 405 carries the JSON error body."""

    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code == 405:
            allowed = response.get("Allow", "")
            answer = error_response(405, "method_not_allowed", f"{request.method} is not allowed here; use {allowed}.")
            answer["Allow"] = allowed
            return answer
        return response

    for attr in ("csrf_exempt", "__name__", "__doc__"):
        if hasattr(view, attr):
            setattr(wrapper, attr, getattr(view, attr))
    return wrapper


__all__ = [
    "ApiError",
    "UnsupportedMediaType",
    "install_handlers",
    "json_404",
    "json_405",
]
