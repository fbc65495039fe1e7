"""RFC 6962 Merkle tree hashing, stored-hash indexing, tree hashes and proofs.

Modelled on Go's golang.org/x/mod/sumdb/tlog (tlog.go): the tree's hashes are "stored
hashes", numbered in the order a log appending one record at a time would write them
(``stored_hash_index``). Functions here do no I/O: they ask a ``HashReader`` for the stored
hashes they need, all in one call.

Proofs are lists of 32-byte hashes in Go's (and RFC 9162's) order: the sibling nearest the
leaf first. Checking follows the verification algorithms of RFC 9162 §2.1.3.2 (inclusion)
and §2.1.4.2 (consistency).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

from tallylog.tlog.errors import FormatError, VerificationError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "HashReader",
    "ProofError",
    "VerificationError",
    "check_consistency",
    "check_inclusion",
    "leaf_hash",
    "leaf_hashes",
    "merkle_root",
    "node_hash",
    "node_hashes",
    "prove_consistency",
    "prove_inclusion",
    "split_stored_hash_index",
    "stored_hash_count",
    "stored_hash_index",
    "stored_hashes",
    "subtree_index",
    "tree_hash",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""RFC 6962 §2.1: the hash of an empty tree, MTH({}) = SHA-256() ."""

_sha256 = hashlib.sha256


class ProofError(FormatError):
    """Malformed proof request or proof (sizes out of range, hashes not 32 bytes)."""


