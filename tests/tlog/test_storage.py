"""The TileStore contract, run against every implementation."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tallylog.tlog.storage import FileStore, InjectedFailure, MemoryStore, StorePathError, TileStore


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TileStore]:
    yield FileStore(tmp_path / "log") if request.param == "file" else MemoryStore()


def test_read_absent_is_none(store: TileStore) -> None:
    assert store.read("checkpoint") is None
    assert store.read("tile/0/000") is None


def test_write_then_read_and_replace(store: TileStore) -> None:
    store.write("tile/0/x001/234.p/7", b"abc")
    assert store.read("tile/0/x001/234.p/7") == b"abc"
    store.write("tile/0/x001/234.p/7", b"")
    assert store.read("tile/0/x001/234.p/7") == b""
    store.write_many([("checkpoint", b"1"), ("tile/entries/000", b"\x00" * 70000)])
    assert store.read("checkpoint") == b"1" and store.read("tile/entries/000") == b"\x00" * 70000


@pytest.mark.parametrize("path", ["", "/abs", "a//b", "a/../b", "..", "./a", "a/", "a\\b", "a\x00"])
def test_bad_paths_are_refused(store: TileStore, path: str) -> None:
    with pytest.raises(StorePathError):
        store.write(path, b"x")
    with pytest.raises(StorePathError):
        store.read(path)
    assert issubclass(StorePathError, ValueError)


def test_one_writer_many_readers_never_see_a_mix(store: TileStore) -> None:
    a, b = b"a" * 100_000, b"b" * 100_000
    store.write("checkpoint", a)
    stop = threading.Event()
    seen: set[bytes] = set()

    def reader() -> None:
        while not stop.is_set():
            data = store.read("checkpoint")
            assert data is not None
            seen.add(data[:1] + data[-1:] + bytes([len(set(data))]))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(40):
        store.write("checkpoint", a if i % 2 else b)
    stop.set()
    for t in threads:
        t.join()
    assert seen <= {b"aa\x01", b"bb\x01"}


def test_file_store_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.write_many([(f"tile/0/{i:03d}", b"x") for i in range(10)])
    names = sorted(os.listdir(tmp_path / "tile" / "0"))
    assert names == [f"{i:03d}" for i in range(10)]
    assert FileStore(tmp_path).read("tile/0/009") == b"x"  # a new instance sees it


def test_file_store_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.write("tile/0/000", b"old")
    (tmp_path / "tile" / "1").write_bytes(b"a file where a directory must go")
    with pytest.raises(OSError):
        store.write_many([("tile/0/000", b"new?"), ("tile/1/000", b"x")])
    assert store.read("tile/0/000") in (b"old", b"new?")
    assert not [n for n in os.listdir(tmp_path / "tile" / "0") if n.endswith(".tmp")]


@pytest.mark.parametrize(("mode", "after"), [("lost", b"old"), ("written", b"new")])
def test_memory_store_failure_injection(mode: str, after: bytes) -> None:
    store = MemoryStore()
    store.write("checkpoint", b"old")
    store.fail_write(1, mode)  # type: ignore[arg-type]
    store.write("tile/0/000", b"t")
    with pytest.raises(InjectedFailure):
        store.write("checkpoint", b"new")
    assert store.read("checkpoint") == after
    store.write("checkpoint", b"again")  # one-shot
    assert store.read("checkpoint") == b"again"
    assert store.writes == 4 and store.log[1] == "tile/0/000"
    assert isinstance(InjectedFailure("x"), OSError)


def test_the_day_index_is_a_log_file_of_the_store(store: TileStore) -> None:
    """day-index.json goes through the store like the checkpoint: read back as written,
    replaced whole, and (MemoryStore) under the same failure injection."""
    from tallylog.tlog.dayindex import DAY_INDEX_PATH, DayRange, format_day_index, parse_day_index

    one = format_day_index([DayRange("2026-11-23", 0, 200)])
    two = format_day_index([DayRange("2026-11-23", 0, 200), DayRange("2026-11-24", 200, 450)])
    store.write(DAY_INDEX_PATH, one)
    store.write(DAY_INDEX_PATH, two)
    assert parse_day_index(store.read(DAY_INDEX_PATH) or b"") == [
        DayRange("2026-11-23", 0, 200),
        DayRange("2026-11-24", 200, 450),
    ]
    if isinstance(store, MemoryStore):
        store.fail_write(0, "lost")
        with pytest.raises(InjectedFailure):
            store.write(DAY_INDEX_PATH, one)
        assert store.read(DAY_INDEX_PATH) == two  # failed, nothing written
    else:
        assert sorted(p.name for p in store.root.iterdir()) == [DAY_INDEX_PATH]  # no temporary file
