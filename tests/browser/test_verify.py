"""The receipt check in the browser (/verify/, issue 14 §3) in Debian's Chromium: from a
static copy of the log on a plain file server, and from the live server.

The page fetches the checkpoint, the day index, the day's entry bundles and the hash
tiles covering the day, finds the entry by its tag (v1 and v2 leaves) and checks it
against the signed checkpoint; ``#result``'s ``data-status`` says included, not-found
or invalid. A flipped byte in a hash tile or in the checkpoint's signature is invalid.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import json
import re
import shutil
import time
from pathlib import Path

import pytest

from tallylog.cli import main
from tallylog.registry.declarations.models import Declaration
from tallylog.tlog.cosignature import (
    CosignatureSigner,
    append_cosignatures,
    generate_witness_key,
    split_checkpoint_note,
)
from tallylog.tlog.tiles import Tile, tile_path
from tests.browser.verifysite import build_log, render_verify_page, run_check, serve
from tests.support.chromium import Visit, browser
from tests.support.serverproc import Server

pytestmark = [pytest.mark.slow, pytest.mark.server]

DAY1, DAY2 = "2026-12-01", "2026-12-02"
CODE_V2 = "12345-67890-12345-67890-12345"
CODE_V1 = "11111-22222-33333-44444-55555"
UNKNOWN = "99999-22222-33333-44444-55555"
SIZE = 1300  # 300 entries on DAY1, 1000 on DAY2: a partial level-0 tile at the edge
RECEIPT = re.compile(r"\d{5}-\d{5}-\d{5}-\d{5}-\d{5}")


@pytest.fixture(scope="module")
def static_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("verify") / "site"
    vkey = build_log(site / "log", [(DAY1, 300), (DAY2, 1000)], {700: (CODE_V2, 2), 900: (CODE_V1, 1), 10: (CODE_V2[::-1], 2)})
    render_verify_page(site, vkey)
    return site


def tampered(site: Path, where: Path, change) -> Path:
    copy = where / "copy"
    shutil.copytree(site, copy)
    change(copy / "log")
    return copy


def flip_tile_byte(log_dir: Path) -> None:
    # The level-1 tile (partial: 1300 entries are 5 full blocks of 256); its hash 3 is
    # that of entries 768…1023, the sibling of entry 700's block on its path to the root.
    # (Level-0 hashes of the entry's own block the page computes from its bundle.)
    path = log_dir / tile_path(Tile(1, 0, SIZE // 256))
    data = bytearray(path.read_bytes())
    data[3 * 32] ^= 1
    path.write_bytes(bytes(data))


def flip_signature_byte(log_dir: Path) -> None:
    path = log_dir / "checkpoint"
    text = path.read_text()
    body, sigs = text.rsplit("\n\n", 1)
    name, b64 = sigs.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(b64))
    raw[10] ^= 1
    path.write_text(f"{body}\n\n{name} {base64.b64encode(bytes(raw)).decode()}\n")


def test_a_static_copy_finds_v1_and_v2_entries_and_says_when_a_code_is_not_there(static_site: Path, chromium) -> None:
    with serve(static_site) as origin:
        context = chromium.new_context(locale="zh-TW")
        page = context.new_page()
        visit = Visit(page)
        found = run_check(page, f"{origin}/zh-hant/verify/#{CODE_V2}/{DAY2}")
        assert (found.status, found.index) == ("included", 700), found
        assert "您的紀錄在日誌中" in found.text and "1300" in found.text, found.text
        assert page.locator("html").get_attribute("lang") == "zh-Hant"
        # The fragment is gone from the address bar once read.
        assert "#" not in page.url
        v1 = run_check(page, f"{origin}/en/verify/#{CODE_V1}/{DAY2}")
        assert (v1.status, v1.index) == ("included", 900), v1
        assert "Your entry is in the log: entry 900" in v1.text
        # Without a day: the log's latest day.
        latest = run_check(page, f"{origin}/en/verify/#{CODE_V2.replace('-', ' ')}")
        assert (latest.status, latest.index) == ("included", 700), latest
        # A code of another day is not found on this one: only the day is searched.
        other_day = run_check(page, f"{origin}/en/verify/#{CODE_V2[::-1]}/{DAY2}")
        assert other_day.status == "not-found", other_day
        missing = run_check(page, f"{origin}/zh-hans/verify/#{UNKNOWN}/{DAY2}")
        assert missing.status == "not-found" and missing.index is None, missing
        nothing = run_check(page, f"{origin}/en/verify/#{UNKNOWN}/2026-11-30")
        assert nothing.status == "not-found" and "no entries of 2026-11-30" in nothing.text, nothing
        # Everything came from the copy itself, and only the searched day's bundles.
        assert visit.foreign_requests(origin) == []
        bundles = {r.url.split("/log/")[1] for r in visit.requests if "/tile/entries/" in r.url}
        assert bundles == {tile_path(Tile(-1, n)) for n in (1, 2, 3, 4)} | {tile_path(Tile(-1, 5, SIZE - 5 * 256))}
        assert not any("?" in r.url and "verify" in r.url for r in visit.requests)
        context.close()


def test_the_position_of_the_entry_within_the_day_is_not_revealed(static_site: Path, chromium) -> None:
    """Whichever entry of the day is the reader's, the page asks for the same files."""
    with serve(static_site) as origin:
        context = chromium.new_context()
        page = context.new_page()
        visit = Visit(page)
        asked = []
        for code in (CODE_V2, CODE_V1, UNKNOWN):
            visit.reset()
            run_check(page, f"{origin}/en/verify/#{code}/{DAY2}")
            asked.append(sorted(r.url for r in visit.requests if "/log/" in r.url))
        assert asked[0] == asked[1] == asked[2]
        context.close()


