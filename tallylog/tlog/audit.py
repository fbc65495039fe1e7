"""The auditor: the full audit of a log, and the check that it is consistent with the
checkpoint the auditor verified last time (kept in a state file).

``audit(client, state=PATH)`` reads the state file (``read_state``), refuses a rollback or
a fork at once, recomputes the whole tree from the entries (``LogClient.recompute_root``),
proves that the signed tree extends the earlier one (RFC 9162 §2.1.4 consistency proof),
and only then replaces the state file (``write_state``) with the new checkpoint note.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tallylog.tlog.checkpoint import MAX_CHECKPOINT_SIZE, Checkpoint, open_checkpoint
from tallylog.tlog.client import CHUNK_HEIGHT, BundleHook, LogClient
from tallylog.tlog.errors import FormatError, VerificationError
from tallylog.tlog.note import InvalidSignatureError, UnverifiedNoteError, Verifier
from tallylog.tlog.source import MalformedFileError, SourceError
from tallylog.tlog.storage import FileStore
from tallylog.tlog.tiles import TILE_HEIGHT, TILE_WIDTH

__all__ = ["AuditResult", "audit", "audited_files", "check_not_behind", "read_state", "write_state"]


@dataclass(frozen=True)
class AuditResult:
    """What ``audit`` verified: the signed tree, how many files it checked, and the size
    of the checkpoint verified before (None without a state file or on its first run)."""

    checkpoint: Checkpoint
    files: int
    previous: int | None


def audit(
    client: LogClient,
    *,
    state: str | None = None,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    on_bundle: BundleHook | None = None,
    on_result: Callable[[Any], None] | None = None,
) -> AuditResult:
    """The full audit of the tree ``client`` opened; with ``state``, also against the
    checkpoint verified last time, which it then replaces. In order:

    1. the state file's checkpoint (``read_state``) is not larger (a rollback) nor another
       tree of the same size (a fork) (``check_not_behind``);
    2. every entry bundle rehashed (RFC 6962 §2.1), every hash tile at every level compared
       with the recomputation, the tree hash compared with the signed root
       (``LogClient.recompute_root``, with ``workers``, ``progress``, ``on_bundle`` and
       ``on_result`` as it takes them);
    3. the RFC 9162 §2.1.4 consistency proof from the earlier tree, from the (now checked)
       tiles, against both signed roots;
    4. the state file atomically and durably replaced by the new checkpoint note.

    A failure raises before step 4, so the state file keeps the last good checkpoint:
    ``VerificationError`` (rollback, fork, a mismatch), ``FormatError``, ``SourceError``.
    """
    previous = read_state(state, client.verifier) if state else None
    if previous is not None:
        check_not_behind(client.checkpoint, previous, state or "")
    chunks = (client.size + (1 << CHUNK_HEIGHT) - 1) >> CHUNK_HEIGHT
    client.recompute_root(
        workers=max(1, min(workers, chunks)), progress=progress, on_bundle=on_bundle, on_result=on_result
    )
    if previous is not None and previous.size < client.size:
        try:
            client.consistency_proof(previous.size, previous.root)
        except VerificationError:
            raise VerificationError(
                f"fork: the log at size {client.size} is not consistent with the checkpoint of size "
                f"{previous.size} verified before (root {_b64(previous.root)})"
            ) from None
    if state:
        write_state(state, client.note)
    return AuditResult(client.checkpoint, audited_files(client.size), previous.size if previous else None)


def check_not_behind(current: Checkpoint, previous: Checkpoint, where: str) -> None:
    """``VerificationError`` when ``current`` is smaller than ``previous`` (a rollback) or
    another tree of the same size (a fork); ``where`` names the earlier checkpoint's file."""
    if previous.size > current.size:
        raise VerificationError(
            f"size went backwards: the log now signs {current.size} entries, but {previous.size} "
            f"were verified before (rollback; the earlier checkpoint is in {where})"
        )
    if previous.size == current.size and previous.root != current.root:
        raise VerificationError(
            f"fork: the log signs two different trees of size {current.size} (root "
            f"{_b64(current.root)} now, {_b64(previous.root)} before, in {where})"
        )


def read_state(path: str, verifier: Verifier) -> Checkpoint | None:
    """The checkpoint in the state file at ``path``, its signature verified; None when
    there is no such file yet (the first audit). Inverse of ``write_state``.

    ``SourceError`` when it cannot be read, ``MalformedFileError`` when malformed,
    ``VerificationError`` (naming the file) when its signature does not verify."""
    where = f"{path} (the state file)"
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CHECKPOINT_SIZE + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SourceError(f"couldn't read the state file {path}: {exc.strerror}") from None
    try:
        return open_checkpoint(data, verifier)
    except FormatError as exc:
        raise MalformedFileError(where, str(exc)) from None
    except (InvalidSignatureError, UnverifiedNoteError) as exc:
        raise VerificationError(f"bad signature on the checkpoint at {where}: {exc}") from None


def write_state(path: str, note: bytes) -> None:
    """Replace the state file at ``path`` with the checkpoint ``note``, atomically and
    durably (a one-file ``FileStore``: the store's contract). Inverse of ``read_state``."""
    directory, name = os.path.split(os.path.abspath(path))
    try:
        FileStore(directory).write(name, note)
    except OSError as exc:
        raise SourceError(f"couldn't write the state file {path}: {exc.strerror or exc}") from None


def audited_files(size: int) -> int:
    """How many files the full audit of a tree of ``size`` checks: every entry bundle and
    every hash tile at every level (C2SP tlog-tiles)."""
    total, hashes = 0, size
    while hashes:  # the stored hashes at level 0, 1, …: size >> 8·level
        total += (hashes + TILE_WIDTH - 1) >> TILE_HEIGHT
        hashes >>= TILE_HEIGHT
    return total + ((size + TILE_WIDTH - 1) >> TILE_HEIGHT)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
