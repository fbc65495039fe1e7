"""The one error answer of every JSON interface: ``{"error": {"code", "message", "fields"?}}``.

``ErrorOut`` is its django-ninja schema (the API's documented error responses);
``error_body`` builds the object and ``error_response`` the whole HTTP answer (never
cached). The JSON API (``tallylog.api``), the console's API router and the safety
middleware's own answers under ``/api/`` (429, 414) all use these, so the body has one
definition.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from ninja import Schema


class ErrorBody(Schema):
    code: str
    message: str
    fields: dict[str, list[str]] | None = None


class ErrorOut(Schema):
    error: ErrorBody


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """``{"error": {"code", "message", "fields"?}}``; ``fields`` only when there are some."""
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def error_response(status: int, code: str, message: str, fields: dict[str, list[str]] | None = None) -> HttpResponse:
    """The JSON error answer with ``status`` (``Cache-Control: no-store``)."""
    response = HttpResponse(
        json.dumps(error_body(code, message, fields), ensure_ascii=False),
        status=status,
        content_type="application/json",
    )
    response["Cache-Control"] = "no-store"
    return response


__all__ = ["ErrorBody", "ErrorOut", "error_body", "error_response"]
