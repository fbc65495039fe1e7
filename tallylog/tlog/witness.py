"""C2SP tlog-witness, the client side: ask witnesses to cosign a checkpoint.

``add-checkpoint`` (tlog-witness §add-checkpoint): ``POST <submission prefix>/add-checkpoint``
with the body ::

    old <size the witness last cosigned>\\n
    <consistency proof hash, base64>\\n      (zero to 63 lines)
    \\n
    <the signed checkpoint note>

and the answers: 200 with one or more cosignature lines; 409 with the witness's size as
``text/x.tlog.size`` (``WitnessConflict``); 422 inconsistent (``WitnessInconsistent``: a fork,
or a bad proof); 403 no trusted signature (``WitnessForbidden``); 404 unknown log
(``WitnessUnknownLog``); 400 bad request (``WitnessBadRequest``); anything else, a time-out or
a refused connection: ``WitnessUnavailable``. A 200 whose cosignature does not verify:
``WitnessBadResponse``. All are ``WitnessError``, carrying the witness's name.

``cosign`` submits to several witnesses at once, each from the size the caller believes it
last cosigned (0 when unknown), retrying once from the witness's own size after a 409, and
returns a ``CosignResult`` (cosignatures, failures, the sizes to remember); ``check_quorum``
(in ``tallylog.tlog.cosignature``) says whether enough cosigned. HTTP is urllib's.

Inverse pairs: ``format_add_checkpoint``/``parse_add_checkpoint``, ``format_size``/
``parse_size``, ``format_cosignature_response``/``parse_cosignature_response``.
"""

from __future__ import annotations

import base64
import http.client
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tallylog.tlog.cosignature import (
    Cosignature,
    CosignatureFormatError,
    CosignatureVerifier,
    append_cosignatures,
    format_cosignature,
    parse_cosignature,
    parse_decimal,
    split_checkpoint_note,
)
from tallylog.tlog.errors import FormatError
from tallylog.tlog.hashes import HASH_SIZE, HashReader, prove_consistency
from tallylog.tlog.note import MAX_NOTE_SIZE, SIG_PREFIX, _b64decode

__all__ = [
    "SIZE_CONTENT_TYPE",
    "AddCheckpoint",
    "Connection",
    "CosignResult",
    "Witness",
    "WitnessBadRequest",
    "WitnessBadResponse",
    "WitnessConflict",
    "WitnessError",
    "WitnessForbidden",
    "WitnessInconsistent",
    "WitnessPool",
    "WitnessRequestFormatError",
    "WitnessUnavailable",
    "WitnessUnknownLog",
    "add_checkpoint",
    "cosign",
    "format_add_checkpoint",
    "format_cosignature_response",
    "format_size",
    "parse_add_checkpoint",
    "parse_cosignature_response",
    "parse_size",
    "parse_witness",
    "submit",
]

SIZE_CONTENT_TYPE = "text/x.tlog.size"
"""tlog-witness §add-checkpoint: the Content-Type of a 409 response."""
MAX_PROOF_LINES = 63
"""tlog-witness §add-checkpoint: a client MUST NOT send more than 63 proof lines."""
MAX_REQUEST = MAX_NOTE_SIZE + 64 * 64
MAX_RESPONSE = 1 << 16
DEFAULT_TIMEOUT = 10.0


class WitnessRequestFormatError(FormatError):
    """An add-checkpoint body, size body or cosignature response that is malformed."""


class WitnessError(Exception):
    """A witness did not cosign; ``witness`` is its name."""

    def __init__(self, witness: str, message: str) -> None:
        self.witness = witness
        super().__init__(f"witness {witness}: {message}")


class WitnessConflict(WitnessError):
    """409: the witness last cosigned size ``size``, not the old size we sent."""

    def __init__(self, witness: str, size: int) -> None:
        self.size = size
        super().__init__(witness, f"it last cosigned size {size} (409 Conflict)")


class WitnessInconsistent(WitnessError):
    """422: the checkpoint is not consistent with what the witness saw (a fork, or a bad
    consistency proof)."""


