"""The log on the web, at ``/log/``: the files of ``get_log().log_dir`` as C2SP
tlog-tiles lays them out.

- ``checkpoint``: the signed checkpoint note (C2SP tlog-checkpoint), ``text/plain;
  charset=utf-8``, never cached (it changes with every batch);
- ``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]``: hash tiles and entry bundles,
  ``application/octet-stream``; full tiles never change (``immutable``, cached a year),
  partial tiles are cached briefly;
- ``day-index.json``: which log indexes each UTC day's entries hold (for
  ``tallylog check-receipt --day``).

Only paths that ``tallylog.tlog.tiles.parse_tile_path`` accepts (or the two names above)
are served, and the file must resolve inside the log directory: no traversal, no other
file of the home.
"""

from __future__ import annotations

from pathlib import Path

from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_safe

from tallylog.composition import CHECKPOINT_PATH, DAY_INDEX_PATH, get_log
from tallylog.tlog.tiles import TilePathError, parse_tile_path

FULL_TILE_CACHE = "public, max-age=31536000, immutable"
PARTIAL_TILE_CACHE = "public, max-age=60"
DAY_INDEX_CACHE = "public, max-age=60"
CHECKPOINT_CACHE = "no-store"


def log_file_headers(path: str) -> tuple[str, str] | None:
    """``(Content-Type, Cache-Control)`` for a log path (``checkpoint``, ``tile/…``,
    ``day-index.json``), or None when ``path`` is not one the log serves. Shared by the
    view and by ``tallylog export-static`` (which writes them into hosting hints)."""
    if path == CHECKPOINT_PATH:
        return "text/plain; charset=utf-8", CHECKPOINT_CACHE
    if path == DAY_INDEX_PATH:
        return "application/json", DAY_INDEX_CACHE
    if not path.startswith("tile/"):
        return None
    try:
        parse_tile_path(path)
    except TilePathError:
        return None
    partial = ".p/" in path
    return "application/octet-stream", PARTIAL_TILE_CACHE if partial else FULL_TILE_CACHE


def _open_inside(root: Path, path: str) -> Path:
    """``root / path`` if it is a regular file inside ``root``; else ``Http404``."""
    base = root.resolve()
    target = (base / path).resolve()
    if base not in target.parents or not target.is_file():
        raise Http404("no such log file")
    return target


@require_safe
def log_file(request: HttpRequest, path: str) -> FileResponse:
    headers = log_file_headers(path)
    if headers is None:
        raise Http404("not a log path")
    content_type, cache_control = headers
    target = _open_inside(get_log().log_dir, path)
    response = FileResponse(target.open("rb"), content_type=content_type)
    response["Cache-Control"] = cache_control
    response["Access-Control-Allow-Origin"] = "*"
    return response
