"""Merkle trees as Certificate Transparency defines them (RFC 9162, section 2.1).

Leaves hash as ``SHA-256(0x00 || data)`` and nodes as ``SHA-256(0x01 || left || right)``, so
a leaf can never pass for a node. The split of a tree of ``n`` leaves is the largest power
of two below ``n``. This module is pure and small on purpose: an auditor can verify
inclusion and consistency proofs with it alone, without the server or the database.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_HEX_HASH = re.compile("[0-9a-fA-F]{64}")  # HASH_SIZE bytes, two hex digits each


class MalformedHash(ValueError):
    """A hash given to a verifier is not 64 hex characters (32 bytes of SHA-256)."""


def parse_hash(text: object, what: str) -> bytes:
    """The 32 bytes of a hex SHA-256 hash, or :class:`MalformedHash` naming ``what``.

    Verifiers refuse hashes of any other length rather than hash them into a root: a
    truncated or padded value is never a node of this tree, only a malformed input.
    """
    if not isinstance(text, str) or not _HEX_HASH.fullmatch(text):
        raise MalformedHash(f"{what} must be {2 * HASH_SIZE} hex characters (a SHA-256 hash)")
    return bytes.fromhex(text)


def _all_hashes(*values: bytes | Sequence[bytes]) -> bool:
    """Whether every value (or every member of a sequence) is exactly one hash long."""
    for value in values:
        items = [value] if isinstance(value, bytes) else list(value)
        if any(not isinstance(item, bytes) or len(item) != HASH_SIZE for item in items):
            return False
    return True


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))


class Frontier:
    """The right edge of a growing tree: O(log n) state, O(1) amortised appends.

    It holds the roots of the perfect subtrees that make up the tree so far (largest
    first); the MTH follows by folding them from the right.
    """

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        self.size = size
        self.nodes = list(nodes)

    def append(self, leaf: bytes) -> None:
        """Add a leaf, merging the perfect subtrees it completes (one per trailing zero bit
        of the new size: one on average, however large the tree)."""
        nodes = self.nodes
        self.size += 1
        size = self.size
        while not size & 1:
            leaf = node_hash(nodes.pop(), leaf)
            size >>= 1
        nodes.append(leaf)

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        acc = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            acc = node_hash(node, acc)
        return acc


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError("leaf index outside the tree")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(leaves[:k], index), root_of(leaves[k:])]
    return [*inclusion_proof(leaves[k:], index - k), root_of(leaves[:k])]


def consistency_proof(leaves: Sequence[bytes], first: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1."""
    if not 0 < first <= len(leaves):
        raise ValueError("first size must be within 1..second size")
    return _subproof(leaves, first, True)


def _subproof(leaves: Sequence[bytes], m: int, complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root_of(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(leaves[:k], m, complete), root_of(leaves[k:])]
    return [*_subproof(leaves[k:], m - k, False), root_of(leaves[:k])]


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: does ``path`` prove ``leaf`` at ``index`` in ``root``?
    Hashes that are not 32 bytes long never do."""
    if not 0 <= index < size or not _all_hashes(leaf, root, path):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree of size ``second`` an extension of ``first``?

    Equal sizes need equal roots and no proof; the empty tree (size 0, whose root is
    ``EMPTY_ROOT``) is consistent only with itself, since it proves nothing about a larger
    tree. Hashes that are not 32 bytes long are refused.
    """
    if not 0 <= first <= second or not _all_hashes(first_root, second_root, proof):
        return False
    if first == second:
        return not proof and first_root == second_root and (first > 0 or first_root == EMPTY_ROOT)
    if first == 0:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first tree is a subtree itself
        path.insert(0, first_root)
    if not path:
        return False
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
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
