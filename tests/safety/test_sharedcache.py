"""The default shared cache (tallylog.safety.sharedcache): atomic across processes."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
import time
import uuid
from pathlib import Path

from tallylog.safety.sharedcache import MemoryFileCache


def _location() -> str:
    return f"/dev/shm/tallylog-test-{uuid.uuid4().hex}/cache.sqlite3"


def _count(location: str, n: int) -> None:
    cache = MemoryFileCache(location, {})
    for _ in range(n):
        cache.add("counter", 0, 60)
        cache.incr("counter")
    cache.add("first", multiprocessing.current_process().name, 60)


def test_add_and_incr_are_atomic_across_processes() -> None:
    location = _location()
    try:
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=_count, args=(location, 200), name=f"w{i}") for i in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        cache = MemoryFileCache(location, {})
        assert cache.get("counter") == 800
        assert cache.get("first") in {"w0", "w1", "w2", "w3"}
    finally:
        shutil.rmtree(Path(location).parent, ignore_errors=True)


def test_expiry_and_the_cache_api() -> None:
    location = _location()
    try:
        cache = MemoryFileCache(location, {})
        assert cache.add("k", b"key", 60) and not cache.add("k", b"other", 60)
        assert cache.get("k") == b"key" and cache.has_key("k")
        cache.set("gone", 1, -1)
        assert cache.get("gone", "default") == "default" and cache.add("gone", 2, 60)
        assert cache.incr("gone", 5) == 7 and cache.touch("gone", 60)
        assert cache.delete("gone") and cache.get("gone") is None
        try:
            cache.incr("gone")
        except ValueError:
            pass
        else:
            raise AssertionError("incr of a missing key must raise ValueError")
        # Expiry is the time of setting plus the timeout (the daily key must go after two days).
        cache.set("day", b"k", 2 * 86400)
        (expires,) = sqlite3.connect(location).execute("SELECT expires FROM cache WHERE key LIKE '%day'").fetchone()
        assert abs(expires - (time.time() + 2 * 86400)) < 60
        cache.clear()
        assert cache.get("k") is None
        assert oct(Path(location).stat().st_mode)[-3:] == "600"
    finally:
        shutil.rmtree(Path(location).parent, ignore_errors=True)


def _count_many(location: str, n: int) -> None:
    cache = MemoryFileCache(location, {})
    for _ in range(n):
        cache.count_many(["a", "b"], 60)


def test_count_many_counts_like_add_then_incr_atomically_across_processes() -> None:
    location = _location()
    try:
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=_count_many, args=(location, 200)) for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        cache = MemoryFileCache(location, {})
        assert cache.get("a") == cache.get("b") == 800
        # It counts where add and incr count, and they where it does.
        cache.add("c", 0, 60)
        cache.incr("c", 4)
        assert cache.count_many(["c", "d", "a"], 60) == [5, 1, 801]
        assert cache.incr("d") == 2
        # An expired counter starts again at 1, with the new expiry; a live one keeps its own.
        cache.set("old", 41, -1)
        assert cache.count_many(["old"], 60) == [1]
        (expires,) = sqlite3.connect(location).execute("SELECT expires FROM cache WHERE key LIKE '%old'").fetchone()
        assert abs(expires - (time.time() + 60)) < 30
        cache.set("live", 1, 3600)
        cache.count_many(["live"], 60)
        (expires,) = sqlite3.connect(location).execute("SELECT expires FROM cache WHERE key LIKE '%live'").fetchone()
        assert expires > time.time() + 3000
    finally:
        shutil.rmtree(Path(location).parent, ignore_errors=True)


def test_a_request_reads_the_daily_key_once_and_the_next_one_sees_a_new_key() -> None:
    """Within one request the key is read from the cache once; a key replaced in the cache
    (a restarted Redis, the next day) is what the next request hashes under."""
    from django.core.cache import cache

    from tallylog.registry import keyed

    cache.clear()
    with keyed.one_key_per_request():
        first = keyed.keyed_hash("source", "a")
        cache.clear()  # the key is gone from the cache mid-request …
        assert keyed.keyed_hash("source", "a") == first  # … and the request keeps its own
    assert keyed.keyed_hash("source", "a") != first  # the next one reads (makes) the new key
