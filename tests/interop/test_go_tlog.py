"""tallylog against an independent implementation: the Go team's golang.org/x/mod/sumdb/tlog
and note (Debian's golang-golang-x-mod-dev, installed by scripts/test-deps.sh).

A log written by ``tallylog log append`` grows through sizes 1, 2, 255, 256, 257, 65,536,
65,537 and 100,003. At each size the Go program (tests/interop/go/tlogpeer) opens the
checkpoint with note.Open and our verifier key, recomputes the tree from our entry bundles,
compares every hash tile we wrote with its own, reads our tiles through its authenticating
TileHashReader, checks the inclusion and consistency proofs tallylog produced, and produces
its own, which tallylog must check and reproduce byte for byte. Go is the outside peer: when
the two disagree, tallylog is wrong until shown otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tallylog.tlog import hashes, note, storage, tiles

pytestmark = pytest.mark.server  # starts subprocesses (see tests/conftest.py)

HERE = Path(__file__).parent
GOPATH = "/usr/share/gocode"
SIZES = [1, 2, 255, 256, 257, 65536, 65537, 100003]


def go_env(tmp: Path) -> dict[str, str]:
    """Build offline, in GOPATH mode, against Debian's packaged golang.org/x/mod."""
    return {
        **os.environ,
        "GOPATH": GOPATH,
        "GO111MODULE": "off",
        "GOFLAGS": "",
        "GOCACHE": str(tmp / "gocache"),
        "GOPROXY": "off",
    }


