"""The witness's decisions on add-checkpoint requests (C2SP tlog-witness §add-checkpoint),
without HTTP: ``WitnessService.add_checkpoint(body)`` returns the ``Response`` to send.

In the spec's order:

1. a body that does not parse: 400;
2. an origin the witness is not configured for: 404;
3. no signature by a key trusted for the origin, or a bad one by such a key: 403;
4. an old size above the checkpoint's size: 400;
5. an old size other than the size last cosigned (0 if never): 409, that size as
   ``text/x.tlog.size``;
6. size 0 with another root than the empty tree's; a proof with old size 0; a consistency
   proof that does not verify; the same size with another root: 422 (the request is kept
   as evidence);
7. otherwise the new state is stored (atomically with step 5's check, see
   ``WitnessState.advance``) and the response is the witness's cosignature line (200).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tallylog.tlog.cosignature import (
    Cosignature,
    CosignatureSigner,
    append_cosignatures,
    split_checkpoint_note,
)
from tallylog.tlog.errors import FormatError, VerificationError
from tallylog.tlog.hashes import EMPTY_ROOT, check_consistency
from tallylog.tlog.note import (
    InvalidSignatureError,
    UnverifiedNoteError,
    Verifier,
    open_note,
)
from tallylog.tlog.witness import (
    SIZE_CONTENT_TYPE,
    WitnessRequestFormatError,
    format_cosignature_response,
    format_size,
    parse_add_checkpoint,
)
from tallylog.witness.state import LogState, WitnessState

__all__ = ["Response", "WitnessService"]

TEXT = "text/plain; charset=utf-8"
MAX_SQLITE_SIZE = (1 << 63) - 1


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes


def _text(status: int, message: str) -> Response:
    return Response(status, TEXT, message.encode() + b"\n")


class _Refused(Exception):
    def __init__(self, response: Response, evidence: str | None = None) -> None:
        self.response, self.evidence = response, evidence


class WitnessService:
    """A witness: its ``signer``, the log keys it trusts by origin, and its ``state``."""

    def __init__(
        self,
        signer: CosignatureSigner,
        logs: Mapping[str, Sequence[Verifier]],
        state: WitnessState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signer = signer
        self.logs = {origin: list(keys) for origin, keys in logs.items()}
        self.state = state
        self.clock = clock
        self._by_hash = {hashlib.sha256(o.encode()).hexdigest(): o for o in self.logs}

    @classmethod
    def from_keys(
        cls,
        signer: CosignatureSigner,
        log_keys: Sequence[Verifier],
        state: WitnessState,
    ) -> WitnessService:
        """Trust each log key for the origin that is its name (the usual checkpoint key)."""
        logs: dict[str, list[Verifier]] = {}
        for v in log_keys:
            logs.setdefault(v.name, []).append(v)
        return cls(signer, logs, state)

    def add_checkpoint(self, body: bytes) -> Response:
        """Decide one add-checkpoint request (see the module docstring)."""
        try:
            req = parse_add_checkpoint(body)
        except WitnessRequestFormatError as exc:
            return _text(400, f"malformed request: {exc}")
        text, cp = split_checkpoint_note(req.checkpoint)  # checked by the parser
        keys = self.logs.get(cp.origin)
        if keys is None:
            return _text(404, "unknown log")
        try:
            open_note(req.checkpoint, keys)
        except (UnverifiedNoteError, InvalidSignatureError):
            return _text(403, "no valid signature by a key trusted for this log")
        except FormatError as exc:
            return _text(400, f"malformed checkpoint note: {exc}")
        if req.old_size > cp.size:
            return _text(
                400, f"old size {req.old_size} is above the checkpoint's size {cp.size}"
            )
        if cp.size > MAX_SQLITE_SIZE:
            return _text(400, "tree size too large for this witness")

        made: list[Cosignature] = []

        def decide(current: LogState | None) -> LogState:
            have = current.size if current else 0
            if req.old_size != have:
                raise _Refused(Response(409, SIZE_CONTENT_TYPE, format_size(have)))
            if cp.size == 0 and cp.root != EMPTY_ROOT:
                raise _Refused(
                    _text(
                        422, "a checkpoint of size 0 must have the empty tree's root"
                    ),
                    "empty tree root",
                )
            if req.old_size == 0 and req.proof:
                raise _Refused(
                    _text(422, "the proof from size 0 must be empty"),
                    "proof from size 0",
                )
            old_root = current.root if current else EMPTY_ROOT
            try:
                check_consistency(req.proof, cp.size, cp.root, req.old_size, old_root)
            except (VerificationError, FormatError) as exc:
                raise _Refused(
                    _text(
                        422, f"inconsistent with the checkpoint last cosigned: {exc}"
                    ),
                    str(exc),
                ) from None
            cosig = self.signer.cosign(text, int(self.clock()))
            note = append_cosignatures(req.checkpoint, [cosig])
            made[:] = [cosig]
            return LogState(cp.origin, cp.size, cp.root, note, cosig.timestamp)

        try:
            self.state.advance(cp.origin, decide)
        except _Refused as refused:
            if refused.evidence is not None:
                self.state.record_evidence(cp.origin, refused.evidence, body)
            return refused.response
        return Response(200, TEXT, format_cosignature_response(made))

    def checkpoint(self, origin_hash: str) -> Response:
        """tlog-witness §Monitor Retrieval Mechanism: the latest cosigned checkpoint of the
        log whose origin hashes (SHA-256, lowercase hex) to ``origin_hash``; 404 if none."""
        origin = self._by_hash.get(origin_hash)
        current = self.state.get(origin) if origin is not None else None
        if current is None:
            return _text(404, "no checkpoint cosigned for this log")
        return Response(200, TEXT, bytes(current.note))
