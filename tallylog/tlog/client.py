"""The read side: open a log from a directory or an HTTP(S) base URL and verify it.

``LogClient.open(source, verifier)`` fetches ``checkpoint``, verifies its signature (C2SP
signed-note) and parses it (C2SP tlog-checkpoint). Every hash tile it then reads is
authenticated against the signed root before it is trusted (``TileHashReader``), and every
entry against the level-0 hashes. ``recompute_root`` is the full audit: it streams every
entry bundle once, in bounded memory, checks each stored hash tile against the hashes
recomputed from the entries, and compares the recomputed root with the signed one. It can
spread the work over worker processes (``workers=2`` uses both cores of a small machine):
``chunk_hashes`` is the unit of work, over disjoint ranges of 65,536 entries. ``search``
finds entries locally, reading the same files whichever entry is sought. Where the files
come from (a directory, HTTP with keep-alive and gzip, the size limits) is
``tallylog.tlog.source``; the audit against an earlier checkpoint is ``tallylog.tlog.audit``.

Errors name what failed: ``InvalidSignatureError``/``UnverifiedNoteError`` (bad signature),
``TileMismatchError`` (hash mismatch in tile L/N), ``MalformedFileError`` (malformed file at
PATH), ``SourceError`` (could not fetch).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from tallylog.tlog.checkpoint import Checkpoint, open_checkpoint
from tallylog.tlog.errors import (
    FormatError,
    MissingTileError,
    TileMismatchError,
    VerificationError,
)
from tallylog.tlog.hashes import (
    HASH_SIZE,
    check_consistency,
    check_inclusion,
    leaf_hashes,
    merkle_root,
    prove_consistency,
    prove_inclusion,
    stored_hash_index,
)
from tallylog.tlog.note import Verifier
from tallylog.tlog.source import (
    DirectorySource,
    HTTPSource,
    MalformedFileError,
    Source,
    SourceError,
    open_source,
)
from tallylog.tlog.storage import CHECKPOINT_PATH
from tallylog.tlog.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    Tile,
    TileHashReader,
    edge_root,
    parse_bundle,
    tile_path,
)

__all__ = [
    "CHUNK_HEIGHT",
    "BundleHook",
    "DirectorySource",
    "HTTPSource",
    "LogClient",
    "MalformedFileError",
    "Source",
    "SourceError",
    "chunk_hashes",
    "open_source",
]

CHUNK_HEIGHT = 2 * TILE_HEIGHT  # a unit of audit work: 65,536 entries
# Called by the full audit with each entry bundle's first index and entries; must be
# picklable (a module-level function) to run in worker processes.
BundleHook = Callable[[int, list[bytes]], Any]


def _need(source: Source, path: str) -> bytes:
    data = source.read(path)
    if data is None:
        raise MissingTileError(source.where(path))
    return data


def _read_bundle(source: Source, n: int, width: int) -> list[bytes]:
    path = tile_path(Tile(-1, n, width))
    try:
        return parse_bundle(_need(source, path), width)
    except MissingTileError:
        raise
    except FormatError as exc:
        raise MalformedFileError(source.where(path), str(exc)) from None


def _check_tile(source: Source, level: int, n: int, hashes: list[bytes]) -> None:
    """Compare the stored tile ``level``/``n`` with ``hashes`` recomputed from the entries."""
    path = tile_path(Tile(level, n, len(hashes)))
    data = _need(source, path)
    if data != b"".join(hashes):
        if len(data) != len(hashes) * HASH_SIZE:
            raise MalformedFileError(source.where(path), f"{len(data)} bytes, want {len(hashes) * HASH_SIZE}")
        first = next(i for i, h in enumerate(hashes) if data[i * HASH_SIZE : (i + 1) * HASH_SIZE] != h)
        raise TileMismatchError(level, n, source.where(path), f"hash {first} differs from the one recomputed from the entries")


def chunk_hashes(
    source: Source, size: int, k: int, on_bundle: BundleHook | None = None
) -> tuple[list[bytes], list[bytes], list[Any]]:
    """Audit entries [k·65536, (k+1)·65536) of the tree of ``size``: parse each entry
    bundle, check the level-0 and level-1 tiles against the recomputed hashes.

    Returns the chunk's level-8 hashes (one per full bundle), the leaf hashes of its
    trailing partial bundle (empty unless the chunk holds the tree's end), and what
    ``on_bundle(first index, entries)`` returned for each bundle, in order, called once the
    bundle's entries match its level-0 tile. Independent of other chunks, so callers may
    run chunks in worker processes.
    """
    start = k << CHUNK_HEIGHT
    end = min(size, start + (1 << CHUNK_HEIGHT))
    if not 0 <= start < end:
        raise ValueError(f"chunk {k} is outside the tree of size {size}")
    level8: list[bytes] = []
    tail: list[bytes] = []
    seen: list[Any] = []
    for b in range(start >> TILE_HEIGHT, (end + TILE_WIDTH - 1) >> TILE_HEIGHT):
        width = min(TILE_WIDTH, end - (b << TILE_HEIGHT))
        entries = _read_bundle(source, b, width)
        leaves = leaf_hashes(entries)
        _check_tile(source, 0, b, leaves)
        if on_bundle is not None:
            seen.append(on_bundle(b << TILE_HEIGHT, entries))
        if width == TILE_WIDTH:
            level8.append(merkle_root(leaves))
        else:
            tail = leaves
    if level8:
        _check_tile(source, 1, k, level8)
    return level8, tail, seen


def _chunk_job(job: tuple[Source, int, int, BundleHook | None]) -> tuple[list[bytes], list[bytes], list[Any]]:
    return chunk_hashes(*job)


class LogClient:
    """A verified view of one log at its current signed checkpoint."""

    def __init__(self, source: Source, verifier: Verifier, checkpoint: Checkpoint, note: bytes) -> None:
        self.source = source
        self.verifier = verifier
        self.checkpoint = checkpoint
        self.note = note
        self.reader = TileHashReader(checkpoint.size, checkpoint.root, source)

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root

    @classmethod
    def open(cls, source: str | os.PathLike[str] | Source, verifier: Verifier | str) -> LogClient:
        """Fetch the log's checkpoint, verify its signature with ``verifier`` (a ``Verifier``
        or verifier key string) and parse it (``checkpoint.open_checkpoint``). Raises
        ``VerificationError`` for a bad or missing signature, ``MalformedFileError`` for a
        malformed checkpoint, ``SourceError`` when it cannot be fetched (``missing file at``
        when there is none)."""
        src = open_source(source)
        data = src.read(CHECKPOINT_PATH)
        if data is None:
            raise SourceError(f"missing file at {src.where(CHECKPOINT_PATH)}")
        return cls.from_note(src, verifier, data, src.where(CHECKPOINT_PATH))

    @classmethod
    def from_note(cls, source: Source, verifier: Verifier | str, note: bytes, where: str) -> LogClient:
        """A client for the tree the signed checkpoint ``note`` names (read from ``where``,
        named in errors), its signature verified as ``open`` does."""
        v = Verifier(verifier) if isinstance(verifier, str) else verifier
        try:
            cp = open_checkpoint(note, v)
        except FormatError as exc:
            raise MalformedFileError(where, str(exc)) from None
        return cls(source, v, cp, note)

    def leaf_hash(self, index: int) -> bytes:
        """The authenticated leaf hash of entry ``index``."""
        self._check_index(index)
        return self.reader.read_hashes([stored_hash_index(0, index)])[0]

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of entry ``index`` in the signed tree, checked."""
        self._check_index(index)
        proof = prove_inclusion(self.size, index, self.reader)
        check_inclusion(proof, self.size, self.root, index, self.leaf_hash(index))
        return proof

    def consistency_proof(self, old_size: int, old_root: bytes | None = None) -> list[bytes]:
        """The RFC 9162 consistency proof from the tree of ``old_size`` to the signed tree;
        checked against ``old_root`` when given (``VerificationError``: a fork)."""
        if not 0 <= old_size <= self.size:
            raise ValueError(f"size {old_size} is not within the signed tree of size {self.size}")
        proof = prove_consistency(self.size, old_size, self.reader)
        if old_root is not None:
            check_consistency(proof, self.size, self.root, old_size, old_root)
        return proof

    def entries(self, start: int, end: int) -> list[bytes]:
        """Entries [start, end), each authenticated against its level-0 hash."""
        return [e for _, bundle in self.iter_entries(start, end) for e in bundle]

    def iter_entries(self, start: int, end: int) -> Iterator[tuple[int, list[bytes]]]:
        """Entries [start, end), bundle by bundle as ``(first index, entries)``, each entry
        authenticated against its level-0 hash (``TileMismatchError`` names the first that
        is not the one the signed tree holds)."""
        if not 0 <= start <= end <= self.size:
            raise ValueError(f"entries [{start}, {end}) are not within the signed tree of size {self.size}")
        for b in range(start >> TILE_HEIGHT, (end + TILE_WIDTH - 1) >> TILE_HEIGHT):
            width = min(TILE_WIDTH, self.size - (b << TILE_HEIGHT))
            bundle = _read_bundle(self.source, b, width)
            lo = max(start, b << TILE_HEIGHT)
            hi = min(end, (b << TILE_HEIGHT) + width)
            want = self.reader.read_hashes([stored_hash_index(0, i) for i in range(lo, hi)])
            got = bundle[lo - (b << TILE_HEIGHT) : hi - (b << TILE_HEIGHT)]
            for i, h, e in zip(range(lo, hi), want, leaf_hashes(got), strict=True):
                if e != h:
                    path = self.source.where(tile_path(Tile(-1, b, width)))
                    raise TileMismatchError(-1, b, path, f"entry {i} is not the one the signed tree holds")
            yield lo, got

    def search(
        self, start: int, end: int, match: Callable[[bytes], bool], progress: Callable[[int], None] | None = None
    ) -> list[tuple[int, bytes, list[bytes]]]:
        """The entries of [start, end) that ``match`` accepts, each with its checked
        inclusion proof: ``(index, entry, proof)``, in log order.

        Private: the search runs here, and the files read do not depend on which entries
        match. First every hash tile above level 0 that the inclusion proof of any entry
        in the range can need (the range's tiles and their neighbours at each level), then
        each entry bundle of the range and its level-0 tile, once, in order; the level-0
        tile of a match is kept, so its proof reads nothing more. A source learns the
        range, never the entry. Every entry is authenticated before ``match`` sees it, so
        no match means the signed tree holds none in the range. ``progress(n)`` after each
        bundle, with the entries it held.
        """
        if not 0 <= start <= end <= self.size:
            raise ValueError(f"entries [{start}, {end}) are not within the signed tree of size {self.size}")
        local = _PrefetchedSource(self.source, self.size, start, end)
        view = LogClient(local, self.verifier, self.checkpoint, self.note)
        found: list[tuple[int, bytes]] = []
        for first, entries in view.iter_entries(start, end):
            for i, e in enumerate(entries):
                if match(e):
                    found.append((first + i, e))
                    b = first >> TILE_HEIGHT
                    local.pin(tile_path(Tile(0, b, min(TILE_WIDTH, self.size - (b << TILE_HEIGHT)))))
            if progress is not None:
                progress(len(entries))
        return [(i, e, view.inclusion_proof(i)) for i, e in found]

    def iter_bundles(self, start: int = 0) -> Iterator[tuple[int, list[bytes]]]:
        """``(first index, entries)`` of each entry bundle from the one holding ``start``,
        NOT authenticated (``recompute_root`` or ``entries`` authenticate)."""
        for b in range(start >> TILE_HEIGHT, (self.size + TILE_WIDTH - 1) >> TILE_HEIGHT):
            width = min(TILE_WIDTH, self.size - (b << TILE_HEIGHT))
            yield b << TILE_HEIGHT, _read_bundle(self.source, b, width)

    def recompute_root(
        self,
        workers: int = 1,
        progress: Callable[[int], None] | None = None,
        on_bundle: BundleHook | None = None,
        on_result: Callable[[Any], None] | None = None,
    ) -> bytes:
        """The full audit: recompute the tree from every entry, check every stored hash
        tile on the way, and compare the root with the signed one. Streams the log once;
        memory is bounded by a few chunks. ``progress(n)`` is called with the number of
        entries done after each chunk. Raises ``TileMismatchError``/``MalformedFileError``
        naming the first bad file, ``VerificationError`` if the root differs.

        ``on_bundle(first index, entries)`` sees every entry bundle once its entries match
        their level-0 tile (so each is the entry the tree holds, once this returns without
        error), in whichever process audits its chunk (a worker when ``workers`` > 1: it
        must be picklable); ``on_result`` receives what it returned, in log order, in this
        process. A recount is one such pair: count each bundle, add up the counts."""
        size = self.size
        chunks = (size + (1 << CHUNK_HEIGHT) - 1) >> CHUNK_HEIGHT
        jobs = ((self.source, size, k, on_bundle) for k in range(chunks))
        level16: list[bytes] = []  # one hash per full chunk (complete 65,536-entry subtree)
        edge: list[list[bytes]] = [[], []]
        done = 0

        def take(k: int, result: tuple[list[bytes], list[bytes], list[Any]]) -> None:
            nonlocal done
            level8, tail, seen = result
            if len(level8) == TILE_WIDTH:
                level16.append(merkle_root(level8))
            else:
                edge[0], edge[1] = tail, level8
            if on_result is not None:
                for value in seen:
                    on_result(value)
            done = min(size, (k + 1) << CHUNK_HEIGHT)
            if progress is not None:
                progress(done)

        if workers > 1 and chunks > 1:
            with ProcessPoolExecutor(min(workers, chunks)) as pool:
                for k, result in enumerate(pool.map(_chunk_job, jobs, chunksize=1)):
                    take(k, result)
        else:
            for k, job in enumerate(jobs):
                take(k, _chunk_job(job))
        # Levels 2 and up: check their tiles and fold them, 256 at a time.
        level, hashes = 2, level16
        while hashes:
            for n in range((len(hashes) + TILE_WIDTH - 1) // TILE_WIDTH):
                _check_tile(self.source, level, n, hashes[n * TILE_WIDTH : (n + 1) * TILE_WIDTH])
            full = len(hashes) // TILE_WIDTH
            edge.append(hashes[full * TILE_WIDTH :])
            hashes = [merkle_root(hashes[n * TILE_WIDTH : (n + 1) * TILE_WIDTH]) for n in range(full)]
            level += 1
        root = edge_root(edge)
        if root != self.root:
            raise VerificationError(f"the tree recomputed from the entries does not have the signed root (size {size})")
        return root

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise ValueError(f"there is no entry {index}: the checkpoint signs {self.size} entries")


class _PrefetchedSource:
    """``LogClient.search``'s source: reads up front every hash tile above level 0 that an
    inclusion proof for an entry of [start, end) of the tree of ``size`` can need; keeps
    the last few hash tiles read since, and those ``pin``ned for good."""

    RECENT = 16

    def __init__(self, source: Source, size: int, start: int, end: int) -> None:
        self.inner = source
        self.cache: dict[str, bytes] = {}
        self.recent: dict[str, bytes] = {}
        level, width = 1, size >> TILE_HEIGHT  # width: hashes stored at this level
        while width:
            lo = max(0, (start >> (TILE_HEIGHT * (level + 1))) - 1)
            hi = ((max(end, 1) - 1) >> (TILE_HEIGHT * (level + 1))) + 1
            for t in range(lo, min(hi, (width - 1) >> TILE_HEIGHT) + 1):
                path = tile_path(Tile(level, t, min(TILE_WIDTH, width - (t << TILE_HEIGHT))))
                self.cache[path] = _need(source, path)
            level, width = level + 1, width >> TILE_HEIGHT

    def read(self, path: str) -> bytes | None:
        data = self.cache.get(path) or self.recent.get(path)
        if data is None:
            data = self.inner.read(path)
            if data is not None and len(data) <= TILE_WIDTH * HASH_SIZE and not path.startswith("tile/entries/"):
                if len(self.recent) >= self.RECENT:
                    self.recent.pop(next(iter(self.recent)))
                self.recent[path] = data
        return data

    def where(self, path: str) -> str:
        return self.inner.where(path)

    def pin(self, path: str) -> None:
        """Keep the tile at ``path``, read earlier, for later reads."""
        data = self.read(path)
        if data is not None:
            self.cache[path] = data
