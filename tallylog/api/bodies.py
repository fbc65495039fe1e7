"""Bodies of the JSON API: requests are JSON only, responses are rendered by one renderer.

``JsonOnly`` is the API's parser: a body must be ``application/json`` (else 415, via
``UnsupportedMediaType``) and valid UTF-8 JSON (else 400). ``RENDERER`` is the API's
renderer (``tallylog.api.urls`` builds the API with both); ``render`` answers with it
directly, for an endpoint whose body is right by construction and needs no re-validation.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja.parser import Parser
from ninja.renderers import JSONRenderer

from tallylog.api.errors import UnsupportedMediaType

RENDERER = JSONRenderer()


class JsonOnly(Parser):
    """Bodies must be ``application/json`` (else 415) and valid UTF-8 JSON (else 400)."""

    def parse_body(self, request: HttpRequest) -> Any:
        if request.content_type != "application/json":
            raise UnsupportedMediaType(request.content_type)
        return json.loads(request.body.decode("utf-8"))


def render(request: HttpRequest, data: Any, status: int) -> HttpResponse:
    """``data`` as the API renders it (``NinjaAPI.create_response``), with ``status``."""
    content = RENDERER.render(request, data, response_status=status)
    return HttpResponse(content, status=status, content_type=f"{RENDERER.media_type}; charset={RENDERER.charset}")
