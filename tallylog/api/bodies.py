"""Bodies of the JSON API: requests are JSON only, responses are rendered by one renderer.

``JsonOnly`` is the API's parser: a body must be ``application/json`` (else 415, via
``UnsupportedMediaType``), nested at most ``MAX_DEPTH`` deep (else 400 ``too_deep``, found
by a scan of the bytes before any parsing: ``too_deep``) and valid UTF-8 JSON (else 400). ``RENDERER`` is the API's
renderer (``tallylog.api.urls`` builds the API with both); ``render`` answers with it
directly, for an endpoint whose body is right by construction and needs no re-validation.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja.parser import Parser
from ninja.renderers import JSONRenderer

from tallylog.api.errors import TooDeep, UnsupportedMediaType

RENDERER = JSONRenderer()

# Deeper than any body the API takes (two levels), far below Python's recursion limit.
MAX_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """True when ``body`` opens more than ``limit`` arrays/objects inside each other (strings
    skipped). Linear and cheap: run it before ``json.loads``, which recurses per level."""
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub(b"", body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class JsonOnly(Parser):
    """Bodies must be ``application/json`` (else 415) and valid UTF-8 JSON (else 400)."""

    def parse_body(self, request: HttpRequest) -> Any:
        if request.content_type != "application/json":
            raise UnsupportedMediaType(request.content_type)
        if too_deep(request.body):
            raise TooDeep(MAX_DEPTH)
        return json.loads(request.body.decode("utf-8"))


def render(request: HttpRequest, data: Any, status: int) -> HttpResponse:
    """``data`` as the API renders it (``NinjaAPI.create_response``), with ``status``."""
    content = RENDERER.render(request, data, response_status=status)
    return HttpResponse(content, status=status, content_type=f"{RENDERER.media_type}; charset={RENDERER.charset}")
