"""The log commands end to end, as an operator and an auditor run them (subprocesses)."""

from __future__ import annotations

import base64
import json
import shutil
import stat
from collections import Counter
from pathlib import Path

import pytest

from tallylog.tlog import hashes
from tests.support.cli import append, declaration, fails, keygen, receipt, tallylog

DAYS = [("2026-11-23", 200), ("2026-11-24", 250), ("2026-11-25", 140)]
OTHER = [b"hello", b"", b"{}", b'{"v":1}', b"\xff\xfe not utf-8", b"\r", b"x" * 1000, b"a b", b"[]", b"0"]
ORGS = [["party"], ["league", "party"], ["league", "party", "pioneers"]]


class Log:
    """A log of 600 entries in ``dir``: 10 that are not tallylog leaves, then declarations
    over three days (``day-index.json`` as the sequencer publishes it); the first 100 are
    version 1 leaves (unsalted tags, as before issue 15), the others version 2."""

    def __init__(self, tmp: Path) -> None:
        self.key, self.vkey = keygen(tmp)
        self.dir = tmp / "log"
        self.entries: list[bytes] = list(OTHER)
        self.days: list[dict[str, object]] = []
        i = 0
        for day, count in DAYS:
            start = len(self.entries)
            for _ in range(count):
                channel = "phone" if i % 2 else "web"
                self.entries.append(declaration(receipt(i), day, ORGS[i % 3], channel=channel, v=1 if i < 100 else 2))
                i += 1
            self.days.append({"day": day, "start": start, "end": len(self.entries)})
        assert append(self.dir, self.key, self.entries, "--batch", "97") == 600
        (self.dir / "day-index.json").write_text(json.dumps({"days": self.days}))

    def copy(self, tmp: Path, name: str = "copy") -> Path:
        shutil.copytree(self.dir, tmp / name)
        return tmp / name


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Log:
    return Log(tmp_path_factory.mktemp("log"))


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


# --- keygen ------------------------------------------------------------------------------


@pytest.mark.server
def test_keygen_writes_a_private_key_and_prints_the_verifier_key(tmp_path: Path) -> None:
    key, vkey = keygen(tmp_path, "example.org/declarations")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("PRIVATE+KEY+example.org/declarations+")
    name, keyid, pub = vkey.split("+", 2)
    assert name == "example.org/declarations" and len(keyid) == 8
    assert base64.b64decode(pub)[0] == 1  # algorithm byte: Ed25519 (C2SP signed-note)


@pytest.mark.server
def test_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    key, _ = keygen(tmp_path)
    before = key.read_bytes()
    err = fails("keygen", "--origin", "example.org/other", "--out", key)
    assert "already exists" in err
    assert key.read_bytes() == before


@pytest.mark.server
def test_keygen_rejects_a_bad_origin(tmp_path: Path) -> None:
    err = fails("keygen", "--origin", "has space", "--out", tmp_path / "k")
    assert "origin" in err
    assert not (tmp_path / "k").exists()


# --- log append --------------------------------------------------------------------------


@pytest.mark.server
def test_append_grows_the_log_and_prints_its_size(tmp_path: Path) -> None:
    key, vkey = keygen(tmp_path)
    log = tmp_path / "new" / "log"
    assert append(log, key, [b"one", b"two"]) == 2
    out = tallylog("log", "append", log, "--key", key, stdin=b"three\nfour")  # no final newline
    assert out.stdout.strip() == "4"
    assert (log / "tile/entries/000.p/4").read_bytes() == b"\0\x03one\0\x03two\0\x05three\0\x04four"
    tallylog("verify", log, "--key", vkey)


@pytest.mark.server
def test_append_rejects_an_entry_too_long_and_publishes_nothing(tmp_path: Path) -> None:
    key, vkey = keygen(tmp_path)
    log = tmp_path / "log"
    append(log, key, [b"first"])
    err = fails("log", "append", log, "--key", key, "--batch", "1", stdin=b"ok\n" + b"x" * 65536 + b"\n")
    assert "line 2" in err and "65535" in err
    assert b"\n1\n" in (log / "checkpoint").read_bytes()
    fails("prove", log, "--key", vkey, "--index", "1")
    assert append(log, key, [b"second"]) == 2
    tallylog("verify", log, "--key", vkey)


