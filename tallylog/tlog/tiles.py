"""C2SP tlog-tiles: hash tiles, entry bundles, their paths, and a hash reader over tiles.

A hash tile at level L holds up to 256 consecutive stored hashes of tree level 8·L (tile
height 8 is fixed): tile L/N covers hashes N·256 … N·256+W-1 of that level. A tile of width
W < 256 is a *partial* tile, served at ``<path>.p/<W>``; full tiles are immutable. An
entry bundle holds the entries whose leaf hashes form level-0 tile N; this module models it
as a ``Tile`` with ``level == -1`` (as Go's ``tlog.Tile`` does with ``L == -1``) so the same
path, width and partial-tile rules apply to both.

Modelled on Go's golang.org/x/mod/sumdb/tlog (tile.go); paths follow C2SP tlog-tiles,
which drops Go's ``/8/`` height element.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tallylog.tlog.errors import (
    FormatError,
    MissingTileError,
    TileMismatchError,
    VerificationError,
)
from tallylog.tlog.hashes import (
    EMPTY_ROOT,
    HASH_SIZE,
    merkle_root,
    node_hash,
    node_hashes,
    split_stored_hash_index,
    stored_hash_index,
    subtree_index,
)

__all__ = [
    "ENTRIES_LEVEL",
    "MAX_ENTRY_SIZE",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "Tile",
    "TileHashReader",
    "TilePathError",
    "TileReader",
    "VerificationError",
    "as_tile_reader",
    "bundle_tile",
    "edge_root",
    "edge_tiles",
    "format_bundle",
    "hash_from_tile",
    "new_tiles",
    "parse_bundle",
    "parse_tile_path",
    "tile_for_index",
    "tile_hash",
    "tile_path",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
ENTRIES_LEVEL = -1
MAX_ENTRY_SIZE = 0xFFFF
MAX_LEVEL = 63
MAX_N = (1 << 63) - 1


class TilePathError(FormatError):
    """A tile path that is not in the C2SP tlog-tiles canonical form."""


@dataclass(frozen=True, order=True)
class Tile:
    """A C2SP tlog-tiles tile: ``level`` ≥ 0 for hash tiles, ``ENTRIES_LEVEL`` (-1) for an
    entry bundle; ``n`` its index at that level; ``width`` 1…256 (256 = full)."""

    level: int
    n: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not ENTRIES_LEVEL <= self.level <= MAX_LEVEL:
            raise FormatError(f"tile level {self.level} out of range")
        if not 0 <= self.n <= MAX_N:
            raise FormatError(f"tile index {self.n} out of range")
        if not 1 <= self.width <= TILE_WIDTH:
            raise FormatError(f"tile width {self.width} out of range 1..{TILE_WIDTH}")

    @property
    def is_bundle(self) -> bool:
        """True for an entry bundle (``tile/entries/…``)."""
        return self.level == ENTRIES_LEVEL

    @property
    def is_full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        return tile_path(self)


def tile_path(tile: Tile) -> str:
    """The C2SP tlog-tiles path of ``tile``: ``tile/<L>/<N>`` or ``tile/entries/<N>``, with N in
    3-digit groups, all but the last prefixed ``x`` (``x001/x234/067``), and ``.p/<W>`` for a
    partial tile. Inverse of ``parse_tile_path``.
    """
    n = tile.n
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n > 0:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    path = "tile/" + ("entries" if tile.is_bundle else str(tile.level)) + "/" + "/".join(reversed(groups))
    if not tile.is_full:
        path += f".p/{tile.width}"
    return path


_PATH = re.compile(r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*)([0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?")


def parse_tile_path(path: str) -> Tile:
    """The ``Tile`` named by a C2SP tlog-tiles path; strict: rejects leading zeros in the
    level or width, ``x`` in the last group, a leading ``x000`` group, width 0 or ≥ 256, and
    anything else ``tile_path`` would not produce. Inverse of ``tile_path``.
    """
    m = _PATH.fullmatch(path)
    if m is None:
        raise TilePathError(f"malformed tile path {path!r}")
    level_s, xgroups, last, width_s = m.groups()
    groups = [g[1:] for g in xgroups.split("/") if g] + [last]
    if len(groups) > 1 and groups[0] == "000":
        raise TilePathError(f"malformed tile path {path!r}: leading zero group")
    n = int("".join(groups))
    width = int(width_s) if width_s else TILE_WIDTH
    if width >= TILE_WIDTH and width_s:
        raise TilePathError(f"malformed tile path {path!r}: partial width must be 1..255")
    level = ENTRIES_LEVEL if level_s == "entries" else int(level_s)
    try:
        tile = Tile(level, n, width)
    except FormatError as exc:
        raise TilePathError(f"malformed tile path {path!r}: {exc}") from None
    if tile_path(tile) != path:
        raise TilePathError(f"malformed tile path {path!r}: not canonical")
    return tile


def bundle_tile(tile: Tile) -> Tile:
    """The entry bundle holding the entries of level-0 tile ``tile`` (same index and width)."""
    if tile.level != 0:
        raise FormatError(f"only level-0 tiles have entry bundles, not level {tile.level}")
    return Tile(ENTRIES_LEVEL, tile.n, tile.width)


def new_tiles(old_size: int, new_size: int) -> list[Tile]:
    """The hash tiles a tree of ``new_size`` needs that a tree of ``old_size`` did not have
    (in their new widths), level by level (Go's ``tlog.NewTiles``). With ``old_size`` 0: all
    the hash tiles of the tree. Add ``bundle_tile`` of the level-0 ones for the bundles.
    """
    if not 0 <= old_size <= new_size:
        raise FormatError(f"new_tiles: sizes {old_size} to {new_size}")
    tiles: list[Tile] = []
    level = 0
    while new_size >> (TILE_HEIGHT * level) > 0:
        old_n = old_size >> (TILE_HEIGHT * level)
        new_n = new_size >> (TILE_HEIGHT * level)
        if old_n != new_n:
            for n in range(old_n >> TILE_HEIGHT, new_n >> TILE_HEIGHT):
                tiles.append(Tile(level, n, TILE_WIDTH))
            n = new_n >> TILE_HEIGHT
            w = new_n - (n << TILE_HEIGHT)
            if w > 0:
                tiles.append(Tile(level, n, w))
        level += 1
    return tiles


def edge_tiles(size: int) -> list[Tile]:
    """The partial (right-edge) hash tiles of a tree of ``size``, lowest level first: the
    only tiles needed to compute its tree hash and to keep appending to it."""
    tiles = []
    level = 0
    while size >> (TILE_HEIGHT * level) > 0:
        width = (size >> (TILE_HEIGHT * level)) % TILE_WIDTH
        if width:
            tiles.append(Tile(level, (size >> (TILE_HEIGHT * (level + 1))), width))
        level += 1
    return tiles


def edge_root(edge: Sequence[Sequence[bytes]]) -> bytes:
    """The RFC 6962 §2.1 tree hash from a tree's right edge: ``edge[L]`` holds the hashes of
    its partial tile at level L (``edge_tiles``; empty at a level whose tiles are all full).
    The complete subtrees, largest first, are the power-of-two runs of each level's hashes,
    top level first (RFC 6962 §2.1 splits at the largest power of 2); ``EMPTY_ROOT`` for
    the empty tree."""
    subtrees: list[bytes] = []
    for hashes in reversed(edge):
        start = 0
        for bit in range(TILE_HEIGHT - 1, -1, -1):
            if len(hashes) >> bit & 1:
                subtrees.append(merkle_root(hashes[start : start + (1 << bit)]))
                start += 1 << bit
    if not subtrees:
        return EMPTY_ROOT
    root = subtrees[-1]
    for left in reversed(subtrees[:-1]):
        root = node_hash(left, root)
    return root


def tile_for_index(index: int) -> tuple[Tile, int, int]:
    """The smallest tile holding stored hash ``index`` (directly, or as the hash of a run of
    its hashes), and the byte range [start, end) of the tile data that hashes to it (Go's
    ``tlog.tileForIndex``)."""
    level, n = split_stored_hash_index(index)
    tl = level // TILE_HEIGHT
    level -= tl * TILE_HEIGHT  # level within the tile
    tn = (n << level) >> TILE_HEIGHT
    n -= (tn << TILE_HEIGHT) >> level  # n within the tile, at that level
    tile = Tile(tl, tn, (n + 1) << level)
    return tile, (n << level) * HASH_SIZE, ((n + 1) << level) * HASH_SIZE


def tile_hash(data: bytes) -> bytes:
    """RFC 6962 §2.1 hash of the complete subtree whose level hashes are ``data`` (a
    power-of-two number of 32-byte hashes)."""
    if len(data) % HASH_SIZE:
        raise AssertionError("tile_hash: not a power-of-two run of hashes")
    return merkle_root([data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)])


def hash_from_tile(tile: Tile, data: bytes, index: int) -> bytes:
    """Stored hash ``index`` computed from ``tile``'s ``data`` (Go's ``tlog.HashFromTile``)."""
    if tile.is_bundle:
        raise FormatError("entry bundles hold entries, not hashes")
    if len(data) < tile.width * HASH_SIZE:
        raise FormatError(f"tile {tile.level}/{tile.n} data too short")
    t1, start, end = tile_for_index(index)
    if t1.level != tile.level or t1.n != tile.n or tile.width < t1.width:
        raise FormatError(f"stored hash {index} is not in tile {tile.level}/{tile.n} of width {tile.width}")
    return tile_hash(data[start:end])


class _TileTree:
    """All complete-subtree hashes of one tile's data, computed once: ``levels[k][p]`` is
    the hash over hashes [p·2**k, (p+1)·2**k) of the tile (RFC 6962 §2.1)."""

    __slots__ = ("levels",)

    def __init__(self, data: bytes) -> None:
        level = [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
        self.levels = [level]
        while len(level) > 1:
            level = node_hashes(level)
            self.levels.append(level)

    def hash(self, index: int) -> bytes:
        """Stored hash ``index`` (which must lie in this tile; see ``hash_from_tile``)."""
        _, start, end = tile_for_index(index)
        count = (end - start) // HASH_SIZE
        k = count.bit_length() - 1
        return self.levels[k][start // HASH_SIZE >> k]

    def root(self) -> bytes:
        """The hash of the whole (full) tile."""
        return self.levels[-1][0]


def _parent(tile: Tile, k: int, size: int) -> Tile | None:
    """``tile``'s k-th parent among the tiles of a tree of ``size`` (Go's ``tileParent``)."""
    level = tile.level + k
    n = tile.n >> (k * TILE_HEIGHT)
    width = TILE_WIDTH
    top = size >> (level * TILE_HEIGHT)
    if (n << TILE_HEIGHT) + width >= top:
        if (n << TILE_HEIGHT) >= top:
            return None
        width = top - (n << TILE_HEIGHT)
    return Tile(level, n, width)


class TileReader(Protocol):
    """Reads tiles: ``read_tiles`` returns each tile's bytes, in order, all at once.

    For a hash tile: ``width × 32`` bytes; for an entry bundle: the bundle. Raises
    ``MissingTileError`` for an absent tile and ``OSError`` when it cannot read.
    """

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]: ...


class _StoreTiles:
    """A ``TileReader`` over anything with ``read(path) -> bytes | None`` (a ``TileStore``
    or a ``tallylog.tlog.source.Source``); a missing tile is ``MissingTileError`` naming
    its path, or where it is when the reader has ``where(path)`` (a ``Source``)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.where = getattr(store, "where", None)

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        out = []
        for t in tiles:
            path = tile_path(t)
            data = self.store.read(path)
            if data is None:
                raise MissingTileError(self.where(path) if self.where else path)
            out.append(data)
        return out


