"""The log on the web: content types, caching, and strict path validation."""

from __future__ import annotations

import json

import pytest
from django.test import Client


def test_checkpoint_is_text_and_never_cached(log, declare, sequence) -> None:
    declare()
    sequence()
    response = Client().get("/log/checkpoint")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    assert b"".join(response.streaming_content) == log.checkpoint()


def test_full_tiles_are_immutable_and_partial_tiles_short_lived(log, declare, sequence) -> None:
    for i in range(257):
        declare(alias=f"a{i}")
    sequence()
    client = Client()
    full = client.get("/log/tile/0/000")
    assert full.status_code == 200
    assert full["Content-Type"] == "application/octet-stream"
    assert full["Cache-Control"] == "public, max-age=31536000, immutable"
    assert len(b"".join(full.streaming_content)) == 256 * 32
    bundle = client.get("/log/tile/entries/000")
    assert bundle.status_code == 200 and bundle["Cache-Control"] == "public, max-age=31536000, immutable"
    partial = client.get("/log/tile/0/001.p/1")
    assert partial.status_code == 200
    assert partial["Cache-Control"] == "public, max-age=60"
    assert len(b"".join(partial.streaming_content)) == 32
    assert client.get("/log/tile/entries/001.p/1").status_code == 200


def test_day_index(log, declare, sequence) -> None:
    declare()
    sequence()
    response = Client().get("/log/day-index.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    index = json.loads(b"".join(response.streaming_content))
    assert index["days"][-1]["end"] == 1


@pytest.mark.parametrize(
    "path",
    [
        "/log/",
        "/log/../secrets.json",
        "/log/%2e%2e/secrets.json",
        "/log/tile/../../secrets.json",
        "/log/tile/0/../../../signing.key",
        "/log/signing.key",
        "/log/tile/0/x001",
        "/log/tile/0/1",
        "/log/tile/0/000.p/0",
        "/log/tile/0/000.p/256",
        "/log/tile/entries/000/",
        "/log/tile/9/000",
        "/log/tile/0/999",  # well formed, but no such tile yet
        "/log/checkpoint/",
    ],
)
def test_paths_outside_the_log_layout_are_404(path: str, log, declare, sequence) -> None:
    declare()
    sequence()
    assert Client().get(path).status_code == 404


def test_only_get_and_head(log, declare, sequence) -> None:
    declare()
    sequence()
    client = Client()
    assert client.post("/log/checkpoint").status_code == 405
    assert client.head("/log/checkpoint").status_code == 200
