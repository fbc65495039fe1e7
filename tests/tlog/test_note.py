"""C2SP signed-note and tlog-checkpoint: Go's known answer, strict parsing, several keys."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallylog.tlog.checkpoint import Checkpoint, CheckpointFormatError, format_checkpoint, parse_checkpoint
from tallylog.tlog.errors import VerificationError
from tallylog.tlog.note import (
    InvalidSignatureError,
    KeyFormatError,
    NoteFormatError,
    Signer,
    UnverifiedNoteError,
    Verifier,
    generate_key,
    key_id,
    open_note,
    sign_note,
    signer_key_from_seed,
)


def test_reproduces_go_checkpoint_byte_for_byte(vectors: dict[str, Any]) -> None:
    verifier = Verifier(vectors["verifier_key"])
    signer = Signer(signer_key_from_seed(verifier.name, base64.b64decode(vectors["ed25519_seed"])))
    assert signer.verifier_key == vectors["verifier_key"]
    note = open_note(vectors["checkpoint_1000"].encode(), [verifier])
    cp = parse_checkpoint(note.text)
    assert (cp.origin, cp.size) == ("example.com/vectors", 1000)
    assert cp.root == base64.b64decode(vectors["trees"][-1]["root"])
    assert sign_note(format_checkpoint(cp), signer) == vectors["checkpoint_1000"].encode()


def test_key_strings_and_ids() -> None:
    skey, vkey = generate_key("example.org/log")
    s, v = Signer(skey), Verifier(vkey)
    assert s.verifier_key == vkey and v.name == s.name == "example.org/log"
    assert skey.startswith("PRIVATE+KEY+example.org/log+") and vkey.startswith(f"example.org/log+{v.key_id:08x}+")
    assert key_id(v.name, v.public_key) == v.key_id
    name, hexid, key = vkey.split("+", 2)
    for bad in [
        f"{name}+{hexid.upper()}+{key}" if hexid.upper() != hexid else f"{name}+{hexid}+x{key}",
        f"{name}+{hexid[:-1]}+{key}",
        f"{name}+00000000+{key}",
        f"other+{hexid}+{key}",
        f"na me+{hexid}+{key}",
        f"{name}+{hexid}+{key}=",
        f"{name}+{hexid}",
        f"{name}+{hexid}+" + base64.b64encode(b"\x02" + bytes(32)).decode(),
    ]:
        with pytest.raises(KeyFormatError):
            Verifier(bad)
    with pytest.raises(KeyFormatError):
        Signer(vkey)
    with pytest.raises(KeyFormatError):
        Signer(skey.replace("PRIVATE+KEY+example.org", "PRIVATE+KEY+example.com"))
    with pytest.raises(KeyFormatError):
        generate_key("has space")


@pytest.fixture(scope="module")
def keys() -> list[Signer]:
    return [Signer(generate_key(f"k{i}.example")[0]) for i in range(3)]


def test_several_signatures_and_unknown_keys(keys: list[Signer]) -> None:
    a, b, c = keys
    msg = sign_note("hello\nworld\n", a, b)
    note = open_note(msg, [b.verifier])
    assert note.text == "hello\nworld\n"
    assert [s.name for s in note.sigs] == [b.name]
    assert [s.name for s in note.unverified] == [a.name]
    with pytest.raises(UnverifiedNoteError) as info:
        open_note(msg, [c.verifier])
    assert info.value.names == sorted([a.name, b.name])
    # A bad signature by a known key rejects the note, even if another one verifies.
    lines = msg.decode().split("\n")
    forged = sign_note("other\n", b).decode().split("\n")[2]
    tampered = "\n".join(lines[:3] + [forged] + lines[4:]).encode()
    with pytest.raises(InvalidSignatureError):
        open_note(tampered, [a.verifier, b.verifier])
    assert issubclass(InvalidSignatureError, VerificationError)


def test_tampered_text_fails(keys: list[Signer]) -> None:
    msg = sign_note("a\n1\n", keys[0])
    with pytest.raises(InvalidSignatureError):
        open_note(msg.replace(b"1", b"2", 1), [keys[0].verifier])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m[:-1],  # no final newline
        lambda m: m.replace(b"\n\n", b"\n"),  # no blank line
        lambda m: m.replace("—".encode(), b"-"),  # not an em dash
        lambda m: m.replace(b"\n\n", b"\n\x01\n\n"),  # control character
        lambda m: m + b"\xff\n",  # not UTF-8
        lambda m: m.replace(b"=\n", b"\n"),  # non-canonical base64
        lambda m: m + "— k0.example AAAA\n".encode(),  # signature too short
        lambda m: m + "— k0.example\n".encode(),  # no signature
        lambda m: m + b"\n",  # empty signature line
        lambda m: m + "— k0.example AAAAAAAA\n".encode() * 101,  # too many signatures
        lambda m: m + b"x" * (1 << 20),  # too large
    ],
)
def test_malformed_notes_are_rejected(keys: list[Signer], mutate: Any) -> None:
    msg = sign_note("text\n", keys[0])
    with pytest.raises(NoteFormatError):
        open_note(mutate(msg), [keys[0].verifier])


@pytest.mark.parametrize("text", ["", "\n", "no newline", "a\n\n", "tab\there\n"])
def test_sign_note_rejects_bad_text(keys: list[Signer], text: str) -> None:
    with pytest.raises(NoteFormatError):
        sign_note(text, keys[0])


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), min_size=1).map(lambda s: s + "\n"))
def test_note_round_trip(text: str) -> None:
    signer = Signer(signer_key_from_seed("rt.example", bytes(range(32))))
    try:
        msg = sign_note(text, signer)
    except NoteFormatError:
        assert any(ord(c) < 0x20 for c in text)
        return
    assert open_note(msg, [signer.verifier]).text == text


origins = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FFF, blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


@given(origins, st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32), st.lists(origins, max_size=3))
def test_checkpoint_round_trip(origin: str, size: int, root: bytes, ext: list[str]) -> None:
    cp = Checkpoint(origin, size, root, tuple(ext))
    assert parse_checkpoint(format_checkpoint(cp)) == cp


@given(st.sampled_from(["0", "1", "256"]), st.sampled_from(["00", "01", "+1", "-1", " 1", "1 ", "1.0", "١", "18446744073709551616", ""]))
def test_checkpoint_rejects_non_canonical_sizes(good: str, bad: str) -> None:
    root = base64.b64encode(bytes(32)).decode()
    assert parse_checkpoint(f"o\n{good}\n{root}\n").size == int(good)
    with pytest.raises(CheckpointFormatError):
        parse_checkpoint(f"o\n{bad}\n{root}\n")


@pytest.mark.parametrize(
    "text",
    [
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # missing final newline
        "o\n1\n",  # no root
        "\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # empty origin
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n",  # non-canonical base64
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",  # 31 bytes
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",  # no padding
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",  # empty extension line
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n",  # CR
        "o\t\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # control character
    ],
)
def test_checkpoint_rejects_malformed(text: str) -> None:
    with pytest.raises(CheckpointFormatError):
        parse_checkpoint(text)


@given(st.text(max_size=80))
def test_verifier_accepts_only_canonical_keys(text: str) -> None:
    try:
        v = Verifier(text)
    except KeyFormatError:
        return
    assert v.verifier_key == text and f"{v.name}+{v.key_id:08x}+" in text


@given(st.binary(min_size=32, max_size=32), st.sampled_from(["a", "example.org/log", "日志"]))
def test_key_strings_round_trip(seed: bytes, name: str) -> None:
    s = Signer(signer_key_from_seed(name, seed))
    assert Verifier(s.verifier_key).public_key == s.public_key
    assert Signer(signer_key_from_seed(name, seed)).verifier_key == s.verifier_key
    msg = sign_note("x\n", s)
    assert open_note(msg, [Verifier(s.verifier_key)]).sigs[0].key_id == s.key_id


def _set_padding_bits(b64: str) -> str:
    """The same bytes in non-canonical base64: the unused low bits of the last symbol set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = b64.rstrip("=")
    pad = len(b64) - len(body)
    assert pad, "needs a padded encoding (signatures of 4 + 64 bytes are)"
    last = alphabet.index(body[-1]) | ((1 << (2 * pad)) - 1)
    out = body[:-1] + alphabet[last] + "=" * pad
    assert out != b64 and base64.b64decode(out) == base64.b64decode(b64)
    return out


