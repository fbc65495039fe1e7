"""Our tlog-witness client against our witness: a real HTTP server on loopback (in a thread),
its state in SQLite. Every status of tlog-witness §add-checkpoint, a fork, a rollback, a bad
cosignature, witnesses that are down or silent, races, and a restart that keeps the state."""

from __future__ import annotations

import http.client
import http.server
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tallylog.tlog import note
from tallylog.tlog.checkpoint import Checkpoint, format_checkpoint
from tallylog.tlog.cosignature import (
    CosignatureSigner,
    QuorumError,
    append_cosignatures,
    check_quorum,
    format_cosignature,
    open_cosigned,
    parse_cosignature,
    witness_key_from_seed,
)
from tallylog.tlog.hashes import EMPTY_ROOT, prove_consistency, tree_hash
from tallylog.tlog.witness import (
    SIZE_CONTENT_TYPE,
    AddCheckpoint,
    Witness,
    WitnessBadResponse,
    WitnessConflict,
    WitnessForbidden,
    WitnessInconsistent,
    WitnessPool,
    WitnessUnavailable,
    WitnessUnknownLog,
    add_checkpoint,
    cosign,
    format_add_checkpoint,
    submit,
)
from tallylog.witness.server import make_server
from tallylog.witness.service import WitnessService
from tallylog.witness.state import LogState, WitnessState
from tests.support.trees import HashList

ORIGIN = "example.org/log"
LOG = note.Signer(note.signer_key_from_seed(ORIGIN, bytes(32)))
W1_KEY = witness_key_from_seed("w1.example/w", b"\x01" * 32)


def tree(n: int, prefix: bytes = b"entry") -> HashList:
    t = HashList()
    for i in range(n):
        t.append(prefix + b" %d" % i)
    return t


def signed(t: HashList, size: int | None = None, signer: note.Signer = LOG, origin: str = ORIGIN) -> bytes:
    n = t.size if size is None else size
    return note.sign_note(format_checkpoint(Checkpoint(origin, n, tree_hash(n, t))), signer)


