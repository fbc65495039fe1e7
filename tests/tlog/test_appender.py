"""The Appender: correct trees, refusal to guess, and crash injection after every write."""

from __future__ import annotations

import pytest

from tallylog.tlog import Appender, AppenderBrokenError, LogInconsistentError, MemoryStore, Signer, generate_key
from tallylog.tlog.checkpoint import parse_checkpoint
from tallylog.tlog.errors import FormatError
from tallylog.tlog.hashes import EMPTY_ROOT, leaf_hash, stored_hash_index, tree_hash
from tallylog.tlog.note import open_note, sign_note
from tallylog.tlog.storage import InjectedFailure, TileStore
from tallylog.tlog.tiles import TILE_WIDTH, Tile, TileHashReader, new_tiles, parse_bundle, tile_path
from tests.support.trees import HashList, entry

ORIGIN = "test.example/log"
SIGNER = Signer(generate_key(ORIGIN)[0])


def check_log(store: TileStore, want: list[bytes] | None = None) -> int:
    """The invariant checker: the published checkpoint verifies, every tile and bundle of
    its size is present and authentic, and (given ``want``) the entries are ``want``'s
    prefix. Returns the checkpoint's size."""
    data = store.read("checkpoint")
    if data is None:
        return 0
    cp = parse_checkpoint(open_note(data, [SIGNER.verifier]).text)
    entries: list[bytes] = []
    for t in new_tiles(0, cp.size):
        if t.level == 0:
            raw = store.read(tile_path(Tile(-1, t.n, t.width)))
            assert raw is not None, f"missing bundle {t}"
            entries += parse_bundle(raw, t.width)
    assert len(entries) == cp.size
    tree = HashList()
    for e in entries:
        tree.append(e)
    assert tree_hash(cp.size, tree) == cp.root
    reader = TileHashReader(cp.size, cp.root, store)
    assert reader.read_hashes([stored_hash_index(0, i) for i in range(cp.size)]) == [leaf_hash(e) for e in entries]
    if want is not None:
        assert entries == want[: cp.size]
    return cp.size


@pytest.mark.slow  # exhaustive or property-based; in make test, not make test-fast
def test_appends_match_the_reference_tree() -> None:
    store = MemoryStore()
    app = Appender.open(store, SIGNER, ORIGIN)
    assert (app.size, app.root) == (0, EMPTY_ROOT)
    ref = HashList()
    n = 0
    for k in [1, 2, 252, 1, 1, 255, 256, 257, 4096, 0, 700, 65536 - 6021, 300]:
        batch = [entry(n + i) for i in range(k)]
        head = app.stage(batch)
        for e in batch:
            ref.append(e)
        n += k
        assert head.size == n and head.root == tree_hash(n, ref)
        app.publish()
        assert check_log(store) == n
        again = Appender.open(store, SIGNER, ORIGIN)
        assert (again.size, again.root) == (n, head.root)
    assert n > 65536


def test_stage_touches_only_the_changed_tiles() -> None:
    store = MemoryStore()
    app = Appender.open(store, SIGNER, ORIGIN)
    app.append([entry(i) for i in range(70000)])
    before = store.writes
    app.stage([b"x"] * 10)
    # the level-0 partial tile and its bundle (the upper partial tiles did not change)
    assert store.writes - before == 2
    before = store.writes
    app.stage([b"y"] * (256 - (app.size % 256)))
    assert {p for p in store.log[before:]} >= {"tile/0/273", "tile/entries/273", "tile/1/001.p/18"}
    assert store.writes - before <= 4


def test_open_refuses_to_guess() -> None:
    store = MemoryStore()
    app = Appender.open(store, SIGNER, ORIGIN)
    app.append([entry(i) for i in range(300)])
    root300 = app.root
    app.stage([entry(i) for i in range(300, 310)])
    root310 = app.root
    # the committed state may be ahead of the checkpoint (crash between commit and publish)
    assert Appender.open(store, SIGNER, ORIGIN, 310, root310).size == 310
    with pytest.raises(LogInconsistentError, match="committed"):
        Appender.open(store, SIGNER, ORIGIN, 310, root300)
    with pytest.raises(LogInconsistentError, match="ahead"):
        Appender.open(store, SIGNER, ORIGIN, 299, None)
    with pytest.raises(LogInconsistentError, match=r"missing file at tile/0/001\.p/55"):
        Appender.open(store, SIGNER, ORIGIN, 311, None)
    # a tampered edge tile
    good = store.files["tile/0/001.p/44"]
    store.files["tile/0/001.p/44"] = bytes(32) + good[32:]
    with pytest.raises(LogInconsistentError):
        Appender.open(store, SIGNER, ORIGIN)
    store.files["tile/0/001.p/44"] = good
    # a bundle that does not match its tile
    bundle = store.files["tile/entries/001.p/44"]
    store.files["tile/entries/001.p/44"] = bundle[:-1] + b"!"
    with pytest.raises(LogInconsistentError, match="do not hash"):
        Appender.open(store, SIGNER, ORIGIN)
    store.files["tile/entries/001.p/44"] = bundle
    # a checkpoint by another key, or for another origin
    other = Signer(generate_key(ORIGIN)[0])
    cp = store.files["checkpoint"]
    store.files["checkpoint"] = sign_note(open_note(cp, [SIGNER.verifier]).text, other)
    with pytest.raises(LogInconsistentError, match="key"):
        Appender.open(store, SIGNER, ORIGIN)
    store.files["checkpoint"] = cp
    with pytest.raises(ValueError):
        Appender.open(store, SIGNER, "another.example")


