"""Issue 14's "done" criterion, end to end: a log published by ``tallylog serve`` with a
witness configured (``tallylog witness add``; our own ``tallylog witness serve`` in a
subprocess) carries that witness's cosignature soon after each checkpoint;
``tallylog verify --witness … --quorum 1`` passes on it and fails on a checkpoint whose
cosignature was altered; with the witness down, declarations are still sequenced, the
signed checkpoint is served, and the transparency page and the API show the failure.

Deadlines are generous and only bound the polling: nothing here asserts a duration."""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_witnesscmds import Served, witness_keygen
from tests.support.serverproc import CAMPAIGN, Server, request, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.server]

DEADLINE = 60.0
LETTERS = "自由光明真善忍觉醒新生平安福德仁义礼智信勇春夏秋冬山河星月"


def poll(what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"not within {DEADLINE}s: {what}")


def declare(server: Server, n: int) -> str:
    alias = "".join(LETTERS[(n * 7 + i * 3) % len(LETTERS)] for i in range(8))
    r = request(server.port, "POST", f"/api/v1/campaigns/{CAMPAIGN}/declarations",
                body={"alias": alias, "orgs": ["party"]}, source=f"127.95.{n // 200}.{n % 200 + 2}")
    assert r.status == 201, r.body
    return str(r.json()["receipt"])


def checkpoint(server: Server) -> bytes:
    r = server.get("/log/checkpoint")
    assert r.status == 200
    return r.body


def size_of(note: bytes) -> int:
    return int(note.split(b"\n")[1])


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Server, str, str, Served, Path]]:
    home = tmp_path / "home"
    init = run_cli(home, "init")
    assert init.returncode == 0, init.stderr
    vkey = next(line.split(": ", 1)[1] for line in init.stdout.splitlines() if line.startswith("verifier key: "))
    wkey, wvkey = witness_keygen(tmp_path, "w1.example/w")
    witness = Served(wkey, vkey)
    added = run_cli(home, "witness", "add", wvkey, witness.url)
    assert added.returncode == 0, added.stderr
    server = Server(home, tmp_path / "logs", env_extra={"TALLYLOG_SEQUENCER_INTERVAL": "0.1"})
    server.start()
    try:
        yield server, vkey, wvkey, witness, home
    finally:
        server.stop()
        if witness.proc.poll() is None:
            witness.stop()


def test_each_checkpoint_is_cosigned_and_verifies(site: tuple[Server, str, str, Served, Path], tmp_path: Path) -> None:
    server, vkey, wvkey, _, home = site
    name = wvkey.split("+")[0]
    receipts = []
    for n in range(1, 4):
        receipts.append(declare(server, n))
        note = poll(f"checkpoint {n} cosigned by {name}", lambda n=n: (
            (cp := checkpoint(server)) and size_of(cp) >= n and f"\u2014 {name} ".encode() in cp and cp))
    url = f"http://127.0.0.1:{server.port}/log"
    ok = run_cli(home, "verify", url, "--key", vkey, "--witness", wvkey, "--quorum", "1", "--jobs", "1")
    assert ok.returncode == 0, ok.stderr
    assert f"cosigned by {name}" in ok.stdout

    # The same log, with one bit of the witness's signature flipped: refused, naming it.
    copy = tmp_path / "copy"
    shutil.copytree(home / "log", copy)
    lines = note.decode().split("\n")
    i = next(k for k, line in enumerate(lines) if line.startswith(f"\u2014 {name} "))
    raw = bytearray(base64.b64decode(lines[i].rsplit(" ", 1)[1]))
    raw[-1] ^= 1
    lines[i] = f"\u2014 {name} " + base64.b64encode(bytes(raw)).decode()
    (copy / "checkpoint").write_text("\n".join(lines))
    bad = run_cli(home, "verify", str(copy), "--key", vkey, "--witness", wvkey, "--quorum", "1", "--jobs", "1")
    assert bad.returncode == 1
    assert "bad cosignature" in bad.stderr and name in bad.stderr

    # Without the cosignature at all, a quorum of 1 is not met.
    (copy / "checkpoint").write_text("\n".join(line for k, line in enumerate(lines) if k != i))
    none = run_cli(home, "verify", str(copy), "--key", vkey, "--witness", wvkey, "--quorum", "1", "--jobs", "1")
    assert none.returncode == 1 and "not enough witnesses" in none.stderr

    # The proof that travels carries the cosigned checkpoint.
    proof = tmp_path / "entry0.tlog-proof"
    made = run_cli(home, "prove", url, "--key", vkey, "--index", "0", "--format", "tlog-proof",
                   "--witness", wvkey)
    assert made.returncode == 0, made.stderr
    proof.write_text(made.stdout)
    checked = run_cli(home, "verify-proof", str(proof), "--key", vkey, "--witness", wvkey)
    assert checked.returncode == 0, checked.stderr

    saved = tmp_path / "mine.tlog-proof"
    found = run_cli(home, "check-receipt", receipts[1], "--source", url, "--key", vkey,
                    "--witness", wvkey, "--quorum", "1", "--save", str(saved))
    assert found.returncode == 0, found.stderr
    assert f"cosigned by {name}" in found.stdout
    checked = run_cli(home, "verify-proof", str(saved), "--key", vkey, "--witness", wvkey)
    assert checked.returncode == 0 and "entry 1 is in" in checked.stdout, checked.stderr

    api = server.get("/api/v1/log").json()
    assert [w["name"] for w in api["witnesses"]] == [name]
    assert api["witnesses"][0]["on_checkpoint"] is True
    assert api["witnesses"][0]["cosigned_size"] == api["size"]


def test_a_witness_that_is_down_stops_nothing(site: tuple[Server, str, str, Served, Path]) -> None:
    server, _, wvkey, witness, home = site
    name = wvkey.split("+")[0]
    declare(server, 1)
    poll("the first checkpoint cosigned", lambda: (
        (cp := checkpoint(server)) and size_of(cp) == 1 and f"\u2014 {name} ".encode() in cp))
    witness.stop()
    for n in range(2, 5):
        declare(server, n)
    note = poll("the signed checkpoint of 4 entries", lambda: (cp := checkpoint(server)) and size_of(cp) == 4 and cp)
    assert f"\u2014 {name} ".encode() not in note  # signed, not cosigned: served at once
    page = poll("the failure on the transparency page", lambda: (
        (body := server.get("/transparency/", headers={"Accept-Language": "en"}).text) and "Last attempt failed" in body and body))
    assert "couldn&#x27;t reach" in page or "couldn't reach" in page
    api = server.get("/api/v1/log").json()
    assert api["size"] == 4
    assert api["witnesses"][0]["on_checkpoint"] is False
    assert api["witnesses"][0]["behind"] == 3
    assert "couldn't reach" in api["witnesses"][0]["last_error"]
    listed = run_cli(home, "witness", "list")
    assert "(3 behind)" in listed.stdout and "last error" in listed.stdout