def test_an_unknown_keys_non_canonical_signature_is_set_aside_as_go_does(keys: list[Signer]) -> None:
    msg = sign_note("text\n", keys[0], keys[1]).decode()
    head, ours, theirs = msg.rsplit("\n", 3)[0], *msg.rstrip("\n").rsplit("\n", 2)[1:]
    name, b64 = theirs[2:].split(" ")
    odd = f"{head}\n{ours}\n— {name} {_set_padding_bits(b64)}\n".encode()
    note = open_note(odd, [keys[0].verifier])  # keys[1] unknown here: not fatal
    assert [s.name for s in note.sigs] == [keys[0].name]
    assert [s.base64 for s in note.unverified] == [_set_padding_bits(b64)]
    with pytest.raises(NoteFormatError, match="non-canonical"):  # a known key's must be canonical
        open_note(odd, [keys[0].verifier, keys[1].verifier])
    with pytest.raises(NoteFormatError, match="malformed base64"):
        open_note(f"{head}\n{ours}\n— {name} {b64[:-1]}!\n".encode(), [keys[0].verifier])


def test_sign_checkpoint_and_open_checkpoint_are_inverses(keys: list[Signer]) -> None:
    from tallylog.tlog.checkpoint import MAX_CHECKPOINT_SIZE, open_checkpoint, sign_checkpoint

    cp = Checkpoint(keys[0].name, 12345, bytes(range(32)), ("ext one", "ext two"))
    note = sign_checkpoint(cp, keys[0], keys[1])
    assert open_checkpoint(note, keys[0].verifier) == cp
    with pytest.raises(VerificationError, match="is for log"):  # signed, but another log's
        open_checkpoint(note, keys[1].verifier)
    with pytest.raises(UnverifiedNoteError):
        open_checkpoint(sign_checkpoint(cp, keys[1]), keys[0].verifier)
    with pytest.raises(CheckpointFormatError, match="larger"):
        open_checkpoint(note + b"x" * MAX_CHECKPOINT_SIZE, keys[0].verifier)
    with pytest.raises(CheckpointFormatError):
        open_checkpoint(sign_note("not\na checkpoint\n", keys[0]), keys[0].verifier)


def test_a_checkpoint_with_sixteen_post_quantum_sized_cosignatures_fits() -> None:
    """MAX_CHECKPOINT_SIZE holds the body and 16 signature lines of ML-DSA-44 size."""
    from tallylog.tlog.checkpoint import MAX_CHECKPOINT_SIZE

    body = format_checkpoint(Checkpoint("example.org/a/rather/long/log/origin", 10**12, bytes(32)))
    line = "— witness-%02d.example.org/a/long/witness/name " + base64.b64encode(bytes(4 + 2420)).decode() + "\n"
    note = body + "\n" + "".join(line % i for i in range(16))
    assert len(note.encode()) < MAX_CHECKPOINT_SIZE