@pytest.mark.server
def test_append_needs_a_signer_key(tmp_path: Path, log: Log) -> None:
    (tmp_path / "vkey").write_text(log.vkey)
    err = fails("log", "append", tmp_path / "log", "--key", tmp_path / "vkey", stdin=b"a\n")
    assert "not a signer key" in err
    assert "No such file" in fails("log", "append", tmp_path / "log", "--key", tmp_path / "none")


# --- verify ------------------------------------------------------------------------------


@pytest.mark.server
def test_verify_accepts_an_honest_log(log: Log) -> None:
    out = tallylog("verify", log.dir, "--key", log.vkey).stdout
    assert "OK" in out and "size 600" in out


@pytest.mark.server
def test_verify_over_http(log: Log, serve) -> None:  # type: ignore[no-untyped-def]
    out = tallylog("verify", serve(log.dir), "--key", log.vkey).stdout
    assert "size 600" in out


@pytest.mark.server
def test_verify_recount_and_check_receipt_over_a_gzip_server(log: Log, serve) -> None:  # type: ignore[no-untyped-def]
    url = serve(log.dir, gzip=True)
    assert "size 600" in tallylog("verify", url, "--key", log.vkey).stdout
    tally = json.loads(tallylog("recount", url, "--key", log.vkey, "--json").stdout)
    assert tally == expected_tally(log)
    out = tallylog("check-receipt", receipt(7), "--source", url, "--key", log.vkey, "--day", "2026-11-23").stdout
    assert "number 17 of 600" in out
    assert serve.encodings and set(serve.encodings) == {"gzip"}


@pytest.mark.server
def test_verify_rejects_another_logs_key(tmp_path: Path, log: Log) -> None:
    _, other = keygen(tmp_path, "example.org/log", "other.key")  # same name, other key
    assert "bad signature" in fails("verify", log.dir, "--key", other)
    _, named = keygen(tmp_path, "example.org/else", "named.key")
    assert "bad signature" in fails("verify", log.dir, "--key", named)
    assert "bad verifier key" in fails("verify", log.dir, "--key", "not a key")


