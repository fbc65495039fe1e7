"""C2SP tlog-tiles: paths (strict), bundles, which tiles a size needs, the authenticating reader."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallylog.tlog.errors import FormatError, TileMismatchError, VerificationError
from tallylog.tlog.hashes import prove_consistency, prove_inclusion, stored_hash_index, tree_hash
from tallylog.tlog.tiles import (
    TILE_HEIGHT,
    Tile,
    TileHashReader,
    TilePathError,
    edge_tiles,
    format_bundle,
    new_tiles,
    parse_bundle,
    parse_tile_path,
    tile_path,
)
from tests.support.trees import HashList, entry


@pytest.mark.parametrize(
    ("tile", "path"),
    [
        (Tile(0, 0), "tile/0/000"),
        (Tile(0, 1234067), "tile/0/x001/x234/067"),
        (Tile(1, 1000, 3), "tile/1/x001/000.p/3"),
        (Tile(-1, 5, 255), "tile/entries/005.p/255"),
        (Tile(-1, 999), "tile/entries/999"),
        (Tile(12, 1_000_000), "tile/12/x001/x000/000"),
    ],
)
def test_tile_paths(tile: Tile, path: str) -> None:
    assert tile_path(tile) == path
    assert parse_tile_path(path) == tile


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/00", "tile/0/0000", "tile/00/000", "tile/01/000", "tile/0/x000/001", "tile/0/001/002",
        "tile/0/x001", "tile/0/x001/x002", "tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/01",
        "tile/0/000.p/", "tile/0/000.p/1000", "tile/entry/000", "tile/-1/000", "tile/8/0/000",
        "/tile/0/000", "tile/0/000/", "tile/0/x01/000", "tile/0/X001/000", "tile/0/000.p/1/",
        "tile/0/000.p/+1", "tile/ 0/000", "tile/0/٠٠٠", "tile/64/000", "tiles/0/000",
    ],
)
def test_non_canonical_paths_are_rejected(path: str) -> None:
    with pytest.raises(TilePathError):
        parse_tile_path(path)


@given(st.integers(-1, 63), st.integers(0, 2**63 - 1), st.integers(1, 256))
def test_tile_path_round_trip(level: int, n: int, width: int) -> None:
    tile = Tile(level, n, width)
    assert parse_tile_path(tile_path(tile)) == tile


@given(st.text(alphabet="tile/entrsx0123456789.p", max_size=40))
def test_parse_tile_path_accepts_only_canonical(path: str) -> None:
    try:
        tile = parse_tile_path(path)
    except TilePathError:
        return
    assert tile_path(tile) == path


@given(st.lists(st.binary(max_size=300), max_size=256))
def test_bundle_round_trip(entries: list[bytes]) -> None:
    data = format_bundle(entries)
    assert parse_bundle(data) == entries
    assert parse_bundle(data, len(entries)) == entries


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=20), st.data())
def test_truncated_bundles_are_rejected(entries: list[bytes], data: st.DataObject) -> None:
    whole = format_bundle(entries)
    cut = data.draw(st.integers(1, len(whole)))
    try:
        got = parse_bundle(whole[:-cut])
    except FormatError:
        return
    # A cut exactly at an entry boundary parses: to fewer entries, which the width catches.
    assert got == entries[: len(got)] and len(got) < len(entries)
    with pytest.raises(FormatError):
        parse_bundle(whole[:-cut], len(entries))


def test_bundle_limits() -> None:
    assert parse_bundle(format_bundle([b"\xff" * 65535])) == [b"\xff" * 65535]
    with pytest.raises(FormatError):
        format_bundle([b"x" * 65536])
    with pytest.raises(FormatError):
        format_bundle([b""] * 257)
    with pytest.raises(FormatError):
        parse_bundle(b"\x00\x00" * 257)
    with pytest.raises(FormatError):
        Tile(0, 0, 0)
    with pytest.raises(FormatError):
        Tile(0, 0, 257)


def test_new_tiles_and_edge_tiles() -> None:
    assert new_tiles(0, 0) == []
    assert new_tiles(0, 1) == [Tile(0, 0, 1)]
    assert new_tiles(1, 256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert new_tiles(256, 257) == [Tile(0, 1, 1)]
    assert new_tiles(300, 300) == []
    assert new_tiles(65535, 65536) == [Tile(0, 255), Tile(1, 0), Tile(2, 0, 1)]
    assert edge_tiles(256) == [Tile(1, 0, 1)]
    assert edge_tiles(65537) == [Tile(0, 256, 1), Tile(2, 0, 1)]
    # Every tile a size needs is in new_tiles(0, size), at its current width.
    for size in [1, 255, 256, 257, 70000]:
        widths = {(t.level, t.n): t.width for t in new_tiles(0, size)}
        for level, count in enumerate([size, size >> 8, size >> 16]):
            for i in range(count):
                assert (level, i >> 8) in widths


class TileDict:
    """Tiles of a ``HashList`` tree in a dict (a ``TileReader`` that counts reads)."""

    def __init__(self, tree: HashList, size: int) -> None:
        self.tiles = {t: tile_data(tree, t) for t in new_tiles(0, size)}
        self.read = 0

    def read_tiles(self, tiles: list[Tile]) -> list[bytes]:
        self.read += len(tiles)
        return [self.tiles[t] for t in tiles]


def tile_data(tree: HashList, t: Tile) -> bytes:
    level = t.level * TILE_HEIGHT
    return b"".join(tree.hashes[stored_hash_index(level, (t.n << TILE_HEIGHT) + i)] for i in range(t.width))


@pytest.fixture(scope="module")
def tree70k() -> HashList:
    t = HashList()
    for i in range(65536 + 300):
        t.append(entry(i))
    return t


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 511, 65535, 65536, 65537, 65836])
def test_tile_hash_reader_matches_the_stored_hashes(tree70k: HashList, size: int) -> None:
    tiles = TileDict(tree70k, size)
    root = tree_hash(size, tree70k)
    reader = TileHashReader(size, root, tiles)
    assert tree_hash(size, reader) == root
    for n in {0, size // 3, size - 1}:
        assert prove_inclusion(size, n, reader) == prove_inclusion(size, n, tree70k)
        assert prove_consistency(size, n + 1, reader) == prove_consistency(size, n + 1, tree70k)
    indexes = [stored_hash_index(0, n) for n in range(0, size, max(1, size // 50))]
    assert reader.read_hashes(indexes) == tree70k.read_hashes(indexes)
    # Authenticated tiles are kept: a second read fetches nothing.
    before = tiles.read
    reader.read_hashes(indexes)
    assert tiles.read == before


@pytest.mark.parametrize("size", [3, 256, 65537])
def test_tile_hash_reader_rejects_every_tampered_tile(tree70k: HashList, size: int) -> None:
    root = tree_hash(size, tree70k)
    good = TileDict(tree70k, size)
    targets = [t for t in good.tiles if not t.is_full or t.n in (0, (size >> 8) - 1)][:8]
    for t in targets:
        tiles = TileDict(tree70k, size)
        data = bytearray(tiles.tiles[t])
        data[-1] ^= 1
        tiles.tiles[t] = bytes(data)
        reader = TileHashReader(size, root, tiles)
        last = (t.n << TILE_HEIGHT) + t.width - 1
        index = last << (t.level * TILE_HEIGHT)
        with pytest.raises(TileMismatchError) as info:
            reader.read_hashes([stored_hash_index(t.level * TILE_HEIGHT, last), stored_hash_index(0, min(index, size - 1))])
        assert isinstance(info.value, VerificationError)
    with pytest.raises(TileMismatchError, match="signed root"):
        TileHashReader(size, bytes(32), good).read_hashes([0])


def test_tile_hash_reader_accepts_a_store_without_root(tree70k: HashList) -> None:
    class Store:
        def __init__(self, tiles: TileDict) -> None:
            self.files = {tile_path(t): d for t, d in tiles.tiles.items()}

        def read(self, path: str) -> bytes | None:
            return self.files.get(path)

    reader = TileHashReader(1000, Store(TileDict(tree70k, 1000)))
    assert prove_inclusion(1000, 7, reader) == prove_inclusion(1000, 7, tree70k)


def test_edge_root_is_the_tree_hash_at_every_size() -> None:
    """Every size up to 600, and sizes around the first level-2 tile, against RFC 6962's
    recursive definition."""
    from tallylog.tlog.hashes import EMPTY_ROOT, leaf_hashes, merkle_root
    from tallylog.tlog.tiles import edge_root
    from tests.support.trees import entry

    assert edge_root([]) == EMPTY_ROOT
    all_leaves = leaf_hashes([entry(i) for i in range(65537 + 256)])
    for n in [*range(1, 601), 65535, 65536, 65537, 65537 + 255]:
        edge: list[list[bytes]] = []
        level = all_leaves[:n]
        while level:
            full = len(level) // 256
            edge.append(level[full * 256 :])
            level = [merkle_root(level[k * 256 : (k + 1) * 256]) for k in range(full)]
        assert edge_root(edge) == _reference_root(all_leaves[:n]), n


def _reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, recursively: split at the largest power of two below n."""
    from tallylog.tlog.hashes import node_hash

    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_reference_root(leaves[:k]), _reference_root(leaves[k:]))