class WitnessForbidden(WitnessError):
    """403: no signature by a key the witness trusts for the log, or a bad one."""


class WitnessUnknownLog(WitnessError):
    """404: the witness does not know the log's origin."""


class WitnessBadRequest(WitnessError):
    """400: the witness found the request malformed (or the old size above the checkpoint's)."""


class WitnessUnavailable(WitnessError):
    """The witness could not be reached, timed out, or answered an unexpected status."""


class WitnessBadResponse(WitnessError):
    """The witness answered 200 but with no valid cosignature by its key, or garbage."""


@dataclass(frozen=True)
class Witness:
    """A witness: its public key and its submission prefix URL (tlog-witness §HTTP Interface)."""

    verifier: CosignatureVerifier
    url: str

    @property
    def name(self) -> str:
        return self.verifier.name

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/add-checkpoint"


# --- the request body ---------------------------------------------------------------------


@dataclass(frozen=True)
class AddCheckpoint:
    """An add-checkpoint request: ``old_size``, the consistency ``proof`` and the signed
    ``checkpoint`` note (bytes, signature lines included)."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes


def _decimal(s: str, what: str) -> int:
    return parse_decimal(s, what, WitnessRequestFormatError)


def format_add_checkpoint(req: AddCheckpoint) -> bytes:
    """The add-checkpoint request body (tlog-witness §add-checkpoint). Inverse of
    ``parse_add_checkpoint``."""
    if len(req.proof) > MAX_PROOF_LINES:
        raise WitnessRequestFormatError(
            f"more than {MAX_PROOF_LINES} consistency proof lines"
        )
    if any(len(h) != HASH_SIZE for h in req.proof):
        raise WitnessRequestFormatError(f"a proof hash must be {HASH_SIZE} bytes")
    _decimal(str(req.old_size), "old size")
    head = (
        f"old {req.old_size}\n"
        + "".join(base64.b64encode(h).decode() + "\n" for h in req.proof)
        + "\n"
    )
    return head.encode() + req.checkpoint


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """The ``AddCheckpoint`` in a request body. Strict: ``old N`` in canonical decimal, at
    most 63 canonical base64 32-byte hashes, an empty line, then a note whose text is a
    canonical checkpoint (its signatures are the caller's to verify). Inverse of
    ``format_add_checkpoint``."""
    if len(body) > MAX_REQUEST:
        raise WitnessRequestFormatError("the request body is too large")
    lines: list[bytes] = []
    pos = 0
    while True:
        end = body.find(b"\n", pos)
        if end < 0:
            raise WitnessRequestFormatError("the request ends before the empty line")
        line = body[pos:end]
        pos = end + 1
        if not line:
            break
        lines.append(line)
        if len(lines) > 1 + MAX_PROOF_LINES:
            raise WitnessRequestFormatError(
                f"more than {MAX_PROOF_LINES} consistency proof lines"
            )
    if not lines or not lines[0].startswith(b"old "):
        raise WitnessRequestFormatError(
            "the request does not start with an old size line"
        )
    try:
        old = _decimal(lines[0][4:].decode("ascii"), "old size")
        proof = tuple(_hash_line(line.decode("ascii")) for line in lines[1:])
    except UnicodeDecodeError:
        raise WitnessRequestFormatError(
            "non-ASCII bytes before the checkpoint"
        ) from None
    note = body[pos:]
    _check_note_shape(note)
    return AddCheckpoint(old, proof, note)


def _hash_line(line: str) -> bytes:
    h = _b64decode(line, "a proof line", WitnessRequestFormatError)
    if len(h) != HASH_SIZE:
        raise WitnessRequestFormatError(f"a proof line must hold {HASH_SIZE} bytes")
    return h


def _check_note_shape(note: bytes) -> None:
    """A canonical checkpoint and a signature block; signatures are verified later."""
    try:
        split_checkpoint_note(note)
    except FormatError as exc:
        raise WitnessRequestFormatError(str(exc)) from None


def format_size(size: int) -> bytes:
    """A 409 body (``text/x.tlog.size``): the size in decimal and a newline. Inverse of
    ``parse_size``."""
    return f"{size}\n".encode()


def parse_size(body: bytes) -> int:
    """The size in a 409 body. Strict. Inverse of ``format_size``."""
    if not body.endswith(b"\n") or len(body) > 21:
        raise WitnessRequestFormatError("a size body is a decimal number and a newline")
    try:
        return _decimal(body[:-1].decode("ascii"), "size")
    except UnicodeDecodeError:
        raise WitnessRequestFormatError("a size body is ASCII") from None


def format_cosignature_response(cosignatures: Sequence[Cosignature]) -> bytes:
    """A 200 body: one note signature line per cosignature. Inverse of
    ``parse_cosignature_response``."""
    if not cosignatures:
        raise WitnessRequestFormatError("a response holds at least one cosignature")
    return "".join(format_cosignature(c) for c in cosignatures).encode("utf-8")


def parse_cosignature_response(body: bytes) -> list[Cosignature]:
    """The signature lines of a 200 body (tlog-witness §add-checkpoint), in order. Lines that
    are signatures but not cosignature/v1 ones (e.g. ML-DSA) are skipped; anything that is
    not a signature line is malformed. Nothing is verified here."""
    if len(body) > MAX_RESPONSE:
        raise WitnessRequestFormatError("the response is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessRequestFormatError("the response is not valid UTF-8") from None
    if not text.endswith("\n"):
        raise WitnessRequestFormatError("the response does not end in a newline")
    out = []
    for line in text[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX) or " " not in line[len(SIG_PREFIX) :]:
            raise WitnessRequestFormatError(
                "the response holds a line that is not a signature line"
            )
        try:
            out.append(parse_cosignature(line))
        except CosignatureFormatError:
            continue  # another signature type: ignored, as unknown keys are
    return out


# --- one witness ---------------------------------------------------------------------------


class Connection:
    """One kept-alive HTTP(S) connection to a witness's submission prefix (tlog-witness
    §HTTP Interface: clients SHOULD use keep-alive). A connection the witness closed while
    idle is reopened once. Not for concurrent use: one per witness, one caller at a time."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise WitnessRequestFormatError(
                f"a witness URL is http(s)://host[:port][/prefix], not {url!r}"
            )
        self.url, self.timeout = url, timeout
        self._https, self._netloc = parts.scheme == "https", parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes) -> tuple[int, str, bytes]:
        """POST ``body`` to ``<prefix>/<path>``: ``(status, content type, body)``;
        ``OSError`` or ``http.client.HTTPException`` when the exchange fails."""
        for attempt in (1, 2):
            reused = self._conn is not None
            if self._conn is None:
                cls = (
                    http.client.HTTPSConnection
                    if self._https
                    else http.client.HTTPConnection
                )
                self._conn = cls(self._netloc, timeout=self.timeout)
            try:
                self._conn.request(
                    "POST",
                    f"{self._prefix}/{path}",
                    body=body,
                    headers={
                        "Content-Type": "text/plain; charset=utf-8",
                        "User-Agent": "tallylog-tlog",
                    },
                )
                resp = self._conn.getresponse()
                data = resp.read(MAX_RESPONSE + 1)
                if resp.will_close:
                    self.close()
                return resp.status, resp.headers.get("Content-Type", ""), data
            except (
                http.client.RemoteDisconnected,
                BrokenPipeError,
                ConnectionResetError,
            ):
                self.close()
                if attempt == 2 or not reused:
                    raise
            except (OSError, http.client.HTTPException):
                self.close()
                raise
        raise AssertionError("Connection.post: unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def add_checkpoint(
    witness: Witness,
    old_size: int,
    proof: Sequence[bytes],
    note: bytes,
    timeout: float = DEFAULT_TIMEOUT,
    connection: Connection | None = None,
) -> list[Cosignature]:
    """One add-checkpoint call (over ``connection`` if given, else a new one, closed after).
    Returns the witness's verified cosignatures of ``note`` (those by its key; at least one,
    with a non-zero timestamp) or raises a ``WitnessError``."""
    body = format_add_checkpoint(AddCheckpoint(old_size, tuple(proof), note))
    conn = connection if connection is not None else Connection(witness.url, timeout)
    try:
        status, ctype, data = conn.post("add-checkpoint", body)
    except (OSError, http.client.HTTPException) as exc:
        reason = str(exc) or type(exc).__name__
        raise WitnessUnavailable(
            witness.name, f"couldn't reach {witness.endpoint}: {reason}"
        ) from None
    finally:
        if connection is None:
            conn.close()
    detail = data[:200].decode("utf-8", "replace").strip()
    if status == 200:
        return _verified(witness, data, note)
    if status == 409:
        if ctype.split(";")[0].strip() != SIZE_CONTENT_TYPE:
            raise WitnessBadResponse(
                witness.name, f"409 without a {SIZE_CONTENT_TYPE} body"
            )
        try:
            raise WitnessConflict(witness.name, parse_size(data))
        except WitnessRequestFormatError as exc:
            raise WitnessBadResponse(
                witness.name, f"409 with a malformed size: {exc}"
            ) from None
    kinds: dict[int, tuple[type[WitnessError], str]] = {
        400: (WitnessBadRequest, "it found the request malformed (400)"),
        403: (
            WitnessForbidden,
            "it does not trust the log's signature on the checkpoint (403)",
        ),
        404: (WitnessUnknownLog, "it does not know this log (404)"),
        422: (
            WitnessInconsistent,
            "the checkpoint is inconsistent with the one it last cosigned: a fork? (422)",
        ),
    }
    kind, message = kinds.get(
        status, (WitnessUnavailable, f"unexpected HTTP status {status}")
    )
    raise kind(witness.name, message + (f": {detail}" if detail else ""))


