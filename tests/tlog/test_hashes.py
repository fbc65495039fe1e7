"""RFC 6962 hashing and proofs: Go's known answers, exhaustive small trees, bit flips."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallylog.tlog import hashes
from tallylog.tlog.hashes import (
    EMPTY_ROOT,
    ProofError,
    VerificationError,
    check_consistency,
    check_inclusion,
    leaf_hash,
    node_hash,
    prove_consistency,
    prove_inclusion,
    split_stored_hash_index,
    stored_hash_count,
    stored_hash_index,
    tree_hash,
)
from tests.support.trees import HashList, b64, entry


def test_rfc6962_leaf_and_node_prefixes() -> None:
    import hashlib

    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    assert tree_hash(0, HashList()) == EMPTY_ROOT == hashlib.sha256().digest()


@given(st.integers(0, 10**6))
def test_split_stored_hash_index_inverts_stored_hash_index(i: int) -> None:
    level, n = split_stored_hash_index(i)
    assert stored_hash_index(level, n) == i


@given(st.integers(0, 40), st.integers(0, 2**40))
def test_stored_hash_index_round_trip(level: int, n: int) -> None:
    assert split_stored_hash_index(stored_hash_index(level, n)) == (level, n)


def test_stored_hash_count_matches_appends(tree1000: HashList) -> None:
    t = HashList()
    for i in range(300):
        assert stored_hash_count(i) == len(t.hashes)
        t.append(entry(i))
    assert stored_hash_count(1000) == len(tree1000.hashes)


def test_go_known_answers(vectors: dict[str, Any], tree1000: HashList) -> None:
    trees = vectors["trees"]
    assert {1, 2, 255, 256, 257, 1000} <= {tree["size"] for tree in trees}
    checked = 0
    for tree in trees:
        size, root = tree["size"], b64(tree["root"])
        assert tree_hash(size, tree1000) == root, size
        for p in tree["inclusion"]:
            proof = [b64(h) for h in p["proof"]]
            assert prove_inclusion(size, p["index"], tree1000) == proof
            check_inclusion(proof, size, root, p["index"], leaf_hash(entry(p["index"])))
            checked += 1
        for p in tree["consistency"]:
            proof = [b64(h) for h in p["proof"]]
            old = p["old_size"]
            assert prove_consistency(size, old, tree1000) == proof
            check_consistency(proof, size, root, old, tree_hash(old, tree1000))
            checked += 1
    assert checked > 50


def test_every_proof_of_every_small_tree() -> None:
    t = HashList()
    roots = [EMPTY_ROOT]
    for i in range(100):
        t.append(entry(i))
        roots.append(tree_hash(t.size, t))
    leaves = [leaf_hash(entry(i)) for i in range(100)]
    for size in range(1, 101):
        root = roots[size]
        for n in range(size):
            proof = prove_inclusion(size, n, t)
            check_inclusion(proof, size, root, n, leaves[n])
            other = (n + 1) % size
            if other != n:
                with pytest.raises(VerificationError):
                    check_inclusion(proof, size, root, other, leaves[n])
                with pytest.raises(VerificationError):
                    check_inclusion(proof, size, root, n, leaves[other])
        for old in range(0, size + 1):
            proof = prove_consistency(size, old, t)
            check_consistency(proof, size, root, old, roots[old])
            if 0 < old < size:
                with pytest.raises(VerificationError):
                    check_consistency(proof, size, root, old, roots[old - 1])
                with pytest.raises(VerificationError):
                    check_consistency(proof, size, roots[size - 1], old, roots[old])


def _flips(proof: list[bytes]):  # type: ignore[no-untyped-def]
    for i, h in enumerate(proof):
        for bit in range(256):
            b = bytearray(h)
            b[bit // 8] ^= 1 << (bit % 8)
            yield proof[:i] + [bytes(b)] + proof[i + 1 :]


@pytest.mark.parametrize("size", [2, 3, 7, 8, 9, 37, 64, 100])
def test_every_single_bit_flip_is_rejected(size: int) -> None:
    t = HashList()
    for i in range(size):
        t.append(entry(i))
    root = tree_hash(size, t)
    for n in {0, size // 2, size - 1}:
        proof = prove_inclusion(size, n, t)
        for bad in _flips(proof):
            with pytest.raises(VerificationError):
                check_inclusion(bad, size, root, n, leaf_hash(entry(n)))
        # a proof one hash short or long is rejected too
        if proof:
            with pytest.raises(VerificationError):
                check_inclusion(proof[:-1], size, root, n, leaf_hash(entry(n)))
        with pytest.raises(VerificationError):
            check_inclusion(proof + [root], size, root, n, leaf_hash(entry(n)))
    for old in {1, size // 2, size - 1} - {size}:
        proof = prove_consistency(size, old, t)
        old_root = tree_hash(old, t)
        for bad in _flips(proof):
            with pytest.raises(VerificationError):
                check_consistency(bad, size, root, old, old_root)
        with pytest.raises(VerificationError):
            check_consistency(proof + [root], size, root, old, old_root)


def test_malformed_proofs_are_value_errors_not_verification_errors() -> None:
    h = b"\x00" * 32
    with pytest.raises(ProofError):
        check_inclusion([], 3, h, 3, h)
    with pytest.raises(ProofError):
        check_inclusion([b"short"], 3, h, 1, h)
    with pytest.raises(ProofError):
        check_consistency([], 3, h, 4, h)
    with pytest.raises(ProofError):
        prove_inclusion(5, 5, HashList())
    with pytest.raises(ProofError):
        prove_consistency(5, 6, HashList())
    assert issubclass(ProofError, ValueError)
    assert not issubclass(VerificationError, ValueError)
    assert hashes.HASH_SIZE == 32


def test_the_batch_forms_agree_with_the_one_hash_functions() -> None:
    entries = [entry(i) for i in range(9)] + [b"", b"x" * 70000]
    assert hashes.leaf_hashes(entries) == [leaf_hash(e) for e in entries]
    level = hashes.leaf_hashes(entries[:7])
    assert hashes.node_hashes(level) == [node_hash(level[i], level[i + 1]) for i in (0, 2, 4)]  # the odd one waits
    assert hashes.node_hashes(level[:1]) == [] and hashes.node_hashes([]) == []


def test_merkle_root_is_the_tree_hash_of_a_complete_tree(tree1000: HashList) -> None:
    for k in range(0, 10):
        leaves = hashes.leaf_hashes([entry(i) for i in range(1 << k)])
        assert hashes.merkle_root(leaves) == tree_hash(1 << k, tree1000)
    for bad in (0, 3, 6, 255):
        with pytest.raises(AssertionError, match="merkle_root"):
            hashes.merkle_root([b"\0" * 32] * bad)


def test_subtree_index_covers_the_tree_largest_first(tree1000: HashList) -> None:
    for n in range(1, 1000):
        indexes = hashes.subtree_index(0, n, [])
        levels = [split_stored_hash_index(x)[0] for x in indexes]
        assert sum(1 << level for level in levels) == n and levels == sorted(levels, reverse=True)
        folded = tree1000.read_hashes(indexes)
        h = folded[-1]
        for left in reversed(folded[:-1]):
            h = node_hash(left, h)
        assert h == tree_hash(n, tree1000)