@pytest.mark.parametrize("change", [flip_tile_byte, flip_signature_byte], ids=["tile", "signature"])
def test_a_tampered_copy_is_invalid(static_site: Path, tmp_path: Path, chromium, change) -> None:
    site = tampered(static_site, tmp_path, change)
    with serve(site) as origin:
        context = chromium.new_context()
        page = context.new_page()
        outcome = run_check(page, f"{origin}/en/verify/#{CODE_V2}/{DAY2}")
        assert outcome.status == "invalid", outcome
        expected = "do not match its signed checkpoint" if change is flip_tile_byte else "signature does not verify"
        assert expected in outcome.text, outcome.text
        context.close()


def test_without_javascript_the_page_says_what_it_needs(static_site: Path, chromium) -> None:
    with serve(static_site) as origin:
        context = chromium.new_context(java_script_enabled=False)
        page = context.new_page()
        page.goto(f"{origin}/zh-hant/verify/#{CODE_V2}")
        assert page.locator("#verify-form").is_hidden()
        assert page.locator("#verify-nojs").is_visible()
        assert "JavaScript" in page.inner_text("#verify-nojs")
        context.close()


def test_export_static_writes_a_verify_page_that_finds_a_declaration(tmp_path: Path, declare, sequence, log) -> None:
    subs = [declare(alias=f"别名{i}") for i in range(3)]
    codes = [s.receipt_code for s in subs]
    sequence()
    index = Declaration.objects.get(pk=subs[1].declaration.pk).log_index  # the batch is shuffled
    out = tmp_path / "site"
    assert main(["export-static", str(out), "--quiet"]) == 0
    assert (out / "assets/verify.js").is_file() and (out / "zh-hant/verify/index.html").is_file()
    html = (out / "en/verify/index.html").read_text()
    assert 'data-log="../../log/checkpoint"' in html and 'src="../../assets/verify.js"' in html
    with serve(out) as origin, browser() as b:
        page = b.new_page()
        outcome = run_check(page, f"{origin}/en/verify/#{codes[1]}")
        assert outcome.status == "included" and outcome.index == index, outcome
        missing = run_check(page, f"{origin}/en/verify/#{UNKNOWN}")
        assert missing.status == "not-found", missing


def test_the_live_server_checks_a_fresh_declaration_at_verify(site: Server, chromium) -> None:
    origin = f"http://127.0.0.1:{site.port}"
    context = chromium.new_context(locale="zh-CN", base_url=origin, java_script_enabled=False)
    page = context.new_page()
    page.goto("/declare/")
    page.fill("input[name=alias]", "自由人丙")
    page.locator("input[name=orgs]").first.check()
    page.locator("form:has(input[name]) [type=submit]:not([name=family])").last.click()  # not "Add a family member"
    page.wait_for_load_state("load")
    code = RECEIPT.findall(page.inner_text("body"))[0]
    deadline = time.monotonic() + 30
    while site.get(f"/api/v1/receipts/{code}").json().get("index") is None:
        assert time.monotonic() < deadline, "declaration not sequenced within 30 s"
        time.sleep(0.2)
    context.close()
    context = chromium.new_context(locale="zh-CN", base_url=origin)
    page = context.new_page()
    visit = Visit(page)
    outcome = run_check(page, f"{origin}/verify/#{code}")
    assert outcome.status == "included", outcome
    assert "您的记录在日志中" in outcome.text, outcome.text
    assert visit.foreign_requests(origin) == [] and visit.csp_violations() == []
    assert visit.console_errors == [], visit.console_errors
    # The code went nowhere: no request carries it, in its path or a query.
    digits = code.replace("-", "")
    assert not any(code in r.url or digits in r.url for r in visit.requests)
    wrong = run_check(page, f"{origin}/verify/#{UNKNOWN}")
    assert wrong.status == "not-found", wrong
    context.close()


