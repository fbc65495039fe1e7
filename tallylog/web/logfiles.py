"""The log on the web, at ``/log/``: the files of ``get_log().log_dir`` as C2SP
tlog-tiles lays them out.

- ``checkpoint``: the signed checkpoint note (C2SP tlog-checkpoint), ``text/plain;
  charset=utf-8``, never cached (it changes with every batch);
- ``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]``: hash tiles and entry bundles,
  ``application/octet-stream``. A tile the published checkpoint covers never changes, full
  or partial (C2SP tlog-tiles): ``immutable``, cached a year. A tile beyond it is not
  served (404, ``no-store``): the sequencer writes tiles before it commits them and may
  write them again after a crash, so nothing may cache one before a checkpoint covers it.
  Entry bundles are sent gzip-compressed to a client that accepts it (tlog-tiles: SHOULD);

- ``day-index.json``: which log indexes each UTC day's entries hold (for
  ``tallylog check-receipt --day``);
- ``tools/tallylog_audit-VERSION-py3-none-any.whl`` and ``tools/SHA256SUMS``: the
  auditor's tools (``tallylog.web.tools``), from memory, cached five minutes.

Only paths that ``tallylog.tlog.tiles.parse_tile_path`` accepts (or the names above)
are served, and the file must resolve inside the log directory: no traversal, no other
file of the home.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_safe

from tallylog.composition import CHECKPOINT_PATH, DAY_INDEX_PATH, get_log
from tallylog.registry.entries.published import current_checkpoint, entry_tlog_proof
from tallylog.tlog.tiles import TILE_HEIGHT, Tile, TilePathError, parse_tile_path
from tallylog.web.tools import SUMS_FILE, TOOLS_DIR, tool_wheel

TILE_CACHE = "public, max-age=31536000, immutable"
DAY_INDEX_CACHE = "public, max-age=60"
CHECKPOINT_CACHE = "no-store"
TOOLS_CACHE = "public, max-age=300"  # the same name holds a new build after an upgrade
TILE_TYPE = "application/octet-stream"


def covered(tile: Tile, size: int) -> bool:
    """Whether the tree of ``size`` leaves holds all of ``tile`` (C2SP tlog-tiles: tile N
    of level L, width W, holds the level-8L hashes N·256 … N·256+W-1, each over 2^(8L)
    leaves; an entry bundle is a level-0 tile's entries)."""
    level = max(tile.level, 0)
    return ((tile.n << TILE_HEIGHT) + tile.width) << (TILE_HEIGHT * level) <= size


def log_file_headers(path: str, size: int | None = None) -> tuple[str, str] | None:
    """``(Content-Type, Cache-Control)`` for a log path (``checkpoint``, ``tile/…``,
    ``day-index.json``) when the published checkpoint has ``size`` leaves, or None when
    ``path`` is not one the log serves: not a log path, or a tile beyond ``size`` (None:
    every tile path). Shared by the view and ``tallylog export-static`` (its ``_headers``
    file and nginx snippet)."""
    if path == CHECKPOINT_PATH:
        return "text/plain; charset=utf-8", CHECKPOINT_CACHE
    if path == DAY_INDEX_PATH:
        return "application/json", DAY_INDEX_CACHE
    if path.startswith(TOOLS_DIR + "/"):
        return ("text/plain; charset=utf-8" if path == f"{TOOLS_DIR}/{SUMS_FILE}" else TILE_TYPE), TOOLS_CACHE
    if not path.startswith("tile/"):
        return None
    try:
        tile = parse_tile_path(path)
    except TilePathError:
        return None
    if size is not None and not covered(tile, size):
        return None
    return TILE_TYPE, TILE_CACHE


def accepts_gzip(request: HttpRequest) -> bool:
    """The client accepts ``Content-Encoding: gzip`` (RFC 9110 §12.5.3; ``gzip;q=0`` refuses)."""
    for item in request.headers.get("Accept-Encoding", "").split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            q = re.search(r"q\s*=\s*([0-9.]+)", params)
            return not (q and float(q.group(1) or 0) == 0)
    return False


def _open_inside(root: Path, path: str) -> Path:
    """``root / path`` if it is a regular file inside ``root``; else ``Http404``."""
    base = root.resolve()
    target = (base / path).resolve()
    if base not in target.parents or not target.is_file():
        raise Http404("no such log file")
    return target


def _not_served(message: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=404, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"  # it may exist, or be different, a moment later
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def log_index(request: HttpRequest) -> HttpResponse:
    """``/log/``: what the log directory holds, for a person who opens it (a plain text
    page; the files themselves are what auditors and mirrors read)."""
    log = get_log()
    checkpoint = current_checkpoint()
    text = (
        f"The transparency log of {log.origin} (C2SP tlog-tiles, RFC 6962).\n\n"
        f"{CHECKPOINT_PATH:<20}the signed checkpoint: origin, tree size {checkpoint.size if checkpoint else 0}, root hash\n"
        f"{'tile/<L>/<N>':<20}hash tiles (256 hashes each; .p/<W> for a partial tile)\n"
        f"{'tile/entries/<N>':<20}entry bundles (each entry: a 2-byte length, then the entry)\n"
        f"{DAY_INDEX_PATH:<20}which entries each day holds (not signed)\n"
        f"{TOOLS_DIR + '/':<20}the auditor's tools: {TOOLS_DIR}/{tool_wheel().name}, {TOOLS_DIR}/{SUMS_FILE}\n\n"
        f"verifier key: {log.verifier_key}\n"
        f"check it: tallylog-audit verify {request.build_absolute_uri()} --key {log.verifier_key}\n"
    )
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


def _tool_file(name: str, content_type: str, cache_control: str) -> HttpResponse:
    """The auditor's wheel or its ``SHA256SUMS``, as this code builds them."""
    wheel = tool_wheel()
    if name == wheel.name:
        response = HttpResponse(wheel.data, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{wheel.name}"'
    elif name == SUMS_FILE:
        response = HttpResponse(wheel.sums, content_type=content_type)
    elif name == "":  # /log/tools/: what it holds, for a person who opens it
        text = (
            "The auditor's tools: tallylog-audit (verify, prove, recount, check-receipt, verify-proof).\n\n"
            f"{wheel.name}\n{SUMS_FILE}\n\n"
            f"Check it, then install it: sha256sum -c {SUMS_FILE} && pip install ./{wheel.name}\n"
            "The transparency page has the commands for this log.\n"
        )
        response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    else:
        raise Http404("no such tool")
    response["Cache-Control"] = cache_control
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def log_file(request: HttpRequest, path: str) -> HttpResponseBase:
    if path.startswith("tile/"):
        checkpoint = current_checkpoint()
        headers = log_file_headers(path, checkpoint.size if checkpoint else 0)
        if headers is None and log_file_headers(path) is not None:
            return _not_served("no such tile in the published checkpoint")
    else:
        headers = log_file_headers(path)
    if headers is None:
        raise Http404("not a log path")
    content_type, cache_control = headers
    if path.startswith(TOOLS_DIR + "/"):
        return _tool_file(path.removeprefix(TOOLS_DIR + "/"), content_type, cache_control)
    target = _open_inside(get_log().log_dir, path)
    if path.startswith("tile/entries/") and accepts_gzip(request):
        response: HttpResponseBase = HttpResponse(gzip.compress(target.read_bytes(), 6, mtime=0), content_type=content_type)
        response["Content-Encoding"] = "gzip"
    else:
        response = FileResponse(target.open("rb"), content_type=content_type)
    if path.startswith("tile/entries/"):
        response["Vary"] = "Accept-Encoding"
    response["Cache-Control"] = cache_control
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def log_proof(request: HttpRequest, index: int) -> HttpResponse:
    """``/log-proof/<index>``: entry ``index``'s C2SP tlog-proof file against the published
    (cosigned) checkpoint, as a download named ``entry-<index>.tlog-proof`` (the receipt
    page links to it; entries are public, so the URL reveals no secret). Never cached: the
    checkpoint it carries changes with every batch."""
    data = entry_tlog_proof(index)
    if data is None:
        return _not_served("no such entry in the published checkpoint")
    response = HttpResponse(data, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="entry-{index}.tlog-proof"'
    response["Cache-Control"] = "no-store"
    response["Access-Control-Allow-Origin"] = "*"
    return response
