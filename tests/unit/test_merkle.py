"""RFC 9162 Merkle trees: roots, proofs and their verification, for every small shape."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from crypto.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_known_shapes() -> None:
    a, b, c = leaves(3)
    assert root_of([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert root_of([a]) == a
    assert root_of([a, b, c]) == node_hash(node_hash(a, b), c)
    assert leaf_hash(b"x") != node_hash(b"", b"x"[:0] + b"x")  # domain separation


@given(st.integers(min_value=0, max_value=70))
def test_frontier_matches_the_recursive_root(n: int) -> None:
    frontier = Frontier()
    for leaf in leaves(n):
        frontier.append(leaf)
    assert frontier.root() == root_of(leaves(n))
    assert len(frontier.nodes) == bin(n).count("1")


@given(st.integers(min_value=1, max_value=70), st.data())
def test_inclusion_proofs_verify_and_wrong_ones_do_not(n: int, data: st.DataObject) -> None:
    tree = leaves(n)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    root = root_of(tree)
    path = inclusion_proof(tree, index)
    assert verify_inclusion(tree[index], index, n, path, root)
    assert not verify_inclusion(leaf_hash(b"forged"), index, n, path, root)
    if n > 1:
        assert not verify_inclusion(tree[index], (index + 1) % n, n, path, root)


@given(st.integers(min_value=1, max_value=70), st.data())
def test_consistency_proofs_verify_and_forks_do_not(n: int, data: st.DataObject) -> None:
    tree = leaves(n)
    m = data.draw(st.integers(min_value=1, max_value=n))
    proof = consistency_proof(tree, m)
    assert verify_consistency(m, n, root_of(tree[:m]), root_of(tree), proof)
    forked = [*tree[: m - 1], leaf_hash(b"rewritten history"), *tree[m:]]
    assert not verify_consistency(m, n, root_of(forked[:m]), root_of(tree), proof)
    if m < n:
        assert not verify_consistency(m, n, root_of(tree[:m]), root_of(forked[: n - 1]), proof)