def with_witnesses(site: Path, where: Path, cosigners: int, quorum: int, *, bad: bool = False) -> Path:
    """A copy of ``site`` whose page requires ``quorum`` of two witnesses and whose
    checkpoint carries ``cosigners`` of their cosignatures (the first altered if ``bad``)."""
    copy = where / "witnessed"
    shutil.copytree(site, copy)
    keys = [generate_witness_key(f"witness{i}.example") for i in range(2)]
    note = (copy / "log/checkpoint").read_bytes()
    body, _ = split_checkpoint_note(note)
    cosigs = [CosignatureSigner(skey).cosign(body, 1_764_000_000 + i) for i, (skey, _) in enumerate(keys[:cosigners])]
    if bad:
        cosigs[0] = dataclasses.replace(cosigs[0], timestamp=cosigs[0].timestamp + 1)
    (copy / "log/checkpoint").write_bytes(append_cosignatures(note, cosigs))
    attrs = f'data-witnesses="{html.escape(json.dumps([v for _, v in keys]))}" data-quorum="{quorum}"'
    for page in copy.glob("*/verify/index.html"):
        page.write_text(page.read_text().replace('data-witnesses="[]" data-quorum="0"', attrs))
    return copy


@pytest.mark.parametrize(
    ("cosigners", "quorum", "bad", "status"),
    [(2, 2, False, "included"), (1, 1, False, "included"), (1, 2, False, "invalid"), (2, 1, True, "invalid")],
    ids=["2-of-2", "1-of-2", "too-few", "altered"],
)
def test_witness_cosignatures_and_their_quorum(static_site: Path, tmp_path: Path, chromium, cosigners, quorum, bad, status) -> None:
    site = with_witnesses(static_site, tmp_path, cosigners, quorum, bad=bad)
    with serve(site) as origin:
        context = chromium.new_context()
        page = context.new_page()
        outcome = run_check(page, f"{origin}/en/verify/#{CODE_V2}/{DAY2}")
        assert outcome.status == status, outcome
        if status == "invalid":
            assert "witnesses" in outcome.text, outcome.text
        context.close()


# Make WebCrypto refuse Ed25519, as browsers without it do: the page must fall back to the
# vendored @noble/ed25519 (assets/ed25519.js).
NO_WEBCRYPTO_ED25519 = """
const importKey = crypto.subtle.importKey.bind(crypto.subtle);
crypto.subtle.importKey = (format, key, algorithm, ...rest) =>
  (algorithm && (algorithm === "Ed25519" || algorithm.name === "Ed25519"))
    ? Promise.reject(new DOMException("Ed25519 is not supported", "NotSupportedError"))
    : importKey(format, key, algorithm, ...rest);
"""


@pytest.mark.parametrize("change", [None, flip_signature_byte], ids=["good", "bad-signature"])
def test_without_webcrypto_ed25519_the_vendored_library_verifies(static_site: Path, tmp_path: Path, chromium, change) -> None:
    site = tampered(static_site, tmp_path, change) if change else static_site
    with serve(site) as origin:
        context = chromium.new_context()
        context.add_init_script(NO_WEBCRYPTO_ED25519)
        page = context.new_page()
        visit = Visit(page)
        outcome = run_check(page, f"{origin}/en/verify/#{CODE_V2}/{DAY2}")
        assert outcome.status == ("included" if change is None else "invalid"), outcome
        assert any(r.url.endswith("/assets/ed25519.js") for r in visit.requests)
        context.close()


def test_the_pages_own_sha256_matches_hashlib_at_every_length_over_two_blocks(static_site: Path, chromium) -> None:
    """verify.js hashes the day's tags with its own synchronous SHA-256 (FIPS 180-4)."""
    with serve(static_site) as origin:
        page = chromium.new_page()
        page.goto(f"{origin}/en/verify/")
        got = page.evaluate(
            """async () => {
                const m = await import("../../assets/verify.js");
                const out = [];
                for (let n = 0; n < 200; n++) {
                    const data = new Uint8Array(n).map((_, i) => (i * 31 + n) & 255);
                    out.push(Array.from(m.sha256Sync(data), (x) => x.toString(16).padStart(2, "0")).join(""));
                }
                return out;
            }"""
        )
        want = [hashlib.sha256(bytes((i * 31 + n) & 255 for i in range(n))).hexdigest() for n in range(200)]
        assert got == want
        page.close()
