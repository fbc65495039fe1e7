"""C2SP tlog-proof: the spec's example layout, the inverse pair (round trips at every index
of trees up to 40 entries, Hypothesis on the parser) and offline verification."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallylog.tlog import note
from tallylog.tlog.checkpoint import Checkpoint, format_checkpoint
from tallylog.tlog.cosignature import (
    CosignatureSigner,
    InvalidCosignatureError,
    QuorumError,
    append_cosignatures,
    parse_cosignature,
    witness_key_from_seed,
)
from tallylog.tlog.errors import FormatError, VerificationError
from tallylog.tlog.hashes import tree_hash
from tallylog.tlog.proof import (
    ProofFormatError,
    TlogProof,
    format_proof,
    make_proof,
    parse_proof,
    verify_proof,
)
from tests.support.trees import HashList, entry

LOG = note.Signer(note.signer_key_from_seed("example.org/log", bytes(32)))
W1 = CosignatureSigner(witness_key_from_seed("w1.example/w", b"\x01" * 32))
W2 = CosignatureSigner(witness_key_from_seed("w2.example/w", b"\x02" * 32))


def tree(n: int) -> HashList:
    t = HashList()
    for i in range(n):
        t.append(entry(i))
    return t


def checkpoint_note(t: HashList, *witnesses: CosignatureSigner, origin: str = "example.org/log") -> bytes:
    text = format_checkpoint(Checkpoint(origin, t.size, tree_hash(t.size, t)))
    signed = note.sign_note(text, LOG)
    return append_cosignatures(signed, [w.cosign(text, 1700000000) for w in witnesses])


def test_spec_example_layout() -> None:
    # tlog-proof §Format's example header (its checkpoint's signatures are elided in the
    # spec, so the same checkpoint text is signed here).
    head = (
        "c2sp.org/tlog-proof@v1\n"
        "extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n"
        "index 73894\n"
        "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n"
        "B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n"
        "EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=\n"
        "RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=\n"
        "AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n"
        "\n"
    )
    signer = note.Signer(note.signer_key_from_seed("example.com/fancylog", bytes(32)))
    cp = note.sign_note("example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n", signer)
    data = head.encode() + cp
    p = parse_proof(data)
    assert p.index == 73894
    assert p.extra is not None and p.extra.startswith(b"age-v1.2.1-darwin-arm64.tar.gz")
    assert len(p.proof) == 5
    assert p.checkpoint == cp
    assert format_proof(p) == data
    # a made-up proof: the signature checks, the inclusion does not
    with pytest.raises(VerificationError, match="inclusion proof"):
        verify_proof(p, signer.verifier, leaf=bytes(32))


def test_round_trip_and_verify_at_every_index() -> None:
    for n in range(1, 41):
        t = tree(n)
        cp = checkpoint_note(t, W1)
        for i in range(n):
            p = make_proof(cp, i, t, entry(i))
            data = format_proof(p)
            assert parse_proof(data) == p
            ok = verify_proof(parse_proof(data), LOG.verifier, [W1.verifier], 1)
            assert (ok.index, ok.entry, ok.checkpoint.size) == (i, entry(i), n)
            assert [c.name for c in ok.cosignatures] == ["w1.example/w"]


def test_wrong_entry_or_index_or_altered_hash_fails() -> None:
    t = tree(13)
    cp = checkpoint_note(t)
    p = make_proof(cp, 6, t, entry(6))
    with pytest.raises(VerificationError):
        verify_proof(p, LOG.verifier, entry=entry(7))
    with pytest.raises(VerificationError):
        verify_proof(TlogProof(7, p.proof, cp, p.extra), LOG.verifier)
    for k in range(len(p.proof)):
        for byte in (0, 31):
            hashes = [bytearray(h) for h in p.proof]
            hashes[k][byte] ^= 1
            with pytest.raises(VerificationError):
                verify_proof(TlogProof(6, tuple(bytes(h) for h in hashes), cp, p.extra), LOG.verifier)


def test_entry_or_leaf_hash_is_needed() -> None:
    t = tree(3)
    p = make_proof(checkpoint_note(t), 1, t)
    assert p.extra is None
    with pytest.raises(ProofFormatError, match="carries no entry"):
        verify_proof(p, LOG.verifier)
    assert verify_proof(p, LOG.verifier, entry=entry(1)).entry == entry(1)


def test_log_key_and_witness_quorum() -> None:
    t = tree(9)
    p = make_proof(checkpoint_note(t, W1), 4, t, entry(4))
    other = note.Signer(note.signer_key_from_seed("example.org/log", b"\x09" * 32))
    with pytest.raises(note.UnverifiedNoteError):
        verify_proof(p, other.verifier)
    verify_proof(p, LOG.verifier, [W1.verifier, W2.verifier], 1)
    with pytest.raises(QuorumError, match="1 of 2 witnesses cosigned"):
        verify_proof(p, LOG.verifier, [W1.verifier, W2.verifier], 2)


def test_altered_cosignature_is_rejected_with_the_witness_named() -> None:
    t = tree(9)
    cp = checkpoint_note(t, W1, W2)
    text = cp.decode()
    line = next(x for x in text.splitlines() if x.startswith("— w2.example/w "))
    c = parse_cosignature(line)
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[40] ^= 0x10
    bad = text.replace(line, f"— {c.name} {base64.b64encode(bytes(raw)).decode()}").encode()
    p = make_proof(bad, 2, t, entry(2))
    with pytest.raises(InvalidCosignatureError, match=r"w2\.example/w"):
        verify_proof(p, LOG.verifier, [W1.verifier, W2.verifier], 1)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("c2sp.org/tlog-proof@v1\n", "c2sp.org/tlog-proof@v2\n"),
        ("index 2\n", "index 02\n"),
        ("index 2\n", "index 9\n"),  # not below the checkpoint's size
        ("index 2\n", "Index 2\n"),
        ("index 2\n", "extra \nindex 2\n"),
        ("index 2\n", "extra AAA\nindex 2\n"),
        ("index 2\n", "index 2\nextra AA==\n"),
        ("index 2\n", "index 2\n" + base64.b64encode(bytes(31)).decode() + "\n"),
        ("index 2\n", "index 2\n\n"),
        ("\n\nexample.org/log\n", "\nexample.org/log\n"),
        ("\n\nexample.org/log\n", "\n\n\nexample.org/log\n"),
        ("— example.org/log ", "- example.org/log "),
    ],
)
def test_parser_is_strict(old: str, new: str) -> None:
    t = tree(9)
    data = format_proof(make_proof(checkpoint_note(t), 2, t, entry(2))).decode()
    assert old in data
    with pytest.raises(ProofFormatError):
        parse_proof(data.replace(old, new, 1).encode())


def test_format_refuses_what_parse_would() -> None:
    t = tree(4)
    cp = checkpoint_note(t)
    with pytest.raises(ProofFormatError):
        format_proof(TlogProof(4, (), cp))
    with pytest.raises(ProofFormatError):
        format_proof(TlogProof(0, (), cp, b""))
    with pytest.raises(ProofFormatError):
        format_proof(TlogProof(0, (bytes(31),), cp))


SMALL = tree(17)
SMALL_CP = checkpoint_note(SMALL, W1)


@given(st.integers(0, 16), st.one_of(st.none(), st.binary(min_size=1, max_size=100)))
def test_round_trip_property(index: int, extra: bytes | None) -> None:
    p = make_proof(SMALL_CP, index, SMALL)
    p = TlogProof(p.index, p.proof, p.checkpoint, extra)
    assert parse_proof(format_proof(p)) == p


@given(st.binary(max_size=600))
def test_parser_raises_one_error_type(data: bytes) -> None:
    try:
        p = parse_proof(data)
    except ProofFormatError:
        return
    assert format_proof(p) == data


@given(st.integers(0, 2000), st.integers(0, 255))
def test_any_flipped_byte_fails_to_parse_or_verify(pos: int, bit: int) -> None:
    data = bytearray(format_proof(make_proof(SMALL_CP, 5, SMALL, entry(5))))
    pos %= len(data)
    data[pos] ^= bit or 1
    try:
        p = parse_proof(bytes(data))
        verify_proof(p, LOG.verifier, [W1.verifier], 1)
    except (FormatError, VerificationError):
        return
    pytest.fail(f"a proof with byte {pos} altered verified")
