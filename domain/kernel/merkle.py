"""Merkle tree hashing and proofs of RFC 9162 (Certificate Transparency 2.0) section 2.1, for the audit log.

Names and rules, each from RFC 9162 s 2.1:
- a leaf hash is SHA-256(0x00 || leaf data) and an interior node's hash SHA-256(0x01 || left || right)
  (s 2.1.1); the hash of the empty tree is SHA-256 of nothing;
- MTH(D[n]) for n > 1 splits at k, the largest power of two smaller than n: MTH(D[0:k]) then MTH(D[k:n])
  (s 2.1.1);
- an inclusion proof PATH(m, D[n]) (s 2.1.3.1) and its verification (s 2.1.3.2);
- a consistency proof PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (s 2.1.4.1) and its verification (s 2.1.4.2).

Hashes are 32-byte `bytes`; the functions here take the leaves' hashes (not their data) so a caller hashes each
leaf once. A `Frontier` is the compact range [0, n) of a tree: the roots of its perfect subtrees, largest first
(one per set bit of n, so at most 64 hashes): appending a leaf and the root of the whole tree need only it, which
is what the audit log's sequencer stores between batches. Functions raise ValueError for sizes or indexes out of
range and for hashes that are not 32 bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256() (RFC 9162 s 2.1.1)."""


def leaf_hash(data: bytes) -> bytes:
    """MTH({d0}) = SHA-256(0x00 || d0) (RFC 9162 s 2.1.1)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): an interior node (RFC 9162 s 2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """k, the largest power of two smaller than n (n >= 2) (RFC 9162 s 2.1.1)."""
    if n < 2:
        raise ValueError(f"a split needs at least 2 leaves, not {n}")
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH of the leaves' hashes (RFC 9162 s 2.1.1), iteratively through a Frontier (O(n), O(log n) memory)."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


def _subtree(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    return root(leaves[start:end]) if end > start else EMPTY_ROOT


@dataclass
class Frontier:
    """The compact range [0, size) of a tree: the roots of its perfect subtrees, largest (leftmost) first.

    `hashes[i]` covers the leaves [start_i, start_i + 2^h) where the 2^h are the set bits of `size` from the
    highest down. Raises ValueError when `hashes` does not match `size`'s set bits or a hash is not 32 bytes.
    """

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.size < 0 or self.size.bit_count() != len(self.hashes):
            raise ValueError(f"a frontier of {self.size} leaves has {self.size.bit_count()} subtree hashes, "
                             f"not {len(self.hashes)}")
        if any(len(h) != HASH_SIZE for h in self.hashes):
            raise ValueError("every subtree hash must be 32 bytes")

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash at position `size`, merging the equal-sized subtrees it completes."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash is 32 bytes, not {len(leaf)}")
        merged = leaf
        n = self.size
        while n & 1:  # each trailing 1 bit of the old size is a subtree of the new one's size: merge it
            merged = node_hash(self.hashes.pop(), merged)
            n >>= 1
        self.hashes.append(merged)
        self.size += 1

    def root(self) -> bytes:
        """MTH of the leaves so far: the subtrees folded right to left (the RFC's split is the highest set bit)."""
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            acc = node_hash(left, acc)
        return acc

    def ranges(self) -> list[tuple[int, int]]:
        """The [start, end) leaf range of each subtree hash, in order."""
        out, start = [], 0
        for bit in reversed(range(self.size.bit_length())):
            if self.size >> bit & 1:
                out.append((start, start + (1 << bit)))
                start += 1 << bit
        return out

    def copy(self) -> Frontier:
        """An independent copy (appending to it leaves this one unchanged)."""
        return Frontier(self.size, list(self.hashes))


def inclusion_proof(leaves: Sequence[bytes], m: int) -> list[bytes]:
    """PATH(m, D[n]) for the tree of `leaves` (n = len(leaves), 0 <= m < n) (RFC 9162 s 2.1.3.1)."""
    n = len(leaves)
    if not 0 <= m < n:
        raise ValueError(f"leaf index {m} is outside a tree of {n} leaves")
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return [*inclusion_proof(leaves[:k], m), _subtree(leaves, k, n)]
    return [*inclusion_proof(leaves[k:], m - k), _subtree(leaves, 0, k)]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """Whether `proof` shows the leaf hash `leaf` at `index` in the tree of `size` leaves with root `expected_root`
    (the algorithm of RFC 9162 s 2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def consistency_proof(leaves: Sequence[bytes], m: int) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) for the tree of `leaves` (n = len(leaves), 0 < m <= n)
    (RFC 9162 s 2.1.4.1)."""
    n = len(leaves)
    if not 0 < m <= n:
        raise ValueError(f"a consistency proof needs 0 < m <= n, not m={m}, n={n}")
    return _subproof(leaves, m, True)


def _subproof(leaves: Sequence[bytes], m: int, whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [root(leaves)]
    k = split(n)
    if m <= k:
        return [*_subproof(leaves[:k], m, whole), _subtree(leaves, k, n)]
    return [*_subproof(leaves[k:], m - k, False), _subtree(leaves, 0, k)]


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """Whether `proof` shows the tree of `second` leaves with root `second_root` extends the tree of `first` leaves
    with root `first_root` (the algorithm of RFC 9162 s 2.1.4.2; equal sizes need an empty proof and equal roots)."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: first_root is itself the proof's first node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
