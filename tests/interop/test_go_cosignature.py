"""tallylog's cosignatures (C2SP tlog-cosignature, cosignature/v1) against Go: the Go team's
golang.org/x/mod/sumdb/note opens our cosigned checkpoints and signs with a cosignature/v1
signer written in Go from the spec (tests/interop/go/cosignpeer), with Go's crypto/ed25519.
Ed25519 is deterministic, so the same seed, time and checkpoint give the same bytes in both."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from tallylog.tlog import note
from tallylog.tlog.checkpoint import Checkpoint, format_checkpoint
from tallylog.tlog.cosignature import (
    CosignatureSigner,
    InvalidCosignatureError,
    append_cosignatures,
    format_cosignature,
    open_cosigned,
    witness_key_from_seed,
)

from .test_go_tlog import GOPATH, HERE, go_env

pytestmark = pytest.mark.server  # starts subprocesses (see tests/conftest.py)

LOG = note.Signer(note.signer_key_from_seed("interop.example/log", b"\x11" * 32))
SEED = bytes(range(100, 132))


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not Path(GOPATH, "src/golang.org/x/mod/sumdb/note").is_dir():
        pytest.fail("golang-golang-x-mod-dev is missing: run `bash scripts/test-deps.sh`")
    tmp = tmp_path_factory.mktemp("go")
    binary = tmp / "cosignpeer"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=HERE / "go" / "cosignpeer", env=go_env(tmp), check=True, capture_output=True, timeout=300)
    return binary


def run(peer: Path, *args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(peer), *args], input=stdin, capture_output=True, timeout=60, check=False)


TEXTS = [
    format_checkpoint(Checkpoint("interop.example/log", 0, bytes(32))),
    format_checkpoint(Checkpoint("interop.example/log", 20852163, bytes(range(32)))),
    format_checkpoint(Checkpoint("interop.example/log", 7, b"\xff" * 32, ("an extension line", "another"))),
]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("timestamp", [1, 1679315147, 2**63 - 1])
def test_go_and_tallylog_make_the_same_cosignature(peer: Path, text: str, timestamp: int) -> None:
    out = run(peer, "sign", "-name", "w.example/go", "-seed", SEED.hex(), "-time", str(timestamp), stdin=text.encode())
    assert out.returncode == 0, out.stderr.decode()
    vkey, go_note = out.stdout.split(b"\n", 1)
    ours = CosignatureSigner(witness_key_from_seed("w.example/go", SEED))
    assert vkey.decode() == ours.verifier_key
    line = format_cosignature(ours.cosign(text, timestamp)).encode()
    assert go_note == text.encode() + b"\n" + line


@pytest.mark.parametrize("text", TEXTS)
def test_go_opens_our_cosigned_checkpoints(peer: Path, text: str) -> None:
    w1 = CosignatureSigner(witness_key_from_seed("w1.example/w", b"\x01" * 32))
    w2 = CosignatureSigner(witness_key_from_seed("w2.example/w", b"\x02" * 32))
    cosigned = append_cosignatures(note.sign_note(text, LOG), [w1.cosign(text), w2.cosign(text, 5)])
    out = run(peer, "verify", "-log", LOG.verifier_key, "-witness", w1.verifier_key, "-witness", w2.verifier_key, stdin=cosigned)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().split() == ["interop.example/log", "w1.example/w", "w2.example/w"]
    assert open_cosigned(cosigned, LOG.verifier, [w1.verifier, w2.verifier]).witnesses == ["w1.example/w", "w2.example/w"]

    # one altered bit in w2's signature: Go and tallylog both reject the note
    _, sigs = cosigned.decode().rsplit("\n\n", 1)
    last = sigs.splitlines()[-1]
    name, b64 = last.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1
    bad = cosigned.decode().replace(last, f"{name} {base64.b64encode(bytes(raw)).decode()}").encode()
    out = run(peer, "verify", "-log", LOG.verifier_key, "-witness", w1.verifier_key, "-witness", w2.verifier_key, stdin=bad)
    assert out.returncode != 0
    with pytest.raises(InvalidCosignatureError, match=r"w2\.example/w"):
        open_cosigned(bad, LOG.verifier, [w1.verifier, w2.verifier])
