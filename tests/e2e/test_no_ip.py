"""No IP address, and no receipt code, is stored anywhere (issue 7, item 1).

The real server (``tallylog serve``, subprocess, temporary home) receives declarations, bad
input, receipt lookups, staff sign-in attempts and a rate-limited burst from several
loopback source addresses. Afterwards every byte the run wrote — the database and its WAL,
the log's tiles and checkpoint, the server's stdout and stderr, every file under the home —
is searched for those addresses (as text, as packed bytes, as a decimal integer) and for
the receipt codes handed out (only keyed hashes of them may be stored); none may appear.
"""

from __future__ import annotations

import re
import socket
import struct
import time
from pathlib import Path

import pytest

from tests.support.serverproc import CAMPAIGN, Server, WebClient, init_home

pytestmark = [pytest.mark.slow, pytest.mark.server]

# Distinctive loopback addresses (Linux routes all of 127/8 to lo), so a chance match of
# their packed form in binary files is negligible.
SOURCES = [f"127.93.17.{n}" for n in range(2, 7)]
RECEIPT = re.compile(r"\d{5}-\d{5}-\d{5}-\d{5}-\d{5}")


def address_patterns(address: str) -> list[bytes]:
    packed = socket.inet_aton(address)
    return [
        address.encode(),
        address.encode("utf-16-le"),
        packed,
        packed[::-1],
        str(struct.unpack("!I", packed)[0]).encode(),
        packed.hex().encode(),
    ]


def receipt_patterns(code: str) -> list[bytes]:
    digits = code.replace("-", "")
    return [code.encode(), digits.encode(), code.encode("utf-16-le")]


def every_file(*roots: Path) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("noip")
    home, logs = base / "home", base / "logs"
    init_home(home)
    server = Server(home, logs, args=("--access-log",))
    server.start()
    receipts: list[str] = []
    statuses: list[int] = []
    try:
        api = f"/api/v1/campaigns/{CAMPAIGN}/declarations"
        for i, source in enumerate(SOURCES):
            # A declaration through the API.
            r = server.post(api, {"alias": f"觉醒者{i}", "orgs": ["party", "league"], "statement": "三退"}, source=source)
            assert r.status == 201, r.text
            receipts.append(r.json()["receipt"])
            # A declaration through the page, JavaScript off, in Simplified Chinese.
            web = WebClient(server.port, source)
            page = web.submit("/declare/", {"alias": f"网友{i}", "orgs": ["pioneers"]})
            assert page.status == 200, page.text[:500]
            found = RECEIPT.findall(page.text)
            assert found, "no receipt code on the page after declaring"
            receipts.append(found[0])
            # Bad input, unknown receipts, a staff sign-in attempt, a missing page.
            statuses.append(server.post(api, {"alias": "", "orgs": ["nope"]}, source=source).status)
            statuses.append(server.post(api, b"{not json", source=source).status)
            statuses.append(server.get("/api/v1/receipts/00000-00000-00000-00000-00000", source=source).status)
            statuses.append(server.get(f"/api/v1/receipts/{receipts[-2]}", source=source).status)
            lookup = WebClient(server.port, source).submit("/receipt/", {"code": receipts[-1]})
            statuses.append(lookup.status)
            statuses.append(WebClient(server.port, source).submit("/admin/login/", {"username": "admin", "password": "guess"}).status)
            statuses.append(server.get("/no/such/page", source=source).status)
        # A burst of identical declarations from one source: flood detection holds them
        # for review, then the rate limit answers (each worker process counts on its own).
        burst = []
        while len(burst) < 400 and not any(b.status == 429 for b in burst):
            burst.append(server.post(api, {"alias": "急", "orgs": ["party"]}, source=SOURCES[0]))
        assert burst[-1].status == 429, [b.status for b in burst]
        assert burst[-1].json()["error"]["code"] == "rate_limited"
        accepted = [b.json() for b in burst if b.status == 201]
        held = [a["receipt"] for a in accepted if a["status"] == "pending"]
        assert held, "no copy of the flood was held for review"
        receipts += [a["receipt"] for a in accepted if a["status"] != "pending"]
        # A malformed HTTP request straight on the socket.
        with socket.create_connection(("127.0.0.1", server.port), source_address=(SOURCES[1], 0)) as s:
            s.sendall(b"GARBAGE / HTTP/9.9\r\n\r\n")
            s.recv(1000)
        # Wait until the sequencer has logged every declaration.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            indexes = [server.get(f"/api/v1/receipts/{code}").json().get("index") for code in receipts]
            if all(i is not None for i in indexes):
                break
            time.sleep(0.3)
        else:
            raise AssertionError("declarations not sequenced within 60 s")
    finally:
        server.stop()
    return {"home": home, "logs": logs, "receipts": receipts + held, "statuses": statuses}


def test_the_run_exercised_every_surface(run):
    home = run["home"]
    assert (home / "db.sqlite3").stat().st_size > 0
    assert any((home / "log").rglob("*"))
    assert len(run["receipts"]) >= 2 * len(SOURCES)
    assert {400, 404, 422} & set(run["statuses"])


def find_leaks(roots: list[Path], needles: dict[str, list[bytes]]) -> list[str]:
    """Every (file, needle name) where one of the needle's byte patterns occurs."""
    leaks = []
    for path in every_file(*roots):
        data = path.read_bytes()
        for name, patterns in needles.items():
            if any(p in data for p in patterns):
                leaks.append(f"{path}: {name}")
    return leaks


def test_no_ip_address_in_any_file(run):
    assert len(every_file(run["home"], run["logs"])) >= 4
    needles = {address: address_patterns(address) for address in SOURCES}
    assert find_leaks([run["home"], run["logs"]], needles) == []


def test_no_receipt_code_in_any_file(run):
    needles = {f"receipt {code}": receipt_patterns(code) for code in run["receipts"]}
    assert find_leaks([run["home"], run["logs"]], needles) == []


def test_the_search_finds_a_planted_leak(tmp_path):
    code = "12345-67890-12345-67890-12345"
    needles = {"address": address_patterns(SOURCES[0]), "receipt": receipt_patterns(code)}
    for i, pattern in enumerate(needles["address"] + needles["receipt"]):
        (tmp_path / f"f{i}").write_bytes(b"\x00junk" + pattern + b"junk")
    leaks = find_leaks([tmp_path], needles)
    assert len(leaks) == len(needles["address"]) + len(needles["receipt"])