def _verified(witness: Witness, data: bytes, note: bytes) -> list[Cosignature]:
    try:
        cosigs = parse_cosignature_response(data)
    except WitnessRequestFormatError as exc:
        raise WitnessBadResponse(witness.name, f"malformed response: {exc}") from None
    text = split_checkpoint_note(note)[0]
    mine = [c for c in cosigs if witness.verifier.matches(c)]
    if not mine:
        raise WitnessBadResponse(
            witness.name, "the response holds no cosignature by its key"
        )
    for c in mine:
        if c.timestamp == 0:
            raise WitnessBadResponse(witness.name, "a cosignature has a zero timestamp")
        if not witness.verifier.verify(text, c):
            raise WitnessBadResponse(
                witness.name, "its cosignature does not verify: rejected"
            )
    return mine


def submit(
    witness: Witness,
    note: bytes,
    reader: HashReader,
    old_size: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
    connection: Connection | None = None,
) -> list[Cosignature]:
    """Submit the signed checkpoint ``note`` with a consistency proof from ``old_size``
    (built with ``prove_consistency`` over ``reader``, which must read the checkpoint's
    tree); after a 409, retry once from the witness's size when it is not above ours.
    Returns the verified cosignatures; raises ``WitnessError``."""
    size = split_checkpoint_note(note)[1].size
    old = min(old_size, size)
    conn = connection if connection is not None else Connection(witness.url, timeout)
    try:
        return _submit(witness, note, reader, size, old, conn)
    finally:
        if connection is None:
            conn.close()


