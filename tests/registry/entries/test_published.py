"""``registry.entries.published.read_checkpoint``: the published checkpoint is read strictly."""

from __future__ import annotations

import base64

import pytest

from tallylog.registry.entries.published import read_checkpoint
from tallylog.tlog import FormatError, VerificationError, checkpoint, note

ORIGIN = "example.org/log"


def _signed(body: str, signer_key: str) -> bytes:
    return note.sign_note(body, note.Signer(signer_key))


def test_a_signed_checkpoint_reads_back() -> None:
    signer_key, verifier_key = note.generate_key(ORIGIN)
    root = bytes(range(32))
    signed = _signed(checkpoint.format_checkpoint(checkpoint.Checkpoint(ORIGIN, 5, root)), signer_key)
    info = read_checkpoint(signed, verifier_key)
    assert (info.origin, info.size, info.text) == (ORIGIN, 5, signed.decode())
    assert base64.b64decode(info.root_b64) == root


def test_a_wrong_signature_or_key_is_refused() -> None:
    signer_key, verifier_key = note.generate_key(ORIGIN)
    signed = _signed(checkpoint.format_checkpoint(checkpoint.Checkpoint(ORIGIN, 5, bytes(32))), signer_key)
    with pytest.raises(VerificationError):
        read_checkpoint(signed.replace(b"\n5\n", b"\n6\n"), verifier_key)
    with pytest.raises(VerificationError):
        read_checkpoint(signed, note.generate_key(ORIGIN)[1])


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n05\n{base64.b64encode(bytes(32)).decode()}\n",  # leading zero
        f"{ORIGIN}\n5\n{base64.b64encode(bytes(31)).decode()}\n",  # short root
        f"{ORIGIN}\n5\n",  # no root line
    ],
)
def test_a_malformed_body_is_refused_even_when_signed(body: str) -> None:
    signer_key, verifier_key = note.generate_key(ORIGIN)
    with pytest.raises(FormatError):
        read_checkpoint(_signed(body, signer_key), verifier_key)
