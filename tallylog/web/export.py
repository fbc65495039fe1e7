"""``tallylog export-static DIR``: a static mirror of the log and of the public pages.

The tree it writes can be put on any static host (or opened from disk)::

    DIR/index.html                 chooses a language (zh-hans by default)
    DIR/assets/site.css   the stylesheet; DIR/assets/*.js the scripts of /verify/
    DIR/log/checkpoint             the log, as C2SP tlog-tiles lays it out
    DIR/log/tile/…  DIR/log/day-index.json   (only the tiles the checkpoint covers)
    DIR/log/tools/…                the auditor's wheel and its SHA256SUMS (``tallylog.web.tools``)
    DIR/_headers                   content types and caching of DIR/log/ for Netlify and
                                   Cloudflare Pages (``tallylog.web.logfiles.log_file_headers``)
    DIR/nginx-log.conf             the same as an nginx ``location /log/`` block
    DIR/<lang>/index.html          home (the tally), for lang in zh-hans, zh-hant, en
    DIR/<lang>/transparency/index.html
    DIR/<lang>/verify/index.html   the receipt check in the browser (assets/verify.js)
    DIR/<lang>/declarations/index.html, …/declarations/before/<N>/index.html  (older pages)
    DIR/<lang>/entries/<index>/index.html   one page per logged declaration, by log index

Every link between exported files is relative, and names ``index.html`` explicitly, so
the tree works under any path prefix and from ``file://``. Pages that take input
(declare, receipt, withdraw) are not exported, and the pages leave out their links.

Consistency: the checkpoint is read first and written last; the tiles copied in between
are the ones it covers (a tile beyond it may still be rewritten by the sequencer, so it is
never exported: every exported tile is immutable), and every proof on the pages is
computed against that same checkpoint. The hosting hints assume DIR is served at the
root of its site, so the log is at ``/log/``.
"""

from __future__ import annotations

import html
import posixpath
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.test import RequestFactory
from django.urls import resolve
from django.utils import translation

from tallylog.composition import CHECKPOINT_PATH, DAY_INDEX_PATH, get_log
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.published import CheckpointInfo, read_checkpoint
from tallylog.web import assets
from tallylog.web.logfiles import log_file_headers
from tallylog.web.public import default_campaign
from tallylog.web.tools import TOOLS_DIR, write_tools

_LINK = re.compile(r'(?P<attr>href|src|action|data-log)="(?P<url>[/?][^"]*)"')
_BEFORE = re.compile(r"[0-9]{1,18}")


class ExportError(Exception):
    """The export cannot run (the message says why); nothing is left half-written in DIR."""


@dataclass
class ExportMarker:
    """Set as ``request.tallylog_export`` while a page is rendered for the export: the
    templates leave out what a static host cannot serve, the language switcher links to
    ``lang_hrefs``, and proofs use the pinned ``checkpoint``."""

    checkpoint: CheckpointInfo | None
    lang_hrefs: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return True


@dataclass
class ExportReport:
    pages: int = 0
    log_files: int = 0
    bytes: int = 0


def page_file(url: str) -> str | None:
    """The file (relative to a language directory) that holds the page at ``url``, or
    None when the export has no such page. ``/`` → ``index.html``,
    ``/declarations/?before=7`` → ``declarations/before/7/index.html``."""
    parts = urlsplit(url)
    path = parts.path
    query = parse_qs(parts.query, keep_blank_values=True)
    if not path.startswith("/") or ".." in path.split("/"):
        return None
    if query:
        before = query.get("before", [""])
        if path == "/declarations/" and set(query) == {"before"} and len(before) == 1 and _BEFORE.fullmatch(before[0]):
            return f"declarations/before/{int(before[0])}/index.html"
        return None
    if path == "/":
        return "index.html"
    if path in ("/transparency/", "/declarations/", "/verify/") or re.fullmatch(r"/entries/[0-9]+/", path):
        return path.strip("/") + "/index.html"
    return None


def shared_file(url: str) -> str | None:
    """Files shared by every language (stylesheet, log), relative to DIR, or None."""
    path = urlsplit(url).path
    if path == "/" + assets.STYLESHEET_PATH:
        return assets.STYLESHEET_PATH
    if path.startswith("/assets/") and path.removeprefix("/assets/") in assets.SCRIPTS:
        return path.lstrip("/")
    if path.startswith("/log/") and ".." not in path.split("/"):
        return path.lstrip("/")
    return None