def _submit(
    witness: Witness,
    note: bytes,
    reader: HashReader,
    size: int,
    old: int,
    conn: Connection,
) -> list[Cosignature]:
    for attempt in (1, 2):
        try:
            return add_checkpoint(
                witness,
                old,
                prove_consistency(size, old, reader),
                note,
                connection=conn,
            )
        except WitnessConflict as exc:
            if attempt == 2 or exc.size > size:
                if exc.size > size:
                    raise WitnessInconsistent(
                        witness.name,
                        f"it already cosigned size {exc.size}, larger than this checkpoint's {size}: a rollback?",
                    ) from None
                raise
            old = exc.size
    raise AssertionError("submit: unreachable")


@dataclass
class CosignResult:
    """What ``cosign`` got: ``cosignatures`` by witness name, ``failures`` (the
    ``WitnessError`` of each witness that did not cosign) and ``sizes``, the size each
    witness is now known to have cosigned (for the next call's ``known_sizes``)."""

    note: bytes
    cosignatures: dict[str, list[Cosignature]] = field(default_factory=dict)
    failures: dict[str, WitnessError] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)

    def all_cosignatures(self) -> list[Cosignature]:
        return [c for cs in self.cosignatures.values() for c in cs]

    def cosigned_note(self) -> bytes:
        """The checkpoint note with every cosignature obtained appended."""
        return append_cosignatures(self.note, self.all_cosignatures())