class Running:
    """A witness server in a thread; ``restart`` builds a new service on the same database."""

    def __init__(self, db: Path, key: str = W1_KEY, logs: list[note.Verifier] | None = None) -> None:
        self.db, self.key, self.logs = db, key, logs or [LOG.verifier]
        self.start()

    def start(self, port: int = 0) -> None:
        self.state = WitnessState(self.db)
        self.service = WitnessService.from_keys(CosignatureSigner(self.key), self.logs, self.state)
        self.server = make_server(self.service, "127.0.0.1", port, quiet=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.witness = Witness(CosignatureSigner(self.key).verifier, f"http://127.0.0.1:{self.port}")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def restart(self) -> None:
        self.stop()
        self.start(self.port)

    def post(self, body: bytes, path: str = "/add-checkpoint") -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", path, body=body)
            resp = conn.getresponse()
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
        finally:
            conn.close()


@pytest.fixture
def w1(tmp_path: Path) -> Iterator[Running]:
    r = Running(tmp_path / "w1.sqlite3")
    yield r
    r.stop()


def body(old: int, t: HashList, size: int | None = None, proof: list[bytes] | None = None, note_: bytes | None = None) -> bytes:
    n = t.size if size is None else size
    p = prove_consistency(n, old, t) if proof is None else proof
    return format_add_checkpoint(AddCheckpoint(old, tuple(p), note_ if note_ is not None else signed(t, n)))


# --- the happy path ----------------------------------------------------------------------


def test_client_and_witness_grow_together(w1: Running) -> None:
    t = tree(300)
    sizes: dict[str, int] = {}
    for n in (1, 2, 7, 8, 255, 256, 257, 300):
        result = cosign(signed(t, n), [w1.witness], t, sizes)
        assert result.failures == {}
        sizes = result.sizes
        assert sizes == {"w1.example/w": n}
        opened = open_cosigned(result.cosigned_note(), LOG.verifier, [w1.witness.verifier])
        check_quorum(opened, [w1.witness.verifier], 1)
        assert opened.checkpoint.size == n
        assert opened.cosignatures[0].timestamp > 0
    row = w1.state.get(ORIGIN)
    assert row is not None and row.size == 300 and row.root == tree_hash(300, t)


def test_resubmitting_the_same_checkpoint_is_cosigned_again(w1: Running) -> None:
    t = tree(5)
    assert submit(w1.witness, signed(t), t, 0)
    assert submit(w1.witness, signed(t), t, 5)


def test_empty_tree(w1: Running) -> None:
    t = tree(0)
    status, _, _ = w1.post(body(0, t))
    assert status == 200
    bad = note.sign_note(format_checkpoint(Checkpoint(ORIGIN, 0, bytes(32))), LOG)
    status, _, text = w1.post(body(0, t, note_=bad))
    assert status == 422 and b"empty tree" in text
    assert tree_hash(0, t) == EMPTY_ROOT


def test_monitoring_checkpoint(w1: Running) -> None:
    import hashlib

    t = tree(4)
    conn = http.client.HTTPConnection("127.0.0.1", w1.port, timeout=10)
    path = f"/{hashlib.sha256(ORIGIN.encode()).hexdigest()}/checkpoint"
    conn.request("GET", path)
    first = conn.getresponse()
    assert (first.status, first.read()) == (404, b"no checkpoint cosigned for this log\n")
    submit(w1.witness, signed(t), t)
    conn.request("GET", path)  # the same kept-alive connection
    resp = conn.getresponse()
    data = resp.read()
    assert resp.status == 200
    opened = open_cosigned(data, LOG.verifier, [w1.witness.verifier])
    assert opened.checkpoint.size == 4 and opened.witnesses == ["w1.example/w"]
    conn.close()


# --- 409, rollback, fork -------------------------------------------------------------------


def test_conflict_carries_the_witness_size_and_the_client_retries_once(w1: Running) -> None:
    t = tree(20)
    submit(w1.witness, signed(t, 10), t)
    status, ctype, data = w1.post(body(3, t))
    assert (status, ctype, data) == (409, SIZE_CONTENT_TYPE, b"10\n")
    with pytest.raises(WitnessConflict) as info:
        add_checkpoint(w1.witness, 0, [], signed(t))
    assert info.value.size == 10
    result = cosign(signed(t), [w1.witness], t, {"w1.example/w": 4})  # a stale belief
    assert result.failures == {} and result.sizes == {"w1.example/w": 20}


def test_rollback_is_refused(w1: Running) -> None:
    t = tree(20)
    submit(w1.witness, signed(t, 20), t)
    with pytest.raises(WitnessInconsistent, match=r"already cosigned size 20.*rollback"):
        submit(w1.witness, signed(t, 12), t, 0)
    status, _, data = w1.post(body(20, t, size=12, proof=[]))
    assert status == 400 and b"above the checkpoint's size" in data
    status, _, data = w1.post(body(12, t, size=12))
    assert (status, data) == (409, b"20\n")
    assert w1.state.get(ORIGIN).size == 20  # type: ignore[union-attr]


def test_fork_is_refused_and_kept_as_evidence(w1: Running) -> None:
    fork = tree(25)  # the same first 25 entries as the honest tree, then others
    for i in range(25, 40):
        fork.append(b"forged %d" % i)
    honest = tree(40)
    submit(w1.witness, signed(honest, 30), honest)
    with pytest.raises(WitnessInconsistent, match="422"):
        submit(w1.witness, signed(fork, 40), fork, 30)
    # the same size with another root
    status, _, _ = w1.post(body(30, fork, size=30, proof=[]))
    assert status == 422
    reasons = [r for r, _ in w1.state.evidence(ORIGIN)]
    assert len(reasons) == 2
    assert w1.state.get(ORIGIN).root == tree_hash(30, honest)  # type: ignore[union-attr]
    assert submit(w1.witness, signed(honest, 40), honest, 30)


def test_proof_from_zero_must_be_empty_and_proofs_must_verify(w1: Running) -> None:
    t = tree(9)
    status, _, _ = w1.post(body(0, t, proof=[bytes(32)]))
    assert status == 422
    submit(w1.witness, signed(t, 5), t)
    good = prove_consistency(9, 5, t)
    for k in range(len(good)):
        bad = list(good)
        bad[k] = bytes([bad[k][0] ^ 1]) + bad[k][1:]
        status, _, _ = w1.post(body(5, t, proof=bad))
        assert status == 422
    status, _, _ = w1.post(body(5, t, proof=good[:-1]))
    assert status == 422
    status, _, _ = w1.post(body(5, t))
    assert status == 200


# --- 403, 404, 400, 405 ------------------------------------------------------------------


def test_unknown_log_is_404(w1: Running) -> None:
    other = note.Signer(note.signer_key_from_seed("other.example/log", bytes(32)))
    t = tree(3)
    with pytest.raises(WitnessUnknownLog, match="404"):
        submit(w1.witness, signed(t, signer=other, origin="other.example/log"), t)


def test_untrusted_or_bad_log_signature_is_403(w1: Running) -> None:
    t = tree(3)
    impostor = note.Signer(note.signer_key_from_seed(ORIGIN, b"\x07" * 32))
    with pytest.raises(WitnessForbidden, match="403"):
        submit(w1.witness, signed(t, signer=impostor), t)
    good = signed(t).decode()
    sig = good.rsplit(" ", 1)[1]
    flipped = ("A" if sig[10] != "A" else "B").join((sig[:10], sig[11:]))
    status, _, _ = w1.post(body(0, t, note_=good.replace(sig, flipped).encode()))
    assert status == 403
    assert w1.state.get(ORIGIN) is None


def test_malformed_requests_are_400_and_other_paths_404(w1: Running) -> None:
    t = tree(3)
    assert w1.post(b"old 01\n\n" + signed(t))[0] == 400
    assert w1.post(b"garbage")[0] == 400
    assert w1.post(body(0, t), path="/add-checkpoint/")[0] == 404
    conn = http.client.HTTPConnection("127.0.0.1", w1.port, timeout=10)
    conn.request("PUT", "/add-checkpoint", body=b"x")
    assert conn.getresponse().status == 405
    conn.close()


# --- witnesses that misbehave or are down --------------------------------------------------


class _Fake(http.server.BaseHTTPRequestHandler):
    """A witness that answers with a real cosignature whose signature has one bit flipped."""

    signer: CosignatureSigner

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers["Content-Length"]))
        note_ = data.split(b"\n\n", 1)[1].decode()
        c = self.signer.cosign(note_[: note_.rfind("\n\n") + 1])
        c = type(c)(c.name, c.key_id, c.timestamp, bytes([c.signature[0] ^ 1]) + c.signature[1:])
        out = format_cosignature(c).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


