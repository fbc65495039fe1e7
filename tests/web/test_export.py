"""``tallylog export-static``: a static mirror whose links all resolve and whose log verifies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tallylog.cli import main
from tallylog.registry.declarations.actions import redact
from tests.web.conftest import LANGS

LINK = re.compile(r'(?:href|src|action)="([^"]*)"')


@pytest.fixture
def site(tmp_path: Path, log, declare, sequence, monkeypatch) -> Path:
    monkeypatch.setattr("tallylog.web.views.PAGE_SIZE", 2)
    subs = [declare(alias=f"别名{i}", statement=f"声明 {i}") for i in range(5)]
    sequence()
    redact(subs[1].declaration)
    out = tmp_path / "site"
    assert main(["export-static", str(out), "--quiet"]) == 0
    return out


def test_the_tree_has_every_page_in_every_language(site: Path, declare) -> None:
    assert (site / "index.html").is_file() and (site / "assets/site.css").is_file()
    assert (site / "log/checkpoint").is_file() and (site / "log/day-index.json").is_file()
    for lang in LANGS:
        for page in ("index.html", "transparency/index.html", "declarations/index.html", "verify/index.html"):
            assert (site / lang / page).is_file(), (lang, page)
        declarations = sorted(p.parent.name for p in (site / lang / "entries").glob("[0-9]*/index.html"))
        assert len(declarations) == 5
        # 5 declarations, 2 a page: the first page and two older ones.
        assert len(list((site / lang / "declarations/before").glob("*/index.html"))) == 2
    # The first page holds the two highest log indexes (random within the batch), one at
    # most of them withdrawn.
    from tallylog.registry.declarations.models import Declaration

    first_page = (site / "zh-hant/declarations/index.html").read_text()
    top = Declaration.objects.order_by("-entry__log_index").values_list("alias", flat=True)[:2]
    assert [a for a in top if a] and all(a in first_page for a in top if a)
    assert '<html lang="zh-Hant">' in (site / "zh-hant/index.html").read_text()


def test_every_link_is_relative_and_resolves(site: Path) -> None:
    pages = list(site.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        text = page.read_text()
        # The one form, /verify/'s, has no action and no named field: verify.js handles it.
        assert "<form" not in text or page.parent.name == "verify", page
        for link in LINK.findall(text):
            assert not link.startswith("/"), (page, link)
            if link.startswith(("?", "#")):
                continue
            target = (page.parent / link.replace("&amp;", "&")).resolve()
            assert target.is_file(), (page, link)


def test_the_declare_and_receipt_pages_are_left_out(site: Path) -> None:
    home = (site / "en/index.html").read_text()
    assert "Make your declaration" not in home and "Check my receipt" not in home
    assert "static copy" in home
    # No server headers on a static host: the page itself asks for no referrer.
    assert '<meta name="referrer" content="no-referrer">' in home


def test_a_redacted_declaration_is_withdrawn_in_the_mirror(site: Path) -> None:
    texts = [p.read_text() for p in (site / "en/entries").glob("[0-9]*/index.html")]
    assert sum("Withdrawn by request" in t for t in texts) == 1
    assert not any("声明 1" in t for t in texts)


def test_the_mirror_log_verifies(site: Path, log) -> None:
    assert main(["verify", str(site / "log"), "--key", log.verifier_key]) == 0


def test_proofs_in_the_pages_are_against_the_mirrored_checkpoint(site: Path) -> None:
    checkpoint = (site / "log/checkpoint").read_text()
    page = next((site / "en/entries").glob("[0-9]*/index.html")).read_text()
    assert checkpoint.split("\n")[2] in page


def test_refuses_a_non_empty_directory(tmp_path: Path, log, capsys) -> None:
    (tmp_path / "x").write_text("keep me")
    assert main(["export-static", str(tmp_path)]) == 1
    assert "is not an empty directory" in capsys.readouterr().err
    assert (tmp_path / "x").read_text() == "keep me"


def test_hosting_hints_and_only_covered_tiles(tmp_path: Path, log, declare, sequence) -> None:
    for i in range(3):
        declare(alias=f"h{i}")
    sequence()
    stray = log.log_dir / "tile/entries/000.p/9"  # beyond the checkpoint (a crashed pass)
    stray.write_bytes(b"\0\1x" * 9)
    out = tmp_path / "site"
    assert main(["export-static", str(out), "--quiet"]) == 0
    assert not (out / "log/tile/entries/000.p/9").exists()
    assert (out / "log/tile/entries/000.p/3").is_file()
    headers = (out / "_headers").read_text()
    assert "/log/checkpoint\n  Content-Type: text/plain; charset=utf-8\n  Cache-Control: no-store\n" in headers
    assert "/log/tile/*\n  Content-Type: application/octet-stream\n  Cache-Control: public, max-age=31536000, immutable\n" in headers
    assert "/log/day-index.json\n  Content-Type: application/json\n" in headers
    nginx = (out / "nginx-log.conf").read_text()
    assert f"alias {(out / 'log').resolve()}/;" in nginx
    assert "gzip_types application/octet-stream;" in nginx
    assert 'add_header Cache-Control "no-store" always;' in nginx
