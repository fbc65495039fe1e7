"""The tlog-witness wire formats (C2SP tlog-witness §add-checkpoint): the spec's example
request and response, inverse pairs with round trips, and strict parsers."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallylog.tlog.cosignature import Cosignature
from tallylog.tlog.witness import (
    AddCheckpoint,
    WitnessRequestFormatError,
    format_add_checkpoint,
    format_cosignature_response,
    format_size,
    parse_add_checkpoint,
    parse_cosignature_response,
    parse_size,
    parse_witness,
)

SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
)
SPEC_REQUEST = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n" + SPEC_CHECKPOINT
).encode()
SPEC_RESPONSE = (
    "— witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==\n"
    "— witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+UfzuOBMh9ChdMkP1vi/lCAsmlw==\n"
    "— witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==\n"
).encode()


def test_spec_example_request() -> None:
    req = parse_add_checkpoint(SPEC_REQUEST)
    assert req.old_size == 20852014
    assert [base64.b64encode(h).decode()[:6] for h in req.proof] == ["PlRNCr", "jrJZDm", "5+pKlU", "/6WVhP"]
    assert req.checkpoint == SPEC_CHECKPOINT.encode()
    assert format_add_checkpoint(req) == SPEC_REQUEST


def test_spec_example_response_is_well_formed() -> None:
    # The example's bytes are illustrative: two of its three "timestamps" exceed 2^63 - 1,
    # which tlog-cosignature forbids, so only w2's line is a cosignature/v1 one.
    cosigs = parse_cosignature_response(SPEC_RESPONSE)
    assert [(c.name, c.key_id) for c in cosigs] == [("witness.example/w2", 0x016BA2F1)]


def test_request_without_proof_and_old_zero() -> None:
    req = AddCheckpoint(0, (), SPEC_CHECKPOINT.encode())
    body = format_add_checkpoint(req)
    assert body.startswith(b"old 0\n\nexample.com/behind-the-sofa\n")
    assert parse_add_checkpoint(body) == req


@given(st.integers(0, 2**64 - 1), st.lists(st.binary(min_size=32, max_size=32), max_size=63))
def test_request_round_trip(old: int, proof: list[bytes]) -> None:
    req = AddCheckpoint(old, tuple(proof), SPEC_CHECKPOINT.encode())
    assert parse_add_checkpoint(format_add_checkpoint(req)) == req


@given(st.binary(max_size=400))
def test_request_parser_raises_one_error_type(data: bytes) -> None:
    try:
        req = parse_add_checkpoint(data)
    except WitnessRequestFormatError:
        return
    assert format_add_checkpoint(req) == data


h = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    "head",
    [
        "old 01\n\n",  # leading zero
        "old -1\n\n",
        "old 1 \n\n",
        "old  1\n\n",
        "Old 1\n\n",
        "old 18446744073709551616\n\n",  # 2^64
        f"old 1\n{h[:-1]}\n\n",  # not base64
        f"old 1\n{base64.b64encode(bytes(31)).decode()}\n\n",  # 31 bytes
        f"old 1\n{h}\r\n\n",
        "old 1\n" + f"{h}\n" * 64 + "\n",  # 64 proof lines
        "\n",
        "old 1\n",
    ],
)
def test_request_parser_is_strict(head: str) -> None:
    with pytest.raises(WitnessRequestFormatError):
        parse_add_checkpoint(head.encode() + SPEC_CHECKPOINT.encode())


@pytest.mark.parametrize(
    "note",
    [
        b"",
        SPEC_CHECKPOINT.split("\n\n")[0].encode() + b"\n",  # no signatures
        SPEC_CHECKPOINT.replace("20852163", "020852163").encode(),
        SPEC_CHECKPOINT.encode()[:-1],
        b"\xff" + SPEC_CHECKPOINT.encode(),
    ],
)
def test_request_checkpoint_must_be_a_signed_checkpoint(note: bytes) -> None:
    with pytest.raises(WitnessRequestFormatError):
        parse_add_checkpoint(b"old 0\n\n" + note)


def test_format_refuses_too_many_proof_lines() -> None:
    with pytest.raises(WitnessRequestFormatError):
        format_add_checkpoint(AddCheckpoint(1, (bytes(32),) * 64, SPEC_CHECKPOINT.encode()))


@given(st.integers(0, 2**64 - 1))
def test_size_round_trip(n: int) -> None:
    assert parse_size(format_size(n)) == n


@pytest.mark.parametrize("body", [b"", b"12", b"012\n", b"12\n\n", b" 12\n", b"1e3\n", b"18446744073709551616\n"])
def test_size_parser_is_strict(body: bytes) -> None:
    with pytest.raises(WitnessRequestFormatError):
        parse_size(body)


@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**63 - 1), st.binary(min_size=64, max_size=64)), min_size=1, max_size=4))
def test_response_round_trip(items: list[tuple[int, int, bytes]]) -> None:
    cosigs = [Cosignature(f"w{i}.example/x", kid, ts, sig) for i, (kid, ts, sig) in enumerate(items)]
    assert parse_cosignature_response(format_cosignature_response(cosigs)) == cosigs


@pytest.mark.parametrize("body", [b"", b"\n", b"hello\n", SPEC_RESPONSE[:-1], SPEC_RESPONSE + b"\n", b"\xe2\x80\x94 w1\n"])
def test_response_parser_is_strict(body: bytes) -> None:
    with pytest.raises(WitnessRequestFormatError):
        parse_cosignature_response(body)


def test_parse_witness_argument() -> None:
    vkey = "w.example/x+1d8f5e4c+BKEnWF45d3MB5YDQ6GlVwjYnwC+tIqXt53m9HXOfkopS"
    with pytest.raises(ValueError):
        parse_witness(vkey)  # no URL
    with pytest.raises(ValueError):
        parse_witness(vkey + "=ftp://x")