def test_publish_never_goes_backwards_or_forks() -> None:
    store = MemoryStore()
    app = Appender.open(store, SIGNER, ORIGIN)
    app.append([entry(i) for i in range(10)])
    stale = Appender.open(store, SIGNER, ORIGIN)
    app.append([entry(i) for i in range(10, 20)])
    with pytest.raises(LogInconsistentError, match="ahead"):
        stale.publish()
    # a fork: a writer that staged other entries at the same size
    fork = Appender.open(store, SIGNER, ORIGIN)
    store2 = MemoryStore()
    store2.files = dict(store.files)
    other = Appender.open(store2, SIGNER, ORIGIN)
    other.append([b"other"] * 5)
    fork.stage([b"mine"] * 5)
    store.files["checkpoint"] = store2.files["checkpoint"]
    with pytest.raises(LogInconsistentError, match="another root"):
        fork.publish()
    app.stage([entry(i) for i in range(20, 40)])
    with pytest.raises(LogInconsistentError, match="not a prefix"):
        app.publish()


def test_oversized_entry_is_refused_before_writing() -> None:
    store = MemoryStore()
    app = Appender.open(store, SIGNER, ORIGIN)
    with pytest.raises(FormatError):
        app.stage([b"ok", b"x" * 65536])
    with pytest.raises(FormatError, match="bytes"):
        app.stage([b"ok", "text"])  # type: ignore[list-item]
    assert store.writes == 0 and app.size == 0
    app.append([b"y" * 65535])
    assert check_log(store) == 1


def test_a_failed_write_breaks_the_appender() -> None:
    store = MemoryStore()
    app = Appender.open(store, SIGNER, ORIGIN)
    store.fail_write(0)
    with pytest.raises(InjectedFailure):
        app.stage([b"a"])
    with pytest.raises(AppenderBrokenError):
        app.stage([b"a"])
    with pytest.raises(AppenderBrokenError):
        app.publish()


BATCHES = [[f"b{b} e{i}".encode() for i in range(k)] for b, k in enumerate([1, 2, 253, 4, 300, 1, 256, 600, 3])]
ALL = [e for batch in BATCHES for e in batch]


def _resume_after_crashes(store: MemoryStore) -> None:
    """The CLI's loop: append each batch; on a crash, reopen at the published checkpoint
    (checking the log there) and go on from the first batch it does not cover."""
    app = Appender.open(store, SIGNER, ORIGIN)
    starts = [sum(len(b) for b in BATCHES[:i]) for i in range(len(BATCHES) + 1)]
    i = 0
    while i < len(BATCHES):
        try:
            app.append(BATCHES[i])
            i += 1
        except InjectedFailure:
            size = check_log(store, ALL)
            app = Appender.open(store, SIGNER, ORIGIN)
            assert app.size == size and size in starts
            i = starts.index(size)


@pytest.mark.slow  # exhaustive or property-based; in make test, not make test-fast
def test_crash_after_every_write_of_the_cli_loop() -> None:
    clean = MemoryStore()
    _resume_after_crashes(clean)
    total = clean.writes
    assert check_log(clean, ALL) == len(ALL)
    for k in range(total):
        for mode in ("lost", "written"):
            store = MemoryStore()
            store.fail_write(k, mode)  # type: ignore[arg-type]
            _resume_after_crashes(store)
            assert check_log(store, ALL) == len(ALL), (k, mode)
            assert store.read("checkpoint") == clean.read("checkpoint")


def _sequencer(store: MemoryStore, db: dict[str, object]) -> None:
    """The sequencer's protocol with a committed state kept in ``db`` (the database):
    stage, commit (size, root), publish; on a crash, reopen at the committed state."""
    starts = [sum(len(b) for b in BATCHES[:i]) for i in range(len(BATCHES) + 1)]
    while True:
        try:
            app = Appender.open(store, SIGNER, ORIGIN, db["size"], db["root"])  # type: ignore[arg-type]
            published = check_log(store, ALL)
            assert published <= app.size
            if published != app.size:
                app.publish()
            i = starts.index(app.size)
            while i < len(BATCHES):
                head = app.stage(BATCHES[i])
                db["size"], db["root"] = head.size, head.root  # step 4: one transaction
                app.publish()
                i += 1
            return
        except InjectedFailure:
            continue


@pytest.mark.slow  # exhaustive or property-based; in make test, not make test-fast
def test_crash_after_every_write_of_the_sequencer_protocol() -> None:
    clean = MemoryStore()
    _sequencer(clean, {"size": 0, "root": EMPTY_ROOT})
    total = clean.writes
    for k in range(total):
        for mode in ("lost", "written"):
            store = MemoryStore()
            store.fail_write(k, mode)  # type: ignore[arg-type]
            db: dict[str, object] = {"size": 0, "root": EMPTY_ROOT}
            _sequencer(store, db)
            assert check_log(store, ALL) == len(ALL) == db["size"], (k, mode)
            assert store.read("checkpoint") == clean.read("checkpoint")
    assert TILE_WIDTH == 256
