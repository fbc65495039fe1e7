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


def test_tiles_the_checkpoint_covers_are_immutable(log, declare, sequence) -> None:
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
    assert partial["Cache-Control"] == "public, max-age=31536000, immutable"  # tlog-tiles: it never changes
    assert len(b"".join(partial.streaming_content)) == 32
    assert client.get("/log/tile/entries/001.p/1").status_code == 200


def test_a_tile_beyond_the_checkpoint_is_not_served(log, declare, sequence) -> None:
    """The sequencer writes tiles before it commits and may rewrite them after a crash:
    one the published checkpoint does not cover is never served (so never cached)."""
    for i in range(3):
        declare(alias=f"b{i}")
    sequence()
    # What a pass that crashed before publishing leaves: tiles of a larger tree.
    for path in ("tile/0/000.p/5", "tile/entries/000.p/5", "tile/0/000", "tile/1/000.p/1"):
        (log.log_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (log.log_dir / path).write_bytes(b"\0" * 32)
    client = Client()
    assert client.get("/log/tile/0/000.p/3").status_code == 200
    for path in ("tile/0/000.p/5", "tile/entries/000.p/5", "tile/0/000", "tile/1/000.p/1"):
        response = client.get("/log/" + path)
        assert response.status_code == 404, path
        assert response["Cache-Control"] == "no-store"


def test_entry_bundles_are_gzipped_for_a_client_that_accepts_it(log, declare, sequence) -> None:
    import gzip

    for i in range(3):
        declare(alias=f"g{i}")
    sequence()
    raw = (log.log_dir / "tile/entries/000.p/3").read_bytes()
    client = Client()
    zipped = client.get("/log/tile/entries/000.p/3", HTTP_ACCEPT_ENCODING="gzip, deflate")
    assert zipped["Content-Encoding"] == "gzip" and "Accept-Encoding" in zipped["Vary"]
    assert gzip.decompress(zipped.content) == raw
    plain = client.get("/log/tile/entries/000.p/3")
    assert "Content-Encoding" not in plain and "Accept-Encoding" in plain["Vary"]
    assert b"".join(plain.streaming_content) == raw
    refused = client.get("/log/tile/entries/000.p/3", HTTP_ACCEPT_ENCODING="gzip;q=0, identity")
    assert "Content-Encoding" not in refused
    # Hash tiles are random bytes: never compressed.
    assert "Content-Encoding" not in client.get("/log/tile/0/000.p/3", HTTP_ACCEPT_ENCODING="gzip")


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


def test_the_log_directory_says_what_it_holds(client, log) -> None:
    response = client.get("/log/")
    assert response.status_code == 200 and response["Content-Type"] == "text/plain; charset=utf-8"
    text = response.content.decode()
    assert "checkpoint" in text and "tile/entries/<N>" in text and log.verifier_key in text
