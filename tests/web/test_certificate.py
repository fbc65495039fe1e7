"""The certificate of declaration (issue 14 §4): printable, Chinese and English on one
page, its QR code a C2SP tlog-proof that ``tallylog verify-proof`` accepts.

The QR code is read the way a person would: the page's inline SVG drawn by Chromium,
photographed (a screenshot) and decoded by OpenCV's QR decoder.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.test import Client

from tallylog.cli import main
from tallylog.tlog.proof import parse_proof
from tests.support.chromium import browser

SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


def decode_qr(svg: str) -> bytes:
    """The bytes in the QR code of ``svg``, drawn by Chromium and decoded by OpenCV."""
    sized = svg.replace("<svg ", '<svg width="900" height="900" ', 1)
    html = f'<!doctype html><body style="margin:0;background:#fff">{sized}</body>'
    with browser() as b:
        page = b.new_page(viewport={"width": 900, "height": 900})
        page.set_content(html)
        png = page.screenshot()
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    # OpenCV's classic detector misses about one code in ten of this size (version 13);
    # the ArUco-based one reads them all (tried on 60 random proofs): a miss here is ours.
    text, points, _ = cv2.QRCodeDetectorAruco().detectAndDecode(image)
    assert points is not None and text, "no QR code found in the certificate"
    return text.encode("utf-8")


@pytest.mark.server  # Chromium draws the QR code
def test_the_certificate_carries_a_proof_that_verify_proof_accepts(tmp_path: Path, declare, sequence, log) -> None:
    declare(alias="别名甲")
    sub = declare(alias="Free Lin", orgs=("party", "league"))
    sequence()
    sub.declaration.entry.refresh_from_db()
    index = sub.declaration.entry.log_index
    assert index in (0, 1)  # a batch is shuffled
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hant")
    response = client.get(f"/certificate/{index}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "聲明證書" in page and "Certificate of declaration" in page  # both languages, zh-Hant first
    assert "Free Lin" in page and f">{index}<" in page
    assert "http://" not in page.split("<main id=\"main\" tabindex=\"-1\">")[1] and "https://" not in page.split("<main id=\"main\" tabindex=\"-1\">")[1]
    assert "style=" not in SVG.search(page).group(0)  # the CSP allows no inline style
    decoded = decode_qr(SVG.search(page).group(0))
    proof = parse_proof(decoded)
    assert proof.index == index
    path = tmp_path / "cert.tlog-proof"
    path.write_bytes(decoded)
    assert main(["verify-proof", str(path), "--key", log.verifier_key]) == 0
    # The same proof claiming another index is refused.
    other = 1 - index
    lying = decoded.replace(f"index {index}\n".encode(), f"index {other}\n".encode(), 1)
    assert lying != decoded
    path.write_bytes(lying)
    assert main(["verify-proof", str(path), "--key", log.verifier_key]) != 0


def test_from_the_receipt_by_post_it_waits_for_the_checkpoint_then_redirects(declare, sequence, log) -> None:
    sub = declare(alias="Lin")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    waiting = client.post("/certificate/", {"code": sub.receipt_code})
    assert waiting.status_code == 200 and "come back in a minute" in waiting.content.decode()
    assert waiting["Cache-Control"].startswith("no-store")
    sequence()
    done = client.post("/certificate/", {"code": sub.receipt_code})
    sub.declaration.entry.refresh_from_db()
    index = sub.declaration.entry.log_index
    assert done.status_code == 303 and done["Location"] == f"/certificate/{index}/"
    assert sub.receipt_code not in done["Location"]
    unknown = client.post("/certificate/", {"code": "00000-00000-00000-00000-00000"})
    assert unknown.status_code == 404
    assert client.get("/certificate/", {"code": sub.receipt_code}).status_code == 405
    assert client.get("/certificate/999/").status_code == 404


def test_the_receipt_after_declaring_offers_the_certificate_by_post(client, campaign) -> None:
    page = client.get("/declare/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    form = re.search(r'name="form_token" value="([^"]+)"', page)
    data = {"alias": "Lin", "orgs": ["party"], "statement": ""}
    if token:
        data["csrfmiddlewaretoken"] = token.group(1)
    if form:
        data["form_token"] = form.group(1)
    shown = client.post("/declare/", data).content.decode()
    code = re.search(r"\d{5}-\d{5}-\d{5}-\d{5}-\d{5}", shown).group(0)
    assert re.search(r'<form method="post" action="/certificate/">.*?name="code" value="' + code, shown, re.DOTALL)
    assert not re.search(r'href="[^"]*' + code, shown)