class HashReader(Protocol):
    """Reads stored hashes (numbered by ``stored_hash_index``) for the math in this module."""

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Return the stored hashes at ``indexes``, in the same order, all at once."""
        ...


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 §2.1: the leaf hash SHA-256(0x00 ‖ entry)."""
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 §2.1: the interior node hash SHA-256(0x01 ‖ left ‖ right)."""
    return _sha256(b"\x01" + left + right).digest()


_LEAF_PREFIX = _sha256(b"\x00")  # copied per entry: cheaper than b"\x00" + entry for long entries


def leaf_hashes(entries: Sequence[bytes]) -> list[bytes]:
    """``leaf_hash`` of each entry, in order (the appender's and the auditor's hot loop)."""
    out: list[bytes] = []
    append, prefix = out.append, _LEAF_PREFIX
    for e in entries:
        h = prefix.copy()
        h.update(e)
        append(h.digest())
    return out


def node_hashes(hashes: Sequence[bytes]) -> list[bytes]:
    """The next level up: ``node_hash`` of each pair (0, 1), (2, 3), … of ``hashes``; a
    trailing odd hash has no parent yet and is left out (RFC 6962 §2.1)."""
    sha = _sha256  # bound locally: this is the inner loop of every tile hash
    return [sha(b"\x01" + hashes[i] + hashes[i + 1]).digest() for i in range(0, len(hashes) - 1, 2)]


def merkle_root(hashes: Sequence[bytes]) -> bytes:
    """RFC 6962 §2.1 hash of the complete subtree whose level hashes are ``hashes`` (a
    power-of-two number of them, at least one)."""
    count = len(hashes)
    if count == 0 or count & (count - 1):
        raise AssertionError(f"merkle_root: {count} hashes is not a power of two")
    level = list(hashes)
    while len(level) > 1:
        level = node_hashes(level)
    return level[0]


def stored_hash_index(level: int, n: int) -> int:
    """The index of the ``n``-th hash at ``level`` in the stored-hash sequence (Go's
    ``tlog.StoredHashIndex``). Level 0 holds leaf hashes; level L hashes cover 2**L leaves.

    Inverse of ``split_stored_hash_index``.
    """
    if level < 0 or n < 0:
        raise FormatError(f"stored_hash_index: negative level {level} or index {n}")
    # Hashes at level L are written once the tree reaches (n+1) << L leaves; count the
    # hashes written before that moment, then the ones at lower levels of the same leaf.
    for _ in range(level):
        n = 2 * n + 1
    i = 0
    while n > 0:
        i += n
        n >>= 1
    return i + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """The ``(level, n)`` of stored hash ``index`` (Go's ``tlog.SplitStoredHashIndex``).

    Inverse of ``stored_hash_index``.
    """
    if index < 0:
        raise FormatError(f"split_stored_hash_index: negative index {index}")
    # Leaf n's hash is stored at or after index 2n - popcount(n); start close below.
    n = index // 2
    index_n = stored_hash_index(0, n)
    if index_n > index:
        raise AssertionError("split_stored_hash_index: bad math")
    while True:
        # The next leaf hash comes after the hashes that leaf n+1 completes.
        x = index_n + 1 + _trailing_zeros(n + 1)
        if x > index:
            break
        n += 1
        index_n = x
    level = index - index_n
    return level, n >> level


def stored_hash_count(n: int) -> int:
    """How many hashes a tree of ``n`` records stores (Go's ``tlog.StoredHashCount``)."""
    if n < 0:
        raise FormatError(f"stored_hash_count: negative size {n}")
    if n == 0:
        return 0
    count = stored_hash_index(0, n - 1) + 1
    i = n - 1
    while i & 1:
        count += 1
        i >>= 1
    return count


def stored_hashes(n: int, entry: bytes, reader: HashReader) -> list[bytes]:
    """The hashes to store when adding record ``n`` (``entry``) to a tree of ``n`` records:
    its leaf hash, then each new interior hash it completes (Go's ``tlog.StoredHashes``).
    ``reader`` supplies the older stored hashes needed (indexes below ``stored_hash_count(n)``).
    """
    h = leaf_hash(entry)
    out = [h]
    m = _trailing_zeros(n + 1)
    indexes = [0] * m
    for i in range(m):
        # The left sibling at level i of the new node lies just left of it.
        indexes[m - 1 - i] = stored_hash_index(i, (n >> i) - 1)
    old = reader.read_hashes(indexes) if m else []
    _check_read(old, m, "stored_hashes")
    for i in range(m):
        h = node_hash(old[m - 1 - i], h)
        out.append(h)
    return out


def tree_hash(n: int, reader: HashReader) -> bytes:
    """RFC 6962 §2.1 MTH of the first ``n`` records (Go's ``tlog.TreeHash``), from the stored
    hashes of its complete subtrees. The empty tree hashes to ``EMPTY_ROOT`` (SHA-256 of the
    empty string), as RFC 6962 §2.1 says.
    """
    if n < 0:
        raise FormatError(f"tree_hash: negative size {n}")
    if n == 0:
        return EMPTY_ROOT
    indexes = subtree_index(0, n, [])
    hashes = reader.read_hashes(indexes)
    _check_read(hashes, len(indexes), "tree_hash")
    h, rest = _subtree_hash(0, n, hashes)
    if rest:
        raise AssertionError("tree_hash: bad index math")
    return h


def prove_inclusion(t: int, n: int, reader: HashReader) -> list[bytes]:
    """The RFC 6962 §2.1.1 inclusion proof (audit path) that record ``n`` is in the tree of
    size ``t`` (Go's ``tlog.ProveRecord``), nearest sibling first.

    Checked by ``check_inclusion``.
    """
    if t < 0 or n < 0 or n >= t:
        raise ProofError(f"invalid inclusion proof request: index {n} in a tree of size {t}")
    indexes = _leaf_proof_index(0, t, n, [])
    if not indexes:
        return []
    hashes = reader.read_hashes(indexes)
    _check_read(hashes, len(indexes), "prove_inclusion")
    proof, rest = _leaf_proof(0, t, n, hashes)
    if rest:
        raise AssertionError("prove_inclusion: bad index math")
    return proof


def check_inclusion(proof: Sequence[bytes], t: int, root: bytes, n: int, leaf: bytes) -> None:
    """Verify an inclusion proof (RFC 9162 §2.1.3.2) that the record with leaf hash ``leaf``
    is at index ``n`` of the tree of size ``t`` with root hash ``root``.

    Raises ``VerificationError`` when it does not verify, ``ProofError`` when malformed.
    Inverse of ``prove_inclusion``.
    """
    if t < 0 or n < 0 or n >= t:
        raise ProofError(f"invalid inclusion proof: index {n} in a tree of size {t}")
    _check_hashes(proof, root, leaf)
    fn, sn, r = n, t - 1, leaf
    for p in proof:
        if sn == 0:
            raise VerificationError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof is too short")
    if r != root:
        raise VerificationError(f"inclusion proof of index {n} does not lead to the root of tree size {t}")


def prove_consistency(t: int, n: int, reader: HashReader) -> list[bytes]:
    """The RFC 6962 §2.1.2 consistency proof that the tree of size ``n`` is a prefix of the
    tree of size ``t`` (Go's ``tlog.ProveTree``). Empty when ``n == t`` or ``n == 0``.

    Checked by ``check_consistency``.
    """
    if t < 0 or n < 0 or n > t:
        raise ProofError(f"invalid consistency proof request: size {n} to size {t}")
    if n == 0 or n == t:
        return []
    indexes = _tree_proof_index(0, t, n, [])
    hashes = reader.read_hashes(indexes)
    _check_read(hashes, len(indexes), "prove_consistency")
    proof, rest = _tree_proof(0, t, n, hashes)
    if rest:
        raise AssertionError("prove_consistency: bad index math")
    return proof


def check_consistency(proof: Sequence[bytes], t: int, t_root: bytes, n: int, n_root: bytes) -> None:
    """Verify a consistency proof (RFC 9162 §2.1.4.2) that the tree of size ``n`` with root
    ``n_root`` is a prefix of the tree of size ``t`` with root ``t_root``.

    When ``n == t`` the proof must be empty and the roots equal; when ``n == 0`` the proof must
    be empty and ``n_root`` the empty tree's hash. Raises ``VerificationError`` when it does not
    verify, ``ProofError`` when malformed. Inverse of ``prove_consistency``.
    """
    if t < 0 or n < 0 or n > t:
        raise ProofError(f"invalid consistency proof: size {n} to size {t}")
    _check_hashes(proof, t_root, n_root)
    if n == 0 or n == t:
        if proof:
            raise VerificationError(f"consistency proof from size {n} to size {t} must be empty")
        want = EMPTY_ROOT if n == 0 else t_root
        if n_root != want:
            raise VerificationError(f"the trees of size {n} and {t} have different roots")
        return
    if not proof:
        raise VerificationError("consistency proof is empty")
    path = list(proof)
    if n & (n - 1) == 0:
        path.insert(0, n_root)
    fn, sn = n - 1, t - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency proof is too short")
    if fr != n_root or sr != t_root:
        raise VerificationError(f"consistency proof from size {n} to size {t} does not verify")


# --- the index math (Go's tlog.go, same names with underscores) ---------------------------


def _trailing_zeros(x: int) -> int:
    return (x & -x).bit_length() - 1


def _maxpow2(n: int) -> tuple[int, int]:
    """The largest power of two strictly less than ``n``, and its log2 (n ≥ 2)."""
    level = (n - 1).bit_length() - 1
    return 1 << level, level


def subtree_index(lo: int, hi: int, need: list[int]) -> list[int]:
    """Append to ``need`` the stored-hash indexes of the complete subtrees covering leaves
    [lo, hi), largest (leftmost) first, and return it (Go's ``tlog.subTreeIndex``): the
    hashes ``tree_hash`` folds into the tree hash of [0, hi)."""
    while lo < hi:
        k, level = _maxpow2(hi - lo + 1)
        if lo & (k - 1):
            raise AssertionError("subtree_index: bad math")
        need.append(stored_hash_index(level, lo >> level))
        lo += k
    return need


def _subtree_hash(lo: int, hi: int, hashes: list[bytes]) -> tuple[bytes, list[bytes]]:
    """The hash of [lo, hi) from the leading hashes ``subtree_index`` asked for, and the rest."""
    num = 0
    while lo < hi:
        k, _ = _maxpow2(hi - lo + 1)
        lo += k
        num += 1
    if num == 0 or len(hashes) < num:
        raise AssertionError("_subtree_hash: bad math")
    h = hashes[num - 1]
    for i in range(num - 2, -1, -1):
        h = node_hash(hashes[i], h)
    return h, hashes[num:]


def _leaf_proof_index(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    if not lo <= n < hi:
        raise AssertionError("_leaf_proof_index: bad math")
    if lo + 1 == hi:
        return need
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        _leaf_proof_index(lo, lo + k, n, need)
        subtree_index(lo + k, hi, need)
    else:
        subtree_index(lo, lo + k, need)
        _leaf_proof_index(lo + k, hi, n, need)
    return need


def _leaf_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    if lo + 1 == hi:
        return [], hashes
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        p, hashes = _leaf_proof(lo, lo + k, n, hashes)
        th, hashes = _subtree_hash(lo + k, hi, hashes)
    else:
        th, hashes = _subtree_hash(lo, lo + k, hashes)
        p, hashes = _leaf_proof(lo + k, hi, n, hashes)
    p.append(th)
    return p, hashes


def _tree_proof_index(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    if not lo < n <= hi:
        raise AssertionError("_tree_proof_index: bad math")
    if n == hi:
        return need if lo == 0 else subtree_index(lo, hi, need)
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        _tree_proof_index(lo, lo + k, n, need)
        subtree_index(lo + k, hi, need)
    else:
        subtree_index(lo, lo + k, need)
        _tree_proof_index(lo + k, hi, n, need)
    return need


def _tree_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    if n == hi:
        if lo == 0:
            return [], hashes
        th, hashes = _subtree_hash(lo, hi, hashes)
        return [th], hashes
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        p, hashes = _tree_proof(lo, lo + k, n, hashes)
        th, hashes = _subtree_hash(lo + k, hi, hashes)
    else:
        th, hashes = _subtree_hash(lo, lo + k, hashes)
        p, hashes = _tree_proof(lo + k, hi, n, hashes)
    p.append(th)
    return p, hashes


def _check_read(hashes: Sequence[bytes], want: int, where: str) -> None:
    if len(hashes) != want or any(len(h) != HASH_SIZE for h in hashes):
        raise AssertionError(f"{where}: the hash reader returned the wrong number or size of hashes")


def _check_hashes(proof: Sequence[bytes], *hashes: bytes) -> None:
    for h in (*proof, *hashes):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise ProofError(f"a hash must be {HASH_SIZE} bytes")
