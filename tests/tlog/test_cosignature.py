"""cosignature/v1 (C2SP tlog-cosignature): the spec's examples, keys, the signed message,
the line format as an inverse pair, and verification that rejects any altered byte."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallylog.tlog import note
from tallylog.tlog.checkpoint import Checkpoint, format_checkpoint
from tallylog.tlog.cosignature import (
    MAX_TIMESTAMP,
    Cosignature,
    CosignatureFormatError,
    CosignatureSigner,
    CosignatureVerifier,
    InvalidCosignatureError,
    QuorumError,
    append_cosignatures,
    check_quorum,
    cosignature_key_id,
    cosigned_message,
    format_cosignature,
    format_timestamped_signature,
    generate_witness_key,
    open_cosigned,
    parse_cosignature,
    parse_timestamped_signature,
    verify_cosigned,
    witness_key_from_seed,
)
from tallylog.tlog.errors import FormatError

# tlog-cosignature §Format and §Ed25519 signed message: the example checkpoint, its
# cosignature line, and the message it signs (the timestamp line is the line's own).
SPEC_CHECKPOINT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_LINE = (
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2"
    "oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
SPEC_MESSAGE = (
    b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
    b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
# signed-note §Verifier keys: the example Ed25519 (type 0x01) key.
SPEC_NOTE_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"

SEED = bytes(range(32))


def witness(name: str = "witness.example/w1", seed: bytes = SEED) -> CosignatureSigner:
    return CosignatureSigner(witness_key_from_seed(name, seed))


def test_spec_example_line_parses_to_its_key_id_and_timestamp() -> None:
    c = parse_cosignature(SPEC_LINE)
    assert c.name == "witness.example.com/w1"
    assert c.key_id == 0x8D66CF3F
    assert c.timestamp == 1679315147  # the "time" line of the spec's example message
    assert len(c.signature) == 64
    assert format_cosignature(c) == SPEC_LINE


def test_spec_example_message_byte_for_byte() -> None:
    assert cosigned_message(SPEC_CHECKPOINT, 1679315147) == SPEC_MESSAGE


def test_key_id_is_sha256_of_name_newline_0x04_key() -> None:
    s = witness()
    want = hashlib.sha256(b"witness.example/w1\n\x04" + s.public_key).digest()[:4]
    assert s.key_id == int.from_bytes(want, "big") == cosignature_key_id(s.name, s.public_key)
    name, hex_id, key64 = s.verifier_key.split("+", 2)
    assert (name, hex_id) == ("witness.example/w1", want.hex())
    assert base64.b64decode(key64) == b"\x04" + s.public_key


def test_witness_and_log_keys_cannot_be_confused() -> None:
    with pytest.raises(note.KeyFormatError, match="0x04"):
        CosignatureVerifier(SPEC_NOTE_VKEY)
    with pytest.raises(note.KeyFormatError):
        note.Verifier(witness().verifier_key)
    log_skey, _ = note.generate_key("example.org/log")
    with pytest.raises(note.KeyFormatError):
        CosignatureSigner(log_skey)
    with pytest.raises(note.KeyFormatError):
        note.Signer(witness_key_from_seed("w", SEED))


def test_verifier_key_with_wrong_id_is_rejected() -> None:
    name, hex_id, key64 = witness().verifier_key.split("+", 2)
    bad = f"{name}+{int(hex_id, 16) ^ 1:08x}+{key64}"
    with pytest.raises(note.KeyFormatError, match="does not match"):
        CosignatureVerifier(bad)


def test_generated_keys_sign_and_verify() -> None:
    skey, vkey = generate_witness_key("w.example/x")
    c = CosignatureSigner(skey).cosign(SPEC_CHECKPOINT, 1700000000)
    assert CosignatureVerifier(vkey).verify(SPEC_CHECKPOINT, c)


def test_every_altered_byte_of_a_cosignature_is_rejected() -> None:
    s = witness()
    v = s.verifier
    c = s.cosign(SPEC_CHECKPOINT, 1700000000)
    assert v.verify(SPEC_CHECKPOINT, c)
    raw = format_timestamped_signature(c.timestamp, c.signature)
    for i in range(len(raw)):
        for bit in (0x01, 0x80):
            flipped = bytearray(raw)
            flipped[i] ^= bit
            try:
                t, sig = parse_timestamped_signature(bytes(flipped))
            except CosignatureFormatError:
                continue  # a timestamp above 2^63 - 1
            assert not v.verify(SPEC_CHECKPOINT, Cosignature(c.name, c.key_id, t, sig)), (i, bit)


def test_the_whole_body_is_signed_extension_lines_included() -> None:
    s = witness()
    body = SPEC_CHECKPOINT + "extension one\n"
    c = s.cosign(body, 1700000000)
    assert s.verifier.verify(body, c)
    assert not s.verifier.verify(SPEC_CHECKPOINT, c)
    assert not s.verifier.verify(SPEC_CHECKPOINT + "extension two\n", c)


def test_signed_message_needs_a_canonical_checkpoint() -> None:
    with pytest.raises(FormatError):
        cosigned_message("not a checkpoint\n", 1)
    with pytest.raises(FormatError):
        cosigned_message(SPEC_CHECKPOINT.replace("20852163", "020852163"), 1)


def test_timestamp_range() -> None:
    format_timestamped_signature(MAX_TIMESTAMP, bytes(64))
    with pytest.raises(CosignatureFormatError, match="out of range"):
        format_timestamped_signature(MAX_TIMESTAMP + 1, bytes(64))
    with pytest.raises(CosignatureFormatError, match="out of range"):
        parse_timestamped_signature(b"\x80" + bytes(71))
    with pytest.raises(CosignatureFormatError):
        parse_timestamped_signature(bytes(71))


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"), blacklist_characters="+"),
    min_size=1,
    max_size=30,
).filter(lambda s: not any(c.isspace() for c in s))


@given(names, st.integers(0, 2**32 - 1), st.integers(0, MAX_TIMESTAMP), st.binary(min_size=64, max_size=64))
def test_line_round_trip(name: str, kid: int, ts: int, sig: bytes) -> None:
    c = Cosignature(name, kid, ts, sig)
    line = format_cosignature(c)
    assert parse_cosignature(line) == c
    assert parse_timestamped_signature(format_timestamped_signature(ts, sig)) == (ts, sig)


@given(st.text(max_size=200))
def test_parse_line_rejects_garbage_with_one_error_type(text: str) -> None:
    try:
        c = parse_cosignature(text)
    except CosignatureFormatError:
        return
    assert format_cosignature(c) == (text if text.endswith("\n") else text + "\n")


@pytest.mark.parametrize(
    "line",
    [
        SPEC_LINE.replace("— ", "- "),
        SPEC_LINE[:-1] + " \n",
        SPEC_LINE.replace("==\n", "=\n"),
        SPEC_LINE.replace(" jWb", "  jWb"),
        SPEC_LINE.replace("w1 ", "w1+ "),
        SPEC_LINE[:-30] + "\n",
        # the signed-note example's Ed25519 (0x01) signature: 4 + 64 bytes, not 4 + 72
        "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n",
    ],
)
def test_parse_line_is_strict(line: str) -> None:
    with pytest.raises(CosignatureFormatError):
        parse_cosignature(line)


# --- cosigned checkpoints ----------------------------------------------------------------


def signed_checkpoint(size: int = 5) -> tuple[note.Signer, bytes, str]:
    signer = note.Signer(note.signer_key_from_seed("example.org/log", bytes(32)))
    text = format_checkpoint(Checkpoint("example.org/log", size, hashlib.sha256(b"%d" % size).digest()))
    return signer, note.sign_note(text, signer), text


def test_open_cosigned_counts_known_witnesses_and_ignores_others() -> None:
    log, signed, text = signed_checkpoint()
    w1, w2, stranger = witness("w1", b"\x01" * 32), witness("w2", b"\x02" * 32), witness("w3", b"\x03" * 32)
    cosigned = append_cosignatures(signed, [w1.cosign(text, 10), stranger.cosign(text, 11)])
    opened = open_cosigned(cosigned, log.verifier, [w1.verifier, w2.verifier])
    assert opened.witnesses == ["w1"]
    assert opened.checkpoint.size == 5
    check_quorum(opened, [w1.verifier, w2.verifier], 1)
    with pytest.raises(QuorumError, match="1 of 2 witnesses cosigned \\(need 2; cosigned: w1\\)"):
        check_quorum(opened, [w1.verifier, w2.verifier], 2)
    with pytest.raises(ValueError):
        check_quorum(opened, [w1.verifier], 2)
    assert verify_cosigned(cosigned, log.verifier, [w1.verifier, w2.verifier], 1).witnesses == ["w1"]
    with pytest.raises(QuorumError):
        verify_cosigned(cosigned, log.verifier, [w1.verifier, w2.verifier], 2)


def test_a_bad_cosignature_by_a_known_witness_rejects_the_note() -> None:
    log, signed, text = signed_checkpoint()
    w1 = witness("w1")
    good = w1.cosign(text, 10)
    bad = Cosignature(good.name, good.key_id, good.timestamp + 1, good.signature)
    with pytest.raises(InvalidCosignatureError, match="invalid cosignature by witness w1"):
        open_cosigned(append_cosignatures(signed, [bad]), log.verifier, [w1.verifier])
    # unknown to the verifier: ignored, as signed-note says
    assert open_cosigned(append_cosignatures(signed, [bad]), log.verifier, []).cosignatures == ()


def test_cosignature_for_another_checkpoint_is_rejected() -> None:
    log, signed, _ = signed_checkpoint(5)
    _, _, other = signed_checkpoint(6)
    w1 = witness("w1")
    with pytest.raises(InvalidCosignatureError):
        open_cosigned(append_cosignatures(signed, [w1.cosign(other, 10)]), log.verifier, [w1.verifier])


def test_append_replaces_a_witness_line_and_keeps_the_rest() -> None:
    _, signed, text = signed_checkpoint()
    w1, w2 = witness("w1", b"\x01" * 32), witness("w2", b"\x02" * 32)
    once = append_cosignatures(signed, [w1.cosign(text, 10), w2.cosign(text, 10)])
    twice = append_cosignatures(once, [w1.cosign(text, 20)])
    lines = twice.decode().split("\n\n", 1)[1].splitlines()
    assert len(lines) == 3
    assert lines[0] == signed.decode().split("\n\n", 1)[1].strip()
    assert [parse_cosignature(x).timestamp for x in lines[1:]] == [10, 20]
    with pytest.raises(CosignatureFormatError):
        append_cosignatures(text.encode(), [])