def rewrite_links(page: str, *, lang: str, url: str, exported: set[str]) -> str:
    """Make every link of ``page`` (the page at ``url`` in ``lang``) to an exported file
    relative; ``exported`` holds the page files (relative to the language directory)."""
    here = posixpath.dirname(posixpath.join(lang, page_file(url) or "index.html"))

    def replace(match: re.Match[str]) -> str:
        target = html.unescape(match.group("url"))
        if target.startswith("?"):
            target = urlsplit(url).path + target
        rel = page_file(target)
        dest: str | None
        if rel is not None and rel in exported:
            dest = posixpath.join(lang, rel)
        else:
            dest = shared_file(target)
            if dest is None:
                return match.group(0)
        return f'{match.group("attr")}="{html.escape(posixpath.relpath(dest, here))}"'

    return _LINK.sub(replace, page)


def _write(path: Path, data: bytes) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)


def _copy_log(log_dir: Path, target: Path, report: ExportReport) -> bytes | None:
    """Copy the log: the checkpoint read first, the tiles it covers and the day index, the
    checkpoint written last. Returns the checkpoint's bytes (None when the log is empty)."""
    log = get_log()
    note = log.checkpoint()
    size = read_checkpoint(note, log.verifier_key).size if note is not None else 0
    tiles = log_dir / "tile"
    if tiles.is_dir():
        for src in sorted(tiles.rglob("*")):
            if src.is_file() and not src.is_symlink():
                rel = src.relative_to(log_dir)
                if log_file_headers(rel.as_posix(), size) is None:
                    continue  # beyond the checkpoint, or not a tile (a temporary file)
                dst = target / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                report.log_files += 1
                report.bytes += dst.stat().st_size
    day_index = log_dir / DAY_INDEX_PATH
    if day_index.is_file():
        report.bytes += _write(target / DAY_INDEX_PATH, day_index.read_bytes())
        report.log_files += 1
    if note is not None:
        report.bytes += _write(target / CHECKPOINT_PATH, note)
        report.log_files += 1
    return note


HEADERS_FILE = "_headers"
NGINX_FILE = "nginx-log.conf"


def hosting_hints(target: Path) -> dict[str, bytes]:
    """The content types and caching of ``/log/`` for static hosts, from
    ``log_file_headers`` (every exported tile is covered by the exported checkpoint):
    ``_headers`` (Netlify, Cloudflare Pages: a path, then indented ``Name: value`` lines)
    and an nginx ``location /log/`` block serving ``target/log/``."""
    rules = [
        ("/log/" + CHECKPOINT_PATH, log_file_headers(CHECKPOINT_PATH)),
        ("/log/" + DAY_INDEX_PATH, log_file_headers(DAY_INDEX_PATH)),
        ("/log/tile/*", log_file_headers("tile/entries/000")),
        (f"/log/{TOOLS_DIR}/*", log_file_headers(f"{TOOLS_DIR}/x.whl")),
    ]
    headers = "".join(
        f"{path}\n  Content-Type: {h[0]}\n  Cache-Control: {h[1]}\n  Access-Control-Allow-Origin: *\n"
        for path, h in rules
        if h is not None
    )
    ctype, cache = log_file_headers(CHECKPOINT_PATH) or ("", "")
    dtype, dcache = log_file_headers(DAY_INDEX_PATH) or ("", "")
    ttype, tcache = log_file_headers("tile/entries/000") or ("", "")
    wtype, wcache = log_file_headers(f"{TOOLS_DIR}/x.whl") or ("", "")
    root = (target / "log").resolve()
    nginx = f"""# tallylog export-static: the log in {root}, served at /log/
location /log/ {{
    alias {root}/;
    default_type {ttype};
    gzip on;
    gzip_types {ttype};
    add_header Cache-Control "{tcache}" always;
    add_header Access-Control-Allow-Origin "*" always;
    location = /log/{CHECKPOINT_PATH} {{
        alias {root}/{CHECKPOINT_PATH};
        default_type "{ctype}";
        add_header Cache-Control "{cache}" always;
        add_header Access-Control-Allow-Origin "*" always;
    }}
    location = /log/{DAY_INDEX_PATH} {{
        alias {root}/{DAY_INDEX_PATH};
        default_type {dtype};
        add_header Cache-Control "{dcache}" always;
        add_header Access-Control-Allow-Origin "*" always;
    }}
    location /log/{TOOLS_DIR}/ {{
        alias {root}/{TOOLS_DIR}/;
        default_type {wtype};
        add_header Cache-Control "{wcache}" always;
        add_header Access-Control-Allow-Origin "*" always;
    }}
}}
"""
    return {HEADERS_FILE: headers.encode(), NGINX_FILE: nginx.encode()}