@pytest.fixture(scope="session")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go peer, built into a temporary directory for this session."""
    if shutil.which("go") is None or not Path(GOPATH, "src/golang.org/x/mod/sumdb/tlog").is_dir():
        pytest.fail("Go or golang-golang-x-mod-dev is missing: run `bash scripts/test-deps.sh`")
    tmp = tmp_path_factory.mktemp("go")
    binary = tmp / "tlogpeer"
    subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=HERE / "go" / "tlogpeer",
        env=go_env(tmp),
        check=True,
        capture_output=True,
        timeout=300,
    )
    return binary


def entry(i: int) -> bytes:
    """Entry i: varied lengths and bytes (never a newline), an empty one, a maximal one."""
    if i == 3:
        return b""
    if i == 300:
        return bytes(range(11, 256)) * 267 + b"z" * (65535 - 245 * 267)  # 65,535 bytes
    return b"entry %d " % i + b"\xff\x00\r" * (i % 7) + b"." * (i % 50)


def tallylog(*args: str, stdin: bytes = b"") -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tallylog.cli", *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode()


def b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


def unb64(s: str) -> bytes:
    return base64.b64decode(s, validate=True)


def pick(n: int, count: int, rng: random.Random) -> list[int]:
    """Indexes (or sizes) worth proving in a tree of size n: both ends, tile edges, random."""
    edges = {0, 1, n // 2, n - 1, 254, 255, 256, 257, 65535, 65536}
    edges |= {rng.randrange(n) for _ in range(count)}
    return sorted(i for i in edges if 0 <= i < n)


def run_peer(peer: Path, log: Path, vkey: str, indexes: list[int], old: list[int], check: Path | None) -> dict:
    args = [str(peer), "audit", "-dir", str(log), "-vkey", vkey]
    args += ["-indexes", ",".join(map(str, indexes)), "-old-sizes", ",".join(map(str, old))]
    if check:
        args += ["-check", str(check)]
    out = subprocess.run(args, capture_output=True, timeout=300)
    if out.returncode:
        raise AssertionError(out.stderr.decode())
    return json.loads(out.stdout)


def peer_fails(peer: Path, log: Path, vkey: str, check: Path | None = None) -> str:
    args = [str(peer), "audit", "-dir", str(log), "-vkey", vkey] + (["-check", str(check)] if check else [])
    out = subprocess.run(args, capture_output=True, timeout=300)
    assert out.returncode != 0, "the Go peer accepted a tampered log"
    return out.stderr.decode()


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory, peer: Path) -> dict[str, object]:
    """A log grown by ``tallylog log append`` through every size in SIZES, checked by the Go
    peer at each, both ways; what was seen at each size, for the tests below."""
    tmp = tmp_path_factory.mktemp("interop")
    key = tmp / "log.key"
    vkey = tallylog("keygen", "--origin", "interop.example/log", "--out", str(key)).strip().splitlines()[-1]
    log = tmp / "log"
    rng = random.Random(6962)
    size, roots, checked = 0, {}, {}
    for target in SIZES:
        stdin = b"".join(entry(i) + b"\n" for i in range(size, target))
        assert tallylog("log", "append", str(log), "--key", str(key), stdin=stdin).strip() == str(target)
        size = target
        reader = tiles.TileHashReader(size, storage.FileStore(log))
        root = hashes.tree_hash(size, reader)
        roots[size] = root
        indexes = pick(size, 20, rng)
        old = sorted({1, size} | {s for s in roots if s <= size} | set(pick(size, 5, rng)) - {0})

        # tallylog's proofs, for Go to check.
        ours = {
            "inclusion": [
                {
                    "index": i,
                    "leaf_hash": b64(hashes.leaf_hash(entry(i))),
                    "proof": [b64(h) for h in hashes.prove_inclusion(size, i, reader)],
                }
                for i in indexes
            ],
            "consistency": [
                {
                    "old_size": m,
                    "old_root": b64(hashes.tree_hash(m, reader)),
                    "proof": [b64(h) for h in hashes.prove_consistency(size, m, reader)],
                }
                for m in old
            ],
        }
        mine = tmp / f"proofs-{size}.json"
        mine.write_text(json.dumps(ours))
        theirs = run_peer(peer, log, vkey, indexes, old, mine)
        checked[size] = (theirs, ours, root)
    return {"log": log, "key": key, "vkey": vkey, "checked": checked, "tmp": tmp}


@pytest.mark.parametrize("size", SIZES)
def test_go_verifies_our_checkpoint_tiles_and_proofs(grown: dict, size: int) -> None:
    theirs, _, root = grown["checked"][size]
    assert theirs["origin"] == "interop.example/log"
    assert theirs["size"] == size
    assert unb64(theirs["root"]) == root
    levels = 1 + (size.bit_length() - 1) // 8  # levels that hold at least one hash
    assert theirs["tiles_checked"] >= levels


@pytest.mark.parametrize("size", SIZES)
def test_we_check_and_reproduce_gos_proofs(grown: dict, size: int) -> None:
    theirs, ours, root = grown["checked"][size]
    assert theirs["inclusion"] and theirs["consistency"]
    for p in theirs["inclusion"]:
        proof = [unb64(h) for h in p["proof"]]
        leaf = unb64(p["leaf_hash"])
        assert leaf == hashes.leaf_hash(entry(p["index"]))
        hashes.check_inclusion(proof, size, root, p["index"], leaf)
        if proof:
            bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 0x80])] + proof[1:]
            with pytest.raises(hashes.VerificationError):
                hashes.check_inclusion(bad, size, root, p["index"], leaf)
    for p in theirs["consistency"]:
        proof = [unb64(h) for h in p["proof"]]
        hashes.check_consistency(proof, size, root, p["old_size"], unb64(p["old_root"]))
    # Byte for byte the same proofs (RFC 9162 fixes their order).
    assert [p["proof"] for p in theirs["inclusion"]] == [p["proof"] for p in ours["inclusion"]]
    assert [(p["old_root"], p["proof"]) for p in theirs["consistency"]] == [
        (p["old_root"], p["proof"]) for p in ours["consistency"]
    ]


def test_go_signs_the_same_checkpoint_with_our_key(grown: dict, peer: Path) -> None:
    """Ed25519 is deterministic: Go's note.Sign with our signer key file gives our bytes."""
    checkpoint = (grown["log"] / "checkpoint").read_bytes()
    body = checkpoint[: checkpoint.index(b"\n\n") + 1]
    out = subprocess.run([str(peer), "sign", "-skey", str(grown["key"])], input=body, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == checkpoint
    verifier = note.Verifier(grown["vkey"])
    assert note.open_note(out.stdout, [verifier]).text == body.decode()


def test_go_rejects_a_bad_signature(grown: dict, peer: Path, tmp_path: Path) -> None:
    copy = tmp_path / "log"
    shutil.copytree(grown["log"], copy)
    data = bytearray((copy / "checkpoint").read_bytes())
    data[-10] ^= 1 if data[-10] != ord("A") else 2
    (copy / "checkpoint").write_bytes(bytes(data))
    assert "note.Open" in peer_fails(peer, copy, grown["vkey"])


def test_go_rejects_a_tampered_tile(grown: dict, peer: Path, tmp_path: Path) -> None:
    copy = tmp_path / "log"
    shutil.copytree(grown["log"], copy)
    tile = copy / "tile/1/000"
    data = bytearray(tile.read_bytes())
    data[100] ^= 1
    tile.write_bytes(bytes(data))
    assert "tile/1/000 differs" in peer_fails(peer, copy, grown["vkey"])


def test_go_rejects_a_tampered_proof_of_ours(grown: dict, peer: Path, tmp_path: Path) -> None:
    size = SIZES[-1]
    _, ours, _ = grown["checked"][size]
    bad = json.loads(json.dumps(ours))
    first = bad["inclusion"][3]["proof"]
    raw = bytearray(unb64(first[2]))
    raw[0] ^= 1
    first[2] = b64(bytes(raw))
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"inclusion": bad["inclusion"][3:4], "consistency": []}))
    assert "tallylog inclusion proof" in peer_fails(peer, grown["log"], grown["vkey"], path)
