"""RFC 9162 s 2.1 hashing, inclusion and consistency proofs (domain/kernel/merkle.py) against the RFC's own
definitions: a naive recursive MTH, PATH and SUBPROOF written here straight from the text, the worked example of
s 2.1.5 (a tree of 7 leaves), and every size 1..8 with every index and every older size."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.kernel import merkle


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(data: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 9162 s 2.1.1 defines it, on the leaves' data."""
    n = len(data)
    if n == 0:
        return h(b"")
    if n == 1:
        return h(b"\x00" + data[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return h(b"\x01" + mth(data[:k]) + mth(data[k:]))


def path(m: int, data: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 s 2.1.3.1."""
    n = len(data)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return path(m, data[:k]) + [mth(data[k:])]
    return path(m - k, data[k:]) + [mth(data[:k])]


def subproof(m: int, data: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 s 2.1.4.1."""
    n = len(data)
    if m == n:
        return [] if b else [mth(data)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return subproof(m, data[:k], b) + [mth(data[k:])]
    return subproof(m - k, data[k:], False) + [mth(data[:k])]


DATA = [f"entry {i}".encode() for i in range(8)]


def leaves(data: list[bytes]) -> list[bytes]:
    return [merkle.leaf_hash(d) for d in data]


def test_leaf_and_node_hashing_use_the_rfc_prefixes():
    assert merkle.leaf_hash(b"x") == h(b"\x00x")
    assert merkle.node_hash(b"a" * 32, b"b" * 32) == h(b"\x01" + b"a" * 32 + b"b" * 32)
    assert merkle.root([]) == h(b"") == merkle.EMPTY_ROOT
    assert [merkle.split(n) for n in (2, 3, 4, 5, 8, 9)] == [1, 2, 2, 4, 4, 8]
    with pytest.raises(ValueError):
        merkle.split(1)


@pytest.mark.parametrize("n", range(0, 9))
def test_root_and_frontier_match_the_recursive_definition(n):
    data = DATA[:n]
    assert merkle.root(leaves(data)) == mth(data)
    frontier = merkle.Frontier()
    for leaf in leaves(data):
        frontier.append(leaf)
    assert frontier.root() == mth(data)
    # each subtree hash is MTH of the range the frontier says it covers
    assert [mth(data[a:b]) for a, b in frontier.ranges()] == frontier.hashes
    assert len(frontier.hashes) == bin(n).count("1")


@pytest.mark.parametrize("n", range(1, 9))
def test_inclusion_proofs_for_every_leaf_of_trees_of_1_to_8(n):
    data, hashes = DATA[:n], leaves(DATA[:n])
    root = mth(data)
    for m in range(n):
        proof = merkle.inclusion_proof(hashes, m)
        assert proof == path(m, data)
        assert merkle.verify_inclusion(hashes[m], m, n, proof, root)
        # a wrong leaf, index, size, root or a cut proof fails
        other = merkle.leaf_hash(b"forged")
        assert not merkle.verify_inclusion(other, m, n, proof, root)
        assert not merkle.verify_inclusion(hashes[m], m, n, proof, h(b"other root"))
        if n > 1:
            assert not merkle.verify_inclusion(hashes[m], (m + 1) % n, n, proof, root)
            assert not merkle.verify_inclusion(hashes[m], m, n, proof[:-1], root)
        assert not merkle.verify_inclusion(hashes[m], m, 2 * n + 2, proof, root)  # a path too short for the size
        assert not merkle.verify_inclusion(hashes[m], n, n, proof, root)


@pytest.mark.parametrize("n", range(1, 9))
def test_consistency_proofs_between_every_pair_of_sizes_up_to_8(n):
    data, hashes = DATA[:n], leaves(DATA[:n])
    for m in range(1, n + 1):
        proof = merkle.consistency_proof(hashes, m)
        assert proof == subproof(m, data, True)
        assert merkle.verify_consistency(m, n, mth(data[:m]), mth(data), proof)
        # another older tree (one leaf changed) is not consistent with this one under the same proof
        changed = [*data[:m - 1], b"changed"]
        assert not merkle.verify_consistency(m, n, mth(changed), mth(data), proof)
        assert not merkle.verify_consistency(m, n, mth(data[:m]), h(b"other"), proof)
        if proof:
            assert not merkle.verify_consistency(m, n, mth(data[:m]), mth(data), proof[:-1])
    with pytest.raises(ValueError):
        merkle.consistency_proof(hashes, 0)


def test_the_worked_example_of_rfc_9162_section_2_1_5():
    """The tree of 7 leaves d0..d6 of s 2.1.5, nodes named as there: a..g over pairs and single leaves."""
    d = DATA[:7]
    a, b, c, dd, e, f, j = (merkle.leaf_hash(x) for x in d)
    g, h_, i = merkle.node_hash(a, b), merkle.node_hash(c, dd), merkle.node_hash(e, f)
    k, l_ = merkle.node_hash(g, h_), merkle.node_hash(i, j)
    root = merkle.node_hash(k, l_)
    assert root == mth(d)
    hashes = leaves(d)
    assert merkle.inclusion_proof(hashes, 0) == [b, h_, l_]  # "the audit path for d0 is [b, h, l]"
    assert merkle.inclusion_proof(hashes, 3) == [c, g, l_]  # "the audit path for d3 is [c, g, l]"
    assert merkle.inclusion_proof(hashes, 4) == [f, j, k]  # "the audit path for d4 is [f, j, k]"
    assert merkle.inclusion_proof(hashes, 6) == [i, k]  # "the audit path for d6 is [i, k]"
    assert merkle.consistency_proof(hashes, 3) == [c, dd, g, l_]  # "between hash0 and hash is PROOF(3, D[7]) = [c, d, g, l]"
    assert merkle.consistency_proof(hashes, 4) == [l_]  # "between hash1 and hash is PROOF(4, D[7]) = [l]"
    assert merkle.consistency_proof(hashes, 6) == [i, j, k]  # "between hash2 and hash is PROOF(6, D[7]) = [i, j, k]"


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=40), st.data())
def test_proofs_hold_for_any_tree(data, draw):
    n = len(data)
    m = draw.draw(st.integers(min_value=1, max_value=n))
    index = draw.draw(st.integers(min_value=0, max_value=n - 1))
    hashes = leaves(data)
    assert merkle.verify_consistency(m, n, mth(data[:m]), mth(data), merkle.consistency_proof(hashes, m))
    assert merkle.verify_inclusion(hashes[index], index, n, merkle.inclusion_proof(hashes, index), mth(data))


def test_a_frontier_rejects_hashes_that_do_not_match_its_size():
    with pytest.raises(ValueError, match="subtree hashes"):
        merkle.Frontier(3, [b"a" * 32])
    with pytest.raises(ValueError, match="32 bytes"):
        merkle.Frontier(1, [b"short"])
    with pytest.raises(ValueError, match="32 bytes"):
        merkle.Frontier().append(b"short")