def test_bad_cosignature_down_and_silent_witnesses_are_reported_and_others_counted(w1: Running, tmp_path: Path) -> None:
    liar_key = witness_key_from_seed("liar.example/w", b"\x05" * 32)
    handler = type("Liar", (_Fake,), {"signer": CosignatureSigner(liar_key)})
    liar = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=liar.serve_forever, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    down = socket.socket()
    down.bind(("127.0.0.1", 0))
    down_port = down.getsockname()[1]
    down.close()  # nothing listens there: connection refused
    witnesses = [
        w1.witness,
        Witness(CosignatureSigner(liar_key).verifier, f"http://127.0.0.1:{liar.server_port}"),
        Witness(CosignatureSigner(witness_key_from_seed("silent.example/w", b"\x06" * 32)).verifier, f"http://127.0.0.1:{silent.getsockname()[1]}"),
        Witness(CosignatureSigner(witness_key_from_seed("down.example/w", b"\x08" * 32)).verifier, f"http://127.0.0.1:{down_port}"),
    ]
    t = tree(6)
    try:
        result = cosign(signed(t), witnesses, t, timeout=1.0)
    finally:
        liar.shutdown()
        liar.server_close()
        silent.close()
    assert list(result.cosignatures) == ["w1.example/w"]
    f = result.failures
    assert isinstance(f["liar.example/w"], WitnessBadResponse)
    assert "does not verify" in str(f["liar.example/w"])
    assert isinstance(f["silent.example/w"], WitnessUnavailable)
    assert "timed out" in str(f["silent.example/w"])
    assert isinstance(f["down.example/w"], WitnessUnavailable)
    assert "refused" in str(f["down.example/w"]).lower()
    verifiers = [w.verifier for w in witnesses]
    check_quorum(result.all_cosignatures(), verifiers, 1)
    with pytest.raises(QuorumError, match=r"1 of 4 witnesses cosigned \(need 2; cosigned: w1\.example/w\)"):
        check_quorum(result.all_cosignatures(), verifiers, 2)
    # the liar's line never reaches the note
    assert b"liar.example" not in result.cosigned_note()


