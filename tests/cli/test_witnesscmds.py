"""The witness commands end to end (subprocesses): ``witness keygen``, ``witness serve``,
``log cosign`` and ``verify-proof``, with a clear message and a non-zero exit on each failure."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tallylog.tlog import client, note
from tallylog.tlog.proof import format_proof, make_proof
from tests.support.cli import SCRIPT, append, fails, keygen, tallylog

pytestmark = pytest.mark.server  # starts subprocesses (see tests/conftest.py)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def witness_keygen(tmp: Path, name: str) -> tuple[Path, str]:
    out = tallylog("witness", "keygen", name, tmp / f"{name.replace('/', '_')}.key")
    return tmp / f"{name.replace('/', '_')}.key", out.stdout.strip().splitlines()[-1]


class Served:
    """``tallylog witness serve`` in a subprocess, stopped by its own pid."""

    def __init__(self, key: Path, *logs: str, state: Path | None = None) -> None:
        self.port = free_port()
        cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "tallylog.cli"]
        args = [*cmd, "witness", "serve", "--key", str(key), "--port", str(self.port), "--quiet"]
        for v in logs:
            args += ["--log", v]
        if state is not None:
            args += ["--state", str(state)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        assert self.proc.stdout is not None
        self.banner = self.proc.stdout.readline()  # printed once it listens
        assert f":{self.port}/" in self.banner, self.proc.stderr.read() if self.proc.stderr else ""
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, Path, str, Path, str, Served]]:
    key, vkey = keygen(tmp_path)
    log = tmp_path / "log"
    append(log, key, [b"entry %d" % i for i in range(40)])
    wkey, wvkey = witness_keygen(tmp_path, "w1.example/w")
    served = Served(wkey, vkey)
    yield key, log, vkey, wkey, wvkey, served
    served.stop()


def test_witness_keygen(tmp_path: Path) -> None:
    path, wvkey = witness_keygen(tmp_path, "w.example/x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("PRIVATE+KEY+w.example/x+")
    assert wvkey.startswith("w.example/x+")
    assert "already exists" in fails("witness", "keygen", "w.example/x", path)
    assert "bad witness name" in fails("witness", "keygen", "has space", tmp_path / "other")


def test_cosign_then_verify_proof(setup: tuple[Path, Path, str, Path, str, Served], tmp_path: Path) -> None:
    key, log, vkey, _, wvkey, served = setup
    before = (log / "checkpoint").read_bytes()
    out = tallylog("log", "cosign", log, "--key", key, "--witness", f"{wvkey}={served.url}")
    assert "witness w1.example/w: cosigned size 40" in out.stdout
    after = (log / "checkpoint").read_bytes()
    assert after.startswith(before) and b"\n\xe2\x80\x94 w1.example/w " in after
    # the log still opens and appends after cosigning; cosign again at the new size
    append(log, key, [b"entry 40"])
    tallylog("log", "cosign", log, "--key", key, "--witness", f"{wvkey}={served.url}", "--quorum", "1")

    lc = client.LogClient.open(log, vkey)
    proof = tmp_path / "e7.tlog-proof"
    proof.write_bytes(format_proof(make_proof(lc.note, 7, lc.reader, b"entry 7")))
    out = tallylog("verify-proof", proof, "--key", vkey, "--witness", wvkey)
    assert "entry 7 is in example.org/log at size 41" in out.stdout
    assert "cosigned by w1.example/w" in out.stdout

    _, other_vkey = witness_keygen(tmp_path, "w2.example/w")
    msg = fails("verify-proof", proof, "--key", vkey, "--witness", wvkey, "--witness", other_vkey)
    assert "not enough witnesses: 1 of 2 witnesses cosigned (need 2; cosigned: w1.example/w)" in msg
    tallylog("verify-proof", proof, "--key", vkey, "--witness", wvkey, "--witness", other_vkey, "--quorum", "1")

    # one altered byte in the cosignature
    text = proof.read_text()
    line = next(x for x in text.splitlines() if x.startswith("— w1.example/w "))
    sig = line.rsplit(" ", 1)[1]
    i = 30
    bad = line.replace(sig, sig[:i] + ("B" if sig[i] != "B" else "C") + sig[i + 1 :])
    proof.write_text(text.replace(line, bad))
    msg = fails("verify-proof", proof, "--key", vkey, "--witness", wvkey)
    assert "bad cosignature: invalid cosignature by witness w1.example/w" in msg

    proof.write_text(text.replace("index 7\n", "index 8\n"))
    assert "the proof does not verify" in fails("verify-proof", proof, "--key", vkey)
    proof.write_text(text.replace("index 7\n", "index 07\n"))
    assert "is not a valid tlog-proof" in fails("verify-proof", proof, "--key", vkey)
    assert "couldn't read the proof" in fails("verify-proof", tmp_path / "nope", "--key", vkey)


def test_cosign_below_quorum_leaves_the_checkpoint(setup: tuple[Path, Path, str, Path, str, Served], tmp_path: Path) -> None:
    key, log, _, _, wvkey, served = setup
    _, down_vkey = witness_keygen(tmp_path, "down.example/w")
    before = (log / "checkpoint").read_bytes()
    down = f"{down_vkey}=http://127.0.0.1:{free_port()}"
    result = tallylog("log", "cosign", log, "--key", key, "--witness", f"{wvkey}={served.url}", "--witness", down, check=False)
    assert result.returncode == 1
    assert "witness down.example/w: FAILED: witness down.example/w: couldn't reach" in result.stderr
    assert "1 of 2 witnesses cosigned size 40, 2 needed; the checkpoint is left as it was" in result.stderr
    assert "Traceback" not in result.stderr
    assert (log / "checkpoint").read_bytes() == before
    tallylog("log", "cosign", log, "--key", key, "--witness", f"{wvkey}={served.url}", "--witness", down, "--quorum", "1")
    assert (log / "checkpoint").read_bytes() != before


def test_cosign_reports_a_rollback_and_a_fork(setup: tuple[Path, Path, str, Path, str, Served], tmp_path: Path) -> None:
    key, log, _, _, wvkey, served = setup
    w = f"{wvkey}={served.url}"
    tallylog("log", "cosign", log, "--key", key, "--witness", w)
    # a second copy of the log, with the same key, that forked at 30 entries
    fork = tmp_path / "fork"
    append(fork, key, [b"entry %d" % i for i in range(30)] + [b"forged %d" % i for i in range(30, 45)])
    msg = fails("log", "cosign", fork, "--key", key, "--witness", w)
    assert "inconsistent with the one it last cosigned: a fork? (422)" in msg
    # an older state of the log: a rollback
    old = tmp_path / "old"
    append(old, key, [b"entry %d" % i for i in range(20)])
    msg = fails("log", "cosign", old, "--key", key, "--witness", w)
    assert "it already cosigned size 40, larger than this checkpoint's 20: a rollback?" in msg


def test_serve_keeps_its_state_across_restarts(tmp_path: Path) -> None:
    key, vkey = keygen(tmp_path)
    log = tmp_path / "log"
    append(log, key, [b"a", b"b", b"c"])
    wkey, wvkey = witness_keygen(tmp_path, "w1.example/w")
    served = Served(wkey, vkey)
    tallylog("log", "cosign", log, "--key", key, "--witness", f"{wvkey}={served.url}")
    served.stop()
    old = tmp_path / "old"
    append(old, key, [b"a", b"b"])
    served = Served(wkey, vkey)
    try:
        msg = fails("log", "cosign", old, "--key", key, "--witness", f"{wvkey}={served.url}")
        assert "already cosigned size 3" in msg
    finally:
        served.stop()
    assert Path(str(wkey) + ".state.sqlite3").exists()


def test_unknown_log_and_bad_arguments(setup: tuple[Path, Path, str, Path, str, Served], tmp_path: Path) -> None:
    _, log, vkey, wkey, wvkey, served = setup
    other, _ = keygen(tmp_path, "other.example/log", "other.key")
    olog = tmp_path / "olog"
    append(olog, other, [b"x"])
    assert "it does not know this log (404)" in fails("log", "cosign", olog, "--key", other, "--witness", f"{wvkey}={served.url}")
    assert "bad --witness" in fails("log", "cosign", olog, "--key", other, "--witness", wvkey)
    assert "more than the 1 witnesses" in fails("log", "cosign", olog, "--key", other, "--witness", f"{wvkey}={served.url}", "--quorum", "2")
    assert "is not a witness key" in fails("witness", "serve", "--key", tmp_path / "other.key", "--log", vkey, "--port", "1")
    assert "bad verifier key" in fails("witness", "serve", "--key", wkey, "--log", wvkey, "--port", "1")
    assert "couldn't listen" in fails("witness", "serve", "--key", wkey, "--log", vkey, "--port", str(served.port))
    assert "bad witness verifier key" in fails("verify-proof", log / "checkpoint", "--key", vkey, "--witness", vkey)
    assert "is not a valid tlog-proof" in fails("verify-proof", log / "checkpoint", "--key", vkey)
    assert note.Verifier(vkey).name == "example.org/log"


def test_every_witness_command_and_option_is_documented() -> None:
    """docs/witness.md names every command of witnesscmds and each of its options."""
    import argparse

    from tallylog.cli import build_parser

    doc = (Path(__file__).parents[2] / "docs" / "witness.md").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))

    def child(p: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
        s = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        return s.choices[name]  # type: ignore[no-any-return]

    commands = {
        "witness keygen": child(sub.choices["witness"], "keygen"),
        "witness serve": child(sub.choices["witness"], "serve"),
        "log cosign": child(sub.choices["log"], "cosign"),
        "verify-proof": sub.choices["verify-proof"],
    }
    for name, cmd in commands.items():
        assert f"tallylog {name}" in doc, name
        for action in cmd._actions:
            for option in action.option_strings:
                if option.startswith("--") and option not in ("--help", "--home"):
                    assert option in doc, f"{name} {option}"