def _list_urls(campaign: Any) -> list[str]:
    """The declarations list pages: the first, then one per ``?before=`` cursor."""
    from tallylog.web.views import PAGE_SIZE

    indexes = (
        Declaration.objects.for_campaign(campaign).newest_first().values_list("entry__log_index", flat=True)
    )
    urls = ["/declarations/"]
    for position, index in enumerate(indexes.iterator(chunk_size=2000), start=1):
        if position % PAGE_SIZE == 0:
            urls.append(f"/declarations/?before={index}")
    if len(urls) > 1 and _is_last_full(indexes, urls[-1]):
        urls.pop()
    return urls


def _is_last_full(indexes: Any, url: str) -> bool:
    """True when the page at ``url`` (a ``?before=`` cursor) would be empty."""
    before = int(url.rsplit("=", 1)[1])
    return not indexes.filter(entry__log_index__lt=before).exists()


def _declaration_urls(campaign: Any) -> Iterator[str]:
    indexes = Declaration.objects.for_campaign(campaign).newest_first().values_list("entry__log_index", flat=True)
    for index in indexes.iterator(chunk_size=2000):
        yield f"/entries/{index}/"


def _render(url: str, lang: str, marker: ExportMarker) -> str:
    request = RequestFactory().get(url, HTTP_ACCEPT_LANGUAGE=lang)
    request.tallylog_export = marker  # type: ignore[attr-defined]
    match = resolve(urlsplit(url).path)
    with translation.override(lang):
        request.LANGUAGE_CODE = lang
        response = match.func(request, *match.args, **match.kwargs)
        if hasattr(response, "render"):
            response.render()
    if response.status_code != 200:
        raise ExportError(f"couldn't render {url} in {lang}: status {response.status_code}")
    return response.content.decode("utf-8")


def _chooser(langs: list[tuple[str, str]]) -> bytes:
    links = "".join(f'<li><a href="{code}/index.html" hreflang="{code}">{html.escape(name)}</a></li>' for code, name in langs)
    first = langs[0][0]
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta http-equiv="refresh" content="0; url={first}/index.html">'
        f'<link rel="stylesheet" href="{assets.STYLESHEET_PATH}"><title>tallylog</title></head>'
        f"<body><main><ul>{links}</ul></main></body></html>\n"
    ).encode()


def export_static(target: Path, *, progress: Callable[[str], None] | None = None) -> ExportReport:
    """Write the static mirror into ``target``, which must be absent or empty.

    Raises ``ExportError`` when it cannot; ``progress`` is called with each page's URL.
    """
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ExportError(f"{target} exists and is not an empty directory")
    campaign = default_campaign()
    report = ExportReport()
    target.mkdir(parents=True, exist_ok=True)
    log = get_log()
    note = _copy_log(log.log_dir, target / "log", report)
    wheel = write_tools(target / "log")  # the auditor's tools, as the site serves them
    report.log_files += 2
    report.bytes += len(wheel.data) + len(wheel.sums)
    checkpoint = read_checkpoint(note, log.verifier_key) if note is not None else None
    for name, data in hosting_hints(target).items():
        report.bytes += _write(target / name, data)
    report.bytes += _write(target / assets.STYLESHEET_PATH, assets.stylesheet()[0])
    for name in assets.SCRIPTS:
        report.bytes += _write(target / "assets" / name, assets.script(name)[0])
    langs = [(code, name) for code, name in settings.LANGUAGES]
    report.bytes += _write(target / "index.html", _chooser(langs))

    urls = ["/", "/transparency/", "/verify/", *_list_urls(campaign)]
    exported = {page_file(u) for u in urls} | {page_file(u) for u in _declaration_urls(campaign)}
    exported.discard(None)

    def pages() -> Iterator[str]:
        yield from urls
        yield from _declaration_urls(campaign)

    for url in pages():
        rel = page_file(url)
        if rel is None:
            raise AssertionError(f"export_static: no file for {url}")
        for lang, _name in langs:
            here = posixpath.dirname(posixpath.join(lang, rel))
            hrefs = {other: posixpath.relpath(posixpath.join(other, rel), here) for other, _ in langs}
            marker = ExportMarker(checkpoint=checkpoint, lang_hrefs=hrefs)
            page = rewrite_links(_render(url, lang, marker), lang=lang, url=url, exported=exported)  # type: ignore[arg-type]
            report.bytes += _write(target / lang / rel, page.encode("utf-8"))
            report.pages += 1
        if progress is not None:
            progress(url)
    return report


__all__ = ["ExportError", "ExportReport", "export_static", "hosting_hints", "page_file", "rewrite_links"]