def cosign(
    note: bytes,
    witnesses: Sequence[Witness],
    reader: HashReader,
    known_sizes: Mapping[str, int] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    on_result: Callable[[str, WitnessError | None], None] | None = None,
    connections: Mapping[str, Connection] | None = None,
) -> CosignResult:
    """Submit the signed checkpoint ``note`` to every witness concurrently (``submit``;
    each with its own ``timeout`` per request) and gather the results. A witness that fails
    is reported in ``failures``, never raised: the caller decides with ``check_quorum``.
    ``note`` should be verified by the caller (the witnesses verify it too).
    ``connections`` (by witness name) are kept-alive ones to use; ``WitnessPool`` keeps them."""
    known = dict(known_sizes or {})
    result = CosignResult(note)
    if not witnesses:
        return result
    size = split_checkpoint_note(note)[1].size

    def one(w: Witness) -> tuple[Witness, list[Cosignature] | WitnessError]:
        try:
            conn = (connections or {}).get(w.name)
            return w, submit(w, note, reader, known.get(w.name, 0), timeout, conn)
        except WitnessError as exc:
            return w, exc

    with ThreadPoolExecutor(max_workers=min(16, len(witnesses))) as pool:
        for w, got in pool.map(one, witnesses):
            if isinstance(got, WitnessError):
                result.failures[w.name] = got
                if isinstance(got, WitnessConflict):
                    result.sizes[w.name] = got.size
            else:
                result.cosignatures[w.name] = got
                result.sizes[w.name] = size
            if on_result is not None:
                on_result(w.name, got if isinstance(got, WitnessError) else None)
    return result


class WitnessPool:
    """The witnesses of one log, as a sequencer uses them: ``cosign(note, reader)`` once per
    new checkpoint submits it to all of them, from the size each is known to have cosigned
    (``sizes``, updated by every call; start it from what was stored), over one kept-alive
    connection per witness. Not for concurrent calls. ``close()`` when done."""

    def __init__(
        self,
        witnesses: Sequence[Witness],
        timeout: float = DEFAULT_TIMEOUT,
        sizes: Mapping[str, int] | None = None,
    ) -> None:
        if len({w.name for w in witnesses}) != len(witnesses):
            raise ValueError("a witness is configured twice")
        self.witnesses = list(witnesses)
        self.timeout = timeout
        self.sizes: dict[str, int] = dict(sizes or {})
        self._connections = {w.name: Connection(w.url, timeout) for w in self.witnesses}

    def cosign(self, note: bytes, reader: HashReader) -> CosignResult:
        """``cosign`` over the pool's connections; remembers the sizes it learnt."""
        result = cosign(
            note,
            self.witnesses,
            reader,
            self.sizes,
            self.timeout,
            connections=self._connections,
        )
        self.sizes.update(result.sizes)
        return result

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()


def parse_witness(spec: str) -> Witness:
    """A ``Witness`` from ``VKEY=URL`` (the CLI's ``--witness``)."""
    vkey, sep, url = spec.partition("=")
    if not sep or not url.startswith(("http://", "https://")):
        raise WitnessRequestFormatError(
            f"a witness is VKEY=URL with an http(s) URL, not {spec!r}"
        )
    return Witness(CosignatureVerifier(vkey), url)