class _OneTile:
    """A ``TileReader`` over anything with ``read_tile(tile) -> bytes``."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        return [self.source.read_tile(t) for t in tiles]


def as_tile_reader(source: Any) -> TileReader:
    """``source`` as a ``TileReader``: itself if it has ``read_tiles``; else adapted from
    ``read_tile(tile)`` or from a ``TileStore``'s ``read(path)``."""
    if hasattr(source, "read_tiles"):
        return source  # type: ignore[no-any-return]
    if hasattr(source, "read_tile"):
        return _OneTile(source)
    if hasattr(source, "read"):
        return _StoreTiles(source)
    raise TypeError(f"{type(source).__name__} cannot read tiles")


class TileHashReader:
    """A ``HashReader`` over the tiles of the tree of ``tree_size`` with root hash ``root``
    (Go's ``tlog.TileHashReader``): every tile it reads is authenticated against ``root``
    before any hash from it is trusted — the tiles needed for the tree hash first, then each
    full tile against its parent. Authenticated tiles are kept (at most ``cache_tiles``) so
    later reads skip both the fetch and the check.

    ``tile_reader`` is a ``TileReader`` or anything ``as_tile_reader`` adapts (a ``TileStore``).
    Raises ``TileMismatchError`` (a ``VerificationError``) naming the tile that does not
    match. Called as ``TileHashReader(tree_size, tile_reader)`` (no root), it authenticates the
    tiles only against each other, not against a signed root: use that form only when the
    result is then checked against a signed root anyway (a proof passed to ``check_*``).
    """

    def __init__(self, tree_size: int, root: Any, tile_reader: Any = None, *, cache_tiles: int = 4096) -> None:
        if tile_reader is None and not isinstance(root, bytes | None):
            root, tile_reader = None, root
        if tile_reader is None:
            raise TypeError("TileHashReader needs a tile reader")
        if tree_size < 0 or (root is not None and len(root) != HASH_SIZE):
            raise FormatError("TileHashReader: bad tree size or root hash")
        self.tree_size = tree_size
        self.root: bytes | None = root
        self.reader = as_tile_reader(tile_reader)
        self._cache: dict[Tile, bytes] = {}
        self._cache_tiles = cache_tiles

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """The stored hashes at ``indexes``, each from an authenticated tile."""
        size = self.tree_size
        order: dict[Tile, int] = {}
        tiles: list[Tile] = []

        def plan(tile: Tile) -> int:
            if tile not in order:
                order[tile] = len(tiles)
                tiles.append(tile)
            return order[tile]

        # Plan the tiles that recompute the tree hash: if it matches, they are authentic.
        stx = subtree_index(0, size, []) if size else []
        stx_order = []
        for x in stx:
            t = _parent(tile_for_index(x)[0], 0, size)
            assert t is not None, "TileHashReader: bad math"
            stx_order.append(plan(t))
        num_stx_tiles = len(tiles)
        # Plan the tiles holding the indexes, with the parents that authenticate them.
        index_order = []
        limit = stored_hash_index(0, size)
        for x in indexes:
            if not 0 <= x < limit:
                raise FormatError(f"stored hash {x} is not in the tree of size {size}")
            t0 = tile_for_index(x)[0]
            k = 0
            while True:
                p = _parent(t0, k, size)
                if p is not None and p in order:
                    break
                k += 1
            chain = [p for p in (_parent(t0, j, size) for j in range(k - 1, -1, -1))]
            for p in chain:
                if p is None or not p.is_full:
                    raise AssertionError(f"TileHashReader: bad math at size {size}, index {x}")
                plan(p)
            t = _parent(t0, 0, size)
            assert t is not None
            index_order.append(order[t])

        want = [t for t in tiles if t not in self._cache]
        fetched = dict(zip(want, self.reader.read_tiles(want), strict=True)) if want else {}
        data = [self._cache.get(t) or fetched[t] for t in tiles]
        for t, d in zip(tiles, data, strict=True):
            if len(d) != t.width * HASH_SIZE:
                raise TileMismatchError(t.level, t.n, tile_path(t), f"{len(d)} bytes, want {t.width * HASH_SIZE}")

        trees: dict[int, _TileTree] = {}

        def from_tile(j: int, x: int) -> bytes:
            t1 = tile_for_index(x)[0]
            t = tiles[j]
            if t1.level != t.level or t1.n != t.n or t.width < t1.width:
                raise AssertionError(f"TileHashReader: stored hash {x} is not in tile {t.level}/{t.n}")
            if j not in trees:
                trees[j] = _TileTree(data[j])
            return trees[j].hash(x)

        # Authenticate the tree-hash tiles against the root (unless all were authenticated before).
        if stx and any(t in fetched for t in tiles[:num_stx_tiles]):
            j = stx_order[-1]
            th = from_tile(j, stx[-1])
            for i in range(len(stx) - 2, -1, -1):
                th = node_hash(from_tile(stx_order[i], stx[i]), th)
            if self.root is not None and th != self.root:
                bad = next((t for t in tiles[:num_stx_tiles] if t in fetched), tiles[0])
                raise TileMismatchError(bad.level, bad.n, tile_path(bad), "the tiles do not hash to the signed root")
        # Authenticate each other tile against its parent (parents come first).
        for i in range(num_stx_tiles, len(tiles)):
            t = tiles[i]
            if t not in fetched:
                continue
            p = _parent(t, 1, size)
            if p is None or p not in order:
                raise AssertionError(f"TileHashReader: lost the parent of tile {t.level}/{t.n}")
            j = order[p]
            if i not in trees:
                trees[i] = _TileTree(data[i])
            if from_tile(j, stored_hash_index(p.level * TILE_HEIGHT, t.n)) != trees[i].root():
                raise TileMismatchError(t.level, t.n, tile_path(t), f"does not hash to its entry in tile {p.level}/{p.n}")
        if self.root is not None:
            for t in fetched:
                if len(self._cache) >= self._cache_tiles:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[t] = fetched[t]
        return [from_tile(j, x) for j, x in zip(index_order, indexes, strict=True)]


