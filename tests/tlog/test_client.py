"""The read side against real logs: a directory and HTTP on loopback; tampering is named."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tallylog.tlog import Appender, FileStore, Signer, generate_key
from tallylog.tlog.client import LogClient, MalformedFileError, SourceError
from tallylog.tlog.errors import MissingTileError, TileMismatchError, VerificationError
from tallylog.tlog.hashes import check_consistency, check_inclusion, leaf_hash
from tallylog.tlog.note import UnverifiedNoteError, open_note, sign_note

ORIGIN = "client.example/log"
SKEY, VKEY = generate_key(ORIGIN)
SIZE = 65536 + 70000  # two chunks, one full, with level-2 tiles


def entry(i: int) -> bytes:
    return f"client entry {i}".encode()


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("log")
    app = Appender.open(FileStore(root), Signer(SKEY), ORIGIN)
    app.append([entry(i) for i in range(1000)])
    app.append([entry(i) for i in range(1000, SIZE)])
    return root


@pytest.fixture
def copy(logdir: Path, tmp_path: Path) -> Path:
    shutil.copytree(logdir, tmp_path / "copy")
    return tmp_path / "copy"


@pytest.fixture(scope="module")
def http_base(logdir: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(logdir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_directory_and_http_give_the_same_verified_view(logdir: Path, http_base: str) -> None:
    a = LogClient.open(str(logdir), VKEY)
    b = LogClient.open(http_base, VKEY)
    assert a.size == b.size == SIZE and a.root == b.root
    for index in [0, 255, 256, 65535, 65536, SIZE - 1]:
        proof = b.inclusion_proof(index)
        assert proof == a.inclusion_proof(index)
        check_inclusion(proof, SIZE, a.root, index, leaf_hash(entry(index)))
    assert b.entries(250, 260) == [entry(i) for i in range(250, 260)]
    assert a.entries(SIZE - 3, SIZE) == [entry(i) for i in range(SIZE - 3, SIZE)]
    old = LogClient.open(str(logdir), VKEY)
    proof = a.consistency_proof(1000)
    with pytest.raises(VerificationError):
        a.consistency_proof(1000, bytes(32))
    assert old.consistency_proof(SIZE, a.root) == []
    assert proof
    assert b.recompute_root() == a.root


def test_recompute_root_with_two_workers_and_progress(logdir: Path) -> None:
    seen: list[int] = []
    client = LogClient.open(logdir, VKEY)
    assert client.recompute_root(workers=2, progress=seen.append) == client.root
    assert seen[-1] == SIZE and seen == sorted(seen)
    assert sum(len(e) for _, e in client.iter_bundles()) == SIZE


def test_a_changed_entry_is_named(copy: Path) -> None:
    path = copy / "tile/entries/257"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    client = LogClient.open(copy, VKEY)
    with pytest.raises(TileMismatchError, match="tile 0/257"):
        client.recompute_root()
    with pytest.raises(TileMismatchError, match="entry bundle 257"):
        client.entries(257 * 256, 257 * 256 + 256)


def test_a_changed_hash_tile_is_named(copy: Path) -> None:
    path = copy / "tile/1/000"
    data = bytearray(path.read_bytes())
    data[40] ^= 1
    path.write_bytes(bytes(data))
    client = LogClient.open(copy, VKEY)
    with pytest.raises(TileMismatchError, match="tile 1/0"):
        client.recompute_root()
    with pytest.raises(TileMismatchError):
        client.inclusion_proof(300)


def test_a_consistently_rewritten_log_fails_at_the_root(copy: Path) -> None:
    # rewrite entry 5 and every tile above it: the tiles agree, the signed root does not
    app = Appender.open(FileStore(copy / "other"), Signer(SKEY), ORIGIN)
    app.stage([entry(i) if i != 5 else b"forged" for i in range(SIZE)])
    for p in (copy / "other" / "tile").rglob("*"):
        if p.is_file():
            target = copy / p.relative_to(copy / "other")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, target)
    client = LogClient.open(copy, VKEY)
    with pytest.raises(VerificationError, match="signed root"):
        client.recompute_root()
    with pytest.raises(TileMismatchError, match="signed root"):
        client.inclusion_proof(5)


def test_bad_signature_malformed_and_missing_files(copy: Path) -> None:
    cp = (copy / "checkpoint").read_bytes()
    other = Signer(generate_key(ORIGIN)[0])
    (copy / "checkpoint").write_bytes(sign_note(open_note(cp, [Signer(SKEY).verifier]).text, other))
    with pytest.raises(UnverifiedNoteError):
        LogClient.open(copy, VKEY)
    (copy / "checkpoint").write_bytes(cp[:-1])
    with pytest.raises(MalformedFileError, match="checkpoint"):
        LogClient.open(copy, VKEY)
    (copy / "checkpoint").write_bytes(cp)
    (copy / "tile/entries/003").write_bytes(b"\x00\x05ab")
    client = LogClient.open(copy, VKEY)
    with pytest.raises(MalformedFileError, match="tile/entries/003"):
        client.recompute_root()
    (copy / "tile/0/004").unlink()
    with pytest.raises(MissingTileError, match="tile/0/004"):
        client.inclusion_proof(4 * 256)
    with pytest.raises(SourceError):
        LogClient.open(copy / "nowhere", VKEY)
    with pytest.raises(SourceError):
        LogClient.open("http://127.0.0.1:9/", VKEY)
    with pytest.raises(ValueError):
        client.inclusion_proof(SIZE)


def test_consistency_between_two_checkpoints(tmp_path: Path) -> None:
    app = Appender.open(FileStore(tmp_path), Signer(SKEY), ORIGIN)
    app.append([entry(i) for i in range(700)])
    old = LogClient.open(tmp_path, VKEY)
    app.append([entry(i) for i in range(700, 1500)])
    new = LogClient.open(tmp_path, VKEY)
    proof = new.consistency_proof(old.size, old.root)
    check_consistency(proof, new.size, new.root, old.size, old.root)
