"""The log writer: appends entries as C2SP tlog-tiles and publishes signed checkpoints.

The sequencer's commit protocol (ARCHITECTURE.md) drives it in two steps:

- ``stage(entries)`` (step 3) writes the entry bundles and hash tiles of the new size. It
  touches O(log n) tiles per batch and keeps only the right edge of the tree in memory: the
  partial entry bundle and, at each level, the hashes of the partial tile.
- ``publish()`` (step 5) signs a checkpoint for the staged size and atomically replaces
  ``checkpoint``. It never goes backwards and never forks.

Crash safety comes from the tile layout: a partial tile's path names its width
(``.p/<W>``) and full tiles below the committed size are never rewritten, so staging
beyond the committed size never touches a file the committed tree needs. After a crash,
``Appender.open`` at the committed state reads the edge tiles of that size, recomputes the
root and compares it with what the caller committed; staging again overwrites whatever a
crashed stage left beyond it.

If any store write fails, this ``Appender`` refuses further use (``AppenderBrokenError``):
its in-memory edge may be ahead of the store. Reopen it from the committed state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tallylog.tlog.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from tallylog.tlog.errors import FormatError, LogInconsistentError, VerificationError
from tallylog.tlog.hashes import HASH_SIZE, leaf_hashes, merkle_root, tree_hash
from tallylog.tlog.note import Signer
from tallylog.tlog.storage import CHECKPOINT_PATH, TileStore
from tallylog.tlog.tiles import (
    MAX_ENTRY_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    Tile,
    TileHashReader,
    edge_root,
    edge_tiles,
    format_bundle,
    new_tiles,
    parse_bundle,
    tile_path,
)

__all__ = ["Appender", "AppenderBrokenError", "TreeHead"]

_FLUSH_FILES = 512  # write staged files in groups of this many (bounded memory)


class AppenderBrokenError(RuntimeError):
    """A store write failed earlier: this Appender must not be used; reopen it."""


@dataclass(frozen=True)
class TreeHead:
    """A tree size and its RFC 6962 root hash."""

    size: int
    root: bytes


class Appender:
    """The single writer of a log in a ``TileStore``; see the module docstring.

    Build it with ``Appender.open``. ``size`` and ``root`` are the staged tree head.
    """

    def __init__(
        self,
        store: TileStore,
        signer: Signer,
        origin: str,
        size: int,
        edge: list[list[bytes]],
        bundle: list[bytes],
    ) -> None:
        self.store = store
        self.signer = signer
        self.origin = origin
        self._size = size
        self._edge = edge
        self._bundle = bundle
        self._root = edge_root(edge)
        self._published: TreeHead | None = None  # the last checkpoint known to be a prefix
        self._broken = False

    @property
    def size(self) -> int:
        """The staged tree size."""
        return self._size

    @property
    def root(self) -> bytes:
        """The staged tree's RFC 6962 root hash."""
        return self._root

    @property
    def head(self) -> TreeHead:
        return TreeHead(self._size, self._root)

    @classmethod
    def open(
        cls,
        store: TileStore,
        signer: Signer,
        origin: str,
        committed_size: int | None = None,
        committed_root: bytes | None = None,
    ) -> Appender:
        """Open the log in ``store`` at the committed state.

        ``committed_size`` defaults to the published checkpoint's size (0 if none), and
        ``committed_root`` to its root. Reads only the right-edge tiles of that size,
        recomputes the root and compares it with ``committed_root`` and with the published
        checkpoint. Raises ``LogInconsistentError`` (naming what disagrees) when a tile is
        missing or malformed, a root differs, the checkpoint is not signed by ``signer``'s
        key or names another origin, or it is larger than ``committed_size``.
        """
        if committed_size is None and committed_root is not None:
            raise ValueError("committed_root needs committed_size")
        if signer.name != origin:
            raise ValueError(f"the signing key is named {signer.name!r}, not the origin {origin!r}")
        published = _read_published(store, signer, origin)
        if committed_size is None:
            committed_size = published.size if published else 0
            committed_root = published.root if published else None
        if committed_size < 0:
            raise ValueError("committed_size must not be negative")
        if committed_root is not None and len(committed_root) != HASH_SIZE:
            raise ValueError(f"committed_root must be {HASH_SIZE} bytes")
        if published is not None and published.size > committed_size:
            raise LogInconsistentError(
                f"the published checkpoint (size {published.size}) is ahead of the committed size {committed_size}"
            )
        size = committed_size
        levels = 0
        while size >> (TILE_HEIGHT * levels) > 0:
            levels += 1
        edge: list[list[bytes]] = [[] for _ in range(levels)]
        for t in edge_tiles(size):
            data = _read_tile(store, t)
            if len(data) != t.width * HASH_SIZE:
                raise LogInconsistentError(f"malformed file at {tile_path(t)}: {len(data)} bytes, want {t.width * HASH_SIZE}")
            edge[t.level] = [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
        bundle: list[bytes] = []
        if size % TILE_WIDTH:
            t = Tile(-1, size >> TILE_HEIGHT, size % TILE_WIDTH)
            try:
                bundle = parse_bundle(_read_tile(store, t), t.width)
            except FormatError as exc:
                raise LogInconsistentError(f"malformed file at {tile_path(t)}: {exc}") from None
            if leaf_hashes(bundle) != edge[0]:
                raise LogInconsistentError(f"the entries in {tile_path(t)} do not hash to tile {tile_path(Tile(0, t.n, t.width))}")
        app = cls(store, signer, origin, size, edge, bundle)
        if committed_root is not None and app.root != committed_root:
            raise LogInconsistentError(
                f"the stored tiles of size {size} hash to a root other than the committed one"
            )
        if published is not None:
            app._check_extends(published)
        return app

    def stage(self, entries: Sequence[bytes]) -> TreeHead:
        """Write the entry bundles and hash tiles of the tree with ``entries`` appended
        (commit protocol step 3), durably; do not publish. Returns the new tree head.

        Each entry is at most 65,535 bytes (``FormatError`` before anything is written).
        Touches the tiles that change (O(log n) plus the new full tiles).
        """
        self._check_usable()
        for e in entries:
            if type(e) is not bytes:
                raise FormatError(f"an entry must be bytes, not {type(e).__name__}")
            if len(e) > MAX_ENTRY_SIZE:
                raise FormatError(f"an entry is at most {MAX_ENTRY_SIZE} bytes, not {len(e)}")
        if not entries:
            return self.head
        old = self._size
        edge, bundle = self._edge, self._bundle
        if not edge:
            edge.append([])
        writes: list[tuple[str, bytes]] = []
        size = old
        i, n = 0, len(entries)
        try:
            while i < n:
                chunk = entries[i : i + TILE_WIDTH - len(bundle)]
                bundle.extend(chunk)
                edge[0].extend(leaf_hashes(chunk))
                i += len(chunk)
                size += len(chunk)
                if len(bundle) < TILE_WIDTH:
                    break
                # A full bundle and level-0 tile: immutable from now on.
                index = (size >> TILE_HEIGHT) - 1
                writes.append((tile_path(Tile(-1, index)), format_bundle(bundle)))
                writes.append((tile_path(Tile(0, index)), b"".join(edge[0])))
                h = merkle_root(edge[0])
                bundle.clear()
                edge[0] = []
                level = 1
                while True:
                    if len(edge) <= level:
                        edge.append([])
                    edge[level].append(h)
                    if len(edge[level]) < TILE_WIDTH:
                        break
                    writes.append((tile_path(Tile(level, (size >> (TILE_HEIGHT * (level + 1))) - 1)), b"".join(edge[level])))
                    h = merkle_root(edge[level])
                    edge[level] = []
                    level += 1
                if len(writes) >= _FLUSH_FILES:
                    self._write(writes)
                    writes = []
            # The partial tiles of the new size that differ from the old size's.
            for t in new_tiles(old, size):
                if t.is_full:
                    continue
                if len(edge[t.level]) != t.width:
                    raise AssertionError("Appender.stage: edge and tile widths disagree")
                writes.append((tile_path(t), b"".join(edge[t.level])))
                if t.level == 0:
                    writes.append((tile_path(Tile(-1, t.n, t.width)), format_bundle(bundle)))
            self._write(writes)
        except BaseException:
            self._broken = True
            raise
        self._size = size
        self._root = edge_root(edge)
        return self.head

    def publish(self, extensions: Sequence[str] = ()) -> bytes:
        """Sign a checkpoint (C2SP tlog-checkpoint in a signed note) for ``size``/``root``
        and atomically replace ``checkpoint`` (commit protocol step 5). Returns the note.

        Refuses (``LogInconsistentError``) to go backwards (a larger checkpoint is
        published) or to fork (the published checkpoint is not a prefix of this tree).
        """
        self._check_usable()
        published = _read_published(self.store, self.signer, self.origin)
        if published is not None:
            self._check_extends(published)
        note = sign_checkpoint(Checkpoint(self.origin, self._size, self._root, tuple(extensions)), self.signer)
        try:
            self.store.write(CHECKPOINT_PATH, note)
        except BaseException:
            self._broken = True
            raise
        self._published = self.head
        return note

    def append(self, entries: Sequence[bytes]) -> bytes:
        """``stage(entries)`` then ``publish()``: the signed checkpoint note (for the CLI)."""
        self.stage(entries)
        return self.publish()

    def _check_extends(self, published: TreeHead) -> None:
        """Raise ``LogInconsistentError`` unless ``published`` is a prefix of this tree
        (checked against the stored tiles once per distinct checkpoint)."""
        if published == self.head or published == self._published:
            self._published = published
            return
        if published.size > self._size:
            raise LogInconsistentError(
                f"the published checkpoint (size {published.size}) is ahead of this tree (size {self._size})"
            )
        if published.size == self._size:
            raise LogInconsistentError(f"the published checkpoint of size {published.size} has another root: a fork")
        reader = TileHashReader(self._size, self._root, self.store)
        try:
            root = tree_hash(published.size, reader)
        except (FormatError, VerificationError) as exc:
            raise LogInconsistentError(f"couldn't check the published checkpoint against the tiles: {exc}") from None
        if root != published.root:
            raise LogInconsistentError(
                f"the published checkpoint (size {published.size}) is not a prefix of the tree of size {self._size}: a fork"
            )
        self._published = published

    def _write(self, writes: list[tuple[str, bytes]]) -> None:
        if writes:
            self.store.write_many(writes)

    def _check_usable(self) -> None:
        if self._broken:
            raise AppenderBrokenError("a store write failed: reopen the Appender from the committed state")


def _read_tile(store: TileStore, t: Tile) -> bytes:
    data = store.read(tile_path(t))
    if data is None:
        raise LogInconsistentError(f"missing file at {tile_path(t)}")
    return data


def _read_published(store: TileStore, signer: Signer, origin: str) -> TreeHead | None:
    """The published checkpoint's tree head, checked to be ours; None if there is none."""
    data = store.read(CHECKPOINT_PATH)
    if data is None:
        return None
    try:
        cp = open_checkpoint(data, signer.verifier)
    except (ValueError, VerificationError) as exc:
        raise LogInconsistentError(f"the published checkpoint does not open with the log's key: {exc}") from None
    if cp.origin != origin:
        raise LogInconsistentError(f"the published checkpoint is for {cp.origin!r}, not {origin!r}")
    return TreeHead(cp.size, cp.root)