# --- state: restart, races, never backwards ------------------------------------------------


def test_restart_keeps_the_state(w1: Running) -> None:
    t = tree(50)
    submit(w1.witness, signed(t, 33), t)
    w1.restart()
    with pytest.raises(WitnessConflict) as info:
        add_checkpoint(w1.witness, 0, [], signed(t))
    assert info.value.size == 33
    assert submit(w1.witness, signed(t), t, 0)  # 409, then from 33
    w1.restart()
    assert w1.state.get(ORIGIN).size == 50  # type: ignore[union-attr]


def test_concurrent_requests_from_the_same_old_size_cosign_one(w1: Running) -> None:
    t = tree(64)
    submit(w1.witness, signed(t, 10), t)
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def go(n: int) -> None:
        b = body(10, t, size=n)
        barrier.wait()
        statuses.append(w1.post(b)[0])

    threads = [threading.Thread(target=go, args=(20 + 5 * i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(statuses) == [200] + [409] * 7
    assert w1.state.get(ORIGIN).size in {20 + 5 * i for i in range(8)}  # type: ignore[union-attr]


def test_the_database_refuses_to_go_backwards(tmp_path: Path) -> None:
    state = WitnessState(tmp_path / "s.sqlite3")
    state.advance(ORIGIN, lambda cur: LogState(ORIGIN, 10, bytes(32), b"n", 1))
    with pytest.raises(sqlite3.IntegrityError, match="never goes backwards"):
        state.advance(ORIGIN, lambda cur: LogState(ORIGIN, 9, bytes(32), b"n", 2))
    assert state.get(ORIGIN).size == 10  # type: ignore[union-attr]

    def refuse(cur: LogState | None) -> LogState:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        state.advance(ORIGIN, refuse)
    assert state.get(ORIGIN).size == 10  # type: ignore[union-attr]


def test_cosignature_lines_from_the_witness_replace_older_ones(w1: Running) -> None:
    t = tree(5)
    first = cosign(signed(t), [w1.witness], t).cosigned_note()
    again = cosign(first, [w1.witness], t, {"w1.example/w": 5}).cosigned_note()
    lines = [x for x in again.decode().split("\n\n", 1)[1].splitlines() if x.startswith("— w1.example/w ")]
    assert len(lines) == 1
    parse_cosignature(lines[0])
    assert append_cosignatures(again, []) == again


def test_pool_keeps_one_connection_and_the_sizes_across_checkpoints_and_a_restart(w1: Running) -> None:
    t = tree(100)
    pool = WitnessPool([w1.witness], timeout=5)
    try:
        first = pool.cosign(signed(t, 10), t)
        assert first.failures == {} and pool.sizes == {"w1.example/w": 10}
        conn = pool._connections["w1.example/w"]._conn
        assert conn is not None
        for n in (20, 30, 31):
            assert pool.cosign(signed(t, n), t).failures == {}
            assert pool._connections["w1.example/w"]._conn is conn  # kept alive, both ends
        assert pool.sizes == {"w1.example/w": 31}
        w1.restart()  # the server's end of the kept-alive connection is gone
        assert pool.cosign(signed(t, 40), t).failures == {}
        assert pool.sizes == {"w1.example/w": 40}
        w1.stop()
        failed = pool.cosign(signed(t, 50), t)
        assert isinstance(failed.failures["w1.example/w"], WitnessUnavailable)
        assert pool.sizes == {"w1.example/w": 40}
        w1.start(w1.port)
    finally:
        pool.close()
    with pytest.raises(ValueError, match="twice"):
        WitnessPool([w1.witness, w1.witness])