def format_bundle(entries: Sequence[bytes]) -> bytes:
    """A C2SP tlog-tiles entry bundle: each entry as a big-endian uint16 length and its bytes.
    Inverse of ``parse_bundle``."""
    if len(entries) > TILE_WIDTH:
        raise FormatError(f"an entry bundle holds at most {TILE_WIDTH} entries, not {len(entries)}")
    sizes = list(map(len, entries))
    if sizes and max(sizes) > MAX_ENTRY_SIZE:
        raise FormatError(f"an entry is at most {MAX_ENTRY_SIZE} bytes, not {max(sizes)}")
    lengths = _LENGTHS  # the appender's hot path: no per-entry int.to_bytes for usual sizes
    parts: list[bytes] = [b""] * (2 * len(entries))
    parts[0::2] = [lengths[n] if n < 4096 else n.to_bytes(2, "big") for n in sizes]
    parts[1::2] = entries
    return b"".join(parts)


_LENGTHS = [n.to_bytes(2, "big") for n in range(4096)]  # the length prefixes of the usual entries


def parse_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """The entries of a C2SP tlog-tiles entry bundle; strict: a truncated length or entry,
    more than 256 entries, or (given ``width``) a different count is an error. Inverse of
    ``format_bundle``."""
    entries: list[bytes] = []
    i, end = 0, len(data)
    while i < end:
        if i + 2 > end:
            raise FormatError(f"entry bundle truncated in the length of entry {len(entries)}")
        n = (data[i] << 8) | data[i + 1]
        if i + 2 + n > end:
            raise FormatError(f"entry bundle truncated in entry {len(entries)}")
        entries.append(bytes(data[i + 2 : i + 2 + n]))
        i += 2 + n
        if len(entries) > TILE_WIDTH:
            raise FormatError(f"entry bundle holds more than {TILE_WIDTH} entries")
    if width is not None and len(entries) != width:
        raise FormatError(f"entry bundle holds {len(entries)} entries, want {width}")
    return entries