@pytest.mark.server
def test_verify_catches_a_flipped_bit_in_the_checkpoint_signature(tmp_path: Path, log: Log) -> None:
    copy = log.copy(tmp_path)
    cp = (copy / "checkpoint").read_bytes()
    # Flip one bit of the Ed25519 signature itself (after the 4-byte key ID), re-encoded
    # as valid base64: flipping a bit of the base64 text could make it malformed instead.
    head, encoded = cp.rstrip(b"\n").rsplit(b" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[10] ^= 0x01
    (copy / "checkpoint").write_bytes(head + b" " + base64.b64encode(bytes(raw)) + b"\n")
    assert "bad signature" in fails("verify", copy, "--key", log.vkey)


@pytest.mark.server
def test_verify_catches_an_edited_checkpoint_body(tmp_path: Path, log: Log) -> None:
    copy = log.copy(tmp_path)
    cp = (copy / "checkpoint").read_bytes()
    (copy / "checkpoint").write_bytes(cp.replace(b"\n600\n", b"\n599\n", 1))
    assert "bad signature" in fails("verify", copy, "--key", log.vkey)


@pytest.mark.server
@pytest.mark.parametrize("path", ["tile/0/000", "tile/0/002.p/88", "tile/1/000.p/2"])
def test_verify_catches_a_flipped_bit_in_a_hash_tile(tmp_path: Path, log: Log, path: str) -> None:
    copy = log.copy(tmp_path)
    flip(copy / path, 40)
    level, index = path.split("/")[1], int(path.split("/")[2][:3])
    err = fails("verify", copy, "--key", log.vkey)
    assert f"hash mismatch in tile {level}/{index}" in err


@pytest.mark.server
def test_verify_catches_a_flipped_bit_in_an_entry_bundle(tmp_path: Path, log: Log) -> None:
    copy = log.copy(tmp_path)
    bundle = copy / "tile/entries/001"
    data = bundle.read_bytes()
    flip(bundle, data.index(b'"tag":"') + 10)  # inside an entry, not a length prefix
    assert "hash mismatch in tile 0/1" in fails("verify", copy, "--key", log.vkey)


@pytest.mark.server
@pytest.mark.parametrize("path", ["tile/0/001", "tile/entries/002.p/88", "tile/1/000.p/2"])
def test_verify_catches_a_truncated_file(tmp_path: Path, log: Log, path: str) -> None:
    copy = log.copy(tmp_path)
    target = copy / path
    target.write_bytes(target.read_bytes()[:-5])
    assert f"malformed file at {target}" in fails("verify", copy, "--key", log.vkey)


@pytest.mark.server
def test_verify_catches_a_missing_tile(tmp_path: Path, log: Log) -> None:
    copy = log.copy(tmp_path)
    (copy / "tile/0/001").unlink()
    assert f"missing file at {copy / 'tile/0/001'}" in fails("verify", copy, "--key", log.vkey)


@pytest.mark.server
def test_verify_state_catches_a_rollback(tmp_path: Path, log: Log) -> None:
    old = log.copy(tmp_path, "old")
    state = tmp_path / "state"
    tallylog("verify", old, "--key", log.vkey, "--state", state)
    grown = log.copy(tmp_path, "grown")
    append(grown, log.key, [b"more"] * 10)
    out = tallylog("verify", grown, "--key", log.vkey, "--state", state).stdout
    assert "consistent with the checkpoint verified before, at size 600" in out
    assert b"\n610\n" in state.read_bytes()
    err = fails("verify", old, "--key", log.vkey, "--state", state)
    assert "size went backwards" in err and "610" in err and "600" in err
    assert b"\n610\n" in state.read_bytes()  # a failed audit leaves the state alone


@pytest.mark.server
def test_verify_state_catches_a_fork_at_the_same_size(tmp_path: Path, log: Log) -> None:
    a, b = log.copy(tmp_path, "a"), log.copy(tmp_path, "b")
    append(a, log.key, [b"one history"])
    append(b, log.key, [b"another history"])
    state = tmp_path / "state"
    tallylog("verify", a, "--key", log.vkey, "--state", state)
    tallylog("verify", b, "--key", log.vkey)  # on its own, b is a fine log
    assert "fork" in fails("verify", b, "--key", log.vkey, "--state", state)


@pytest.mark.server
def test_verify_state_catches_a_fork_that_grew(tmp_path: Path, log: Log) -> None:
    a, b = log.copy(tmp_path, "a"), log.copy(tmp_path, "b")
    append(a, log.key, [b"one history"])
    append(b, log.key, [b"another history", b"and more"])
    state = tmp_path / "state"
    tallylog("verify", a, "--key", log.vkey, "--state", state)
    err = fails("verify", b, "--key", log.vkey, "--state", state)
    assert "fork" in err and "not consistent" in err and "601" in err


@pytest.mark.server
def test_verify_state_rejects_a_state_file_signed_by_another_key(tmp_path: Path, log: Log) -> None:
    state = tmp_path / "state"
    state.write_bytes(b"not a checkpoint\n")
    assert str(state) in fails("verify", log.dir, "--key", log.vkey, "--state", state)


@pytest.mark.server
def test_verify_names_a_source_that_is_not_a_log(tmp_path: Path, log: Log) -> None:
    assert "neither a directory nor" in fails("verify", tmp_path / "nowhere", "--key", log.vkey)
    assert "missing file at" in fails("verify", tmp_path, "--key", log.vkey)


@pytest.mark.slow
@pytest.mark.server
def test_verify_on_two_cores_over_several_chunks(tmp_path: Path) -> None:
    key, vkey = keygen(tmp_path)
    log = tmp_path / "log"
    n = 2 * 65536 + 300
    assert append(log, key, [b"%d" % i for i in range(n)]) == n
    state = tmp_path / "state"
    out = tallylog("verify", log, "--key", vkey, "--jobs", "2", "--state", state).stdout
    assert f"size {n}" in out
    one = tallylog("verify", log, "--key", vkey, "--jobs", "1").stdout
    assert one == out
    flip(log / "tile/2/000.p/2", 40)
    assert "hash mismatch in tile 2/0" in fails("verify", log, "--key", vkey, "--jobs", "2")
    flip(log / "tile/2/000.p/2", 40)
    flip(log / "tile/0/300", 3)
    assert "hash mismatch in tile 0/300" in fails("verify", log, "--key", vkey, "--jobs", "2")


# --- prove -------------------------------------------------------------------------------


@pytest.mark.server
@pytest.mark.parametrize("index", [0, 255, 256, 599])
def test_prove_prints_a_proof_that_checks(log: Log, index: int) -> None:
    proof = json.loads(tallylog("prove", log.dir, "--key", log.vkey, "--index", str(index)).stdout)
    assert proof["index"] == index and proof["tree_size"] == 600
    leaf = base64.b64decode(proof["leaf_hash"])
    assert leaf == hashes.leaf_hash(log.entries[index])
    root = base64.b64decode(proof["root"])
    path = [base64.b64decode(h) for h in proof["proof"]]
    hashes.check_inclusion(path, 600, root, index, leaf)
    assert proof["checkpoint"] == (log.dir / "checkpoint").read_text()
    path[0] = bytes([path[0][0] ^ 1]) + path[0][1:]
    with pytest.raises(hashes.VerificationError):
        hashes.check_inclusion(path, 600, root, index, leaf)


@pytest.mark.server
def test_prove_over_http(log: Log, serve) -> None:  # type: ignore[no-untyped-def]
    proof = json.loads(tallylog("prove", serve(log.dir), "--key", log.vkey, "--index", "300").stdout)
    assert base64.b64decode(proof["leaf_hash"]) == hashes.leaf_hash(log.entries[300])


@pytest.mark.server
def test_prove_rejects_an_index_beyond_the_log(log: Log) -> None:
    assert "no entry 600" in fails("prove", log.dir, "--key", log.vkey, "--index", "600")
    assert "whole number" in fails("prove", log.dir, "--key", log.vkey, "--index", "-1")


@pytest.mark.server
def test_prove_catches_a_tampered_tile(tmp_path: Path, log: Log) -> None:
    copy = log.copy(tmp_path)
    flip(copy / "tile/0/000", 32 * 6)  # the sibling of entry 7: the first hash of its proof
    assert "entry 7" in fails("prove", copy, "--key", log.vkey, "--index", "7")


# --- recount -----------------------------------------------------------------------------


def expected_tally(log: Log) -> dict[str, object]:
    kinds: Counter[str] = Counter()
    orgs: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    days: Counter[str] = Counter()
    for i in range(sum(c for _, c in DAYS)):
        kinds["declaration"] += 1
        orgs.update(ORGS[i % 3])
        channels["phone" if i % 2 else "web"] += 1
    for day, count in DAYS:
        days[day] = count
    return {
        "size": 600,
        "other": len(OTHER),
        "campaigns": {
            "three-withdrawals": {
                "total": 590,
                "kinds": dict(kinds),
                "orgs": dict(orgs),
                "channels": dict(channels),
                "days": dict(days),
            }
        },
    }


@pytest.mark.server
def test_recount_json_equals_the_entries(log: Log) -> None:
    tally = json.loads(tallylog("recount", log.dir, "--key", log.vkey, "--json").stdout)
    assert tally == expected_tally(log)


@pytest.mark.server
def test_recount_text(log: Log, serve) -> None:  # type: ignore[no-untyped-def]
    out = tallylog("recount", serve(log.dir), "--key", log.vkey).stdout
    assert "campaign three-withdrawals: 590" in out
    assert "organisation party: 590" in out
    assert "day 2026-11-24: 250" in out
    assert "not tallylog leaves: 10" in out


@pytest.mark.server
def test_recount_verifies_first(tmp_path: Path, log: Log) -> None:
    copy = log.copy(tmp_path)
    flip(copy / "tile/0/000", 0)
    assert "hash mismatch in tile 0/0" in fails("recount", copy, "--key", log.vkey, "--json")


# --- check-receipt -----------------------------------------------------------------------


@pytest.mark.server
def test_check_receipt_finds_the_entry(log: Log) -> None:
    out = tallylog("check-receipt", receipt(321), "--source", log.dir, "--key", log.vkey).stdout
    index = 10 + 321
    found = json.loads(out[: out.rindex("}") + 1])
    assert found["index"] == index and found["tree_size"] == 600
    assert found["entry"]["day"] == "2026-11-24"
    assert base64.b64decode(found["leaf_hash"]) == hashes.leaf_hash(log.entries[index])
    assert f"number {index} of 600" in out


@pytest.mark.server
def test_check_receipt_finds_version_1_and_version_2_entries(log: Log) -> None:
    # Issue 15 item 2: salted (v2) tags, and the v1 entries already in logs still found.
    for i, version in ((5, 1), (99, 1), (100, 2), (589, 2)):
        out = tallylog("check-receipt", receipt(i), "--source", log.dir, "--key", log.vkey).stdout
        found = json.loads(out[: out.rindex("}") + 1])
        assert found["index"] == 10 + i and found["entry"]["v"] == version
        assert ("tag_salt" in found["entry"]) == (version == 2)


@pytest.mark.server
def test_check_receipt_accepts_the_code_as_people_type_it(log: Log) -> None:
    code = receipt(5).replace("-", " ").translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    out = tallylog("check-receipt", code, "--source", log.dir, "--key", log.vkey).stdout
    assert '"index": 15' in out


@pytest.mark.server
def test_check_receipt_with_day_over_http_reads_only_that_day(log: Log, serve) -> None:  # type: ignore[no-untyped-def]
    url = serve(log.dir)
    requests = serve.requests
    tallylog("check-receipt", receipt(200), "--source", url, "--key", log.vkey, "--day", "2026-11-24")
    first = sorted(requests)
    bundles = [p for p in first if "/entries/" in p]
    # 2026-11-24 is entries 210 to 459: bundles 0 and 1 only, never bundle 2.
    assert bundles == ["/log/tile/entries/000", "/log/tile/entries/001"]
    requests.clear()
    tallylog("check-receipt", receipt(440), "--source", url, "--key", log.vkey, "--day", "2026-11-24")
    assert sorted(requests) == first  # the same requests whichever entry is yours


@pytest.mark.server
def test_check_receipt_with_the_wrong_day(log: Log) -> None:
    err = fails("check-receipt", receipt(0), "--source", log.dir, "--key", log.vkey, "--day", "2026-11-25")
    assert "no entry with this receipt code on 2026-11-25" in err and "without --day" in err
    assert "lists no entries on 2026-11-01" in fails(
        "check-receipt", receipt(0), "--source", log.dir, "--key", log.vkey, "--day", "2026-11-01"
    )
    assert "not a date" in fails(
        "check-receipt", receipt(0), "--source", log.dir, "--key", log.vkey, "--day", "yesterday"
    )


@pytest.mark.server
def test_check_receipt_unknown_and_malformed_codes(log: Log) -> None:
    assert "no entry with this receipt code among its 600 entries" in fails(
        "check-receipt", receipt(9999), "--source", log.dir, "--key", log.vkey
    )
    assert "bad receipt code" in fails("check-receipt", "12345", "--source", log.dir, "--key", log.vkey)


@pytest.mark.server
def test_check_receipt_catches_a_mirror_that_edits_an_entry(tmp_path: Path, log: Log) -> None:
    copy = log.copy(tmp_path)
    bundle = copy / "tile/entries/000"
    data = bundle.read_bytes()
    at = data.index(b'"channel":"web"')
    bundle.write_bytes(data[:at] + b'"channel":"wex"' + data[at + 15 :])
    err = fails("check-receipt", receipt(0), "--source", copy, "--key", log.vkey)
    assert "hash mismatch" in err and "entry 10" in err


@pytest.mark.server
def test_check_receipt_with_a_malformed_day_index(tmp_path: Path, log: Log) -> None:
    copy = log.copy(tmp_path)
    (copy / "day-index.json").write_text('{"days": [{"day": "2026-11-24", "start": 5}]}')
    err = fails("check-receipt", receipt(0), "--source", copy, "--key", log.vkey, "--day", "2026-11-24")
    assert f"malformed file at {copy / 'day-index.json'}" in err


def test_every_log_command_and_option_is_documented() -> None:
    """docs/audit.md names every command of this module and each of its options."""
    import argparse

    from tallylog.cli import logcmds

    doc = (Path(__file__).parents[2] / "docs" / "audit.md").read_text()
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    logcmds.register(sub, argparse.ArgumentParser(add_help=False))
    commands = dict(sub.choices)
    commands["log append"] = commands.pop("log")._subparsers._group_actions[0].choices["append"]  # type: ignore[union-attr]
    for name, cmd in commands.items():
        assert f"tallylog {name}" in doc, name
        for action in cmd._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert option in doc, f"{name} {option}"
