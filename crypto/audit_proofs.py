"""Check the ledger's proofs offline: only a proof, a signed checkpoint and a pinned key.

Usable without the server or the database (``crm audit verify-proof`` wraps it). An auditor
who holds an event can also recompute its hash with :func:`crypto.ledger.event_hash` and
compare it with the proof's ``event_hash``.

The key is the one the auditor trusts, obtained out of band; the ``public_key`` inside a
checkpoint is never used, or a checkpoint signed by anyone would pass. A missing or
malformed key, and hashes that are not 32 bytes, are errors (:class:`ValueError`), not a
quiet "does not verify": they mean the check was never made.
"""

from __future__ import annotations

from typing import Any

from crypto.ledger import SignedTreeHead
from crypto.merkle import leaf_hash, parse_hash, verify_consistency, verify_inclusion
from crypto.signing import PinnedKey


class MalformedProof(ValueError):
    """A proof or checkpoint document lacks a field, or holds one of the wrong shape."""


def _field(document: dict[str, Any], name: str, what: str) -> Any:
    if not isinstance(document, dict):
        raise MalformedProof(f"the {what} is not a JSON object")
    if name not in document:
        raise MalformedProof(f"the {what} has no {name!r}")
    return document[name]


def _size(document: dict[str, Any], name: str, what: str) -> int:
    value = _field(document, name, what)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedProof(f"the {what}'s {name!r} must be a whole number, at least 0")
    return value


def _hashes(document: dict[str, Any], name: str, what: str) -> list[bytes]:
    values = _field(document, name, what)
    if not isinstance(values, list):
        raise MalformedProof(f"the {what}'s {name!r} must be a list of hashes")
    return [parse_hash(v, f"the {what}'s {name}[{i}]") for i, v in enumerate(values)]


def _trusted(checkpoint: dict[str, Any], pinned: PinnedKey, what: str) -> SignedTreeHead | None:
    """The checkpoint when ``pinned`` signed it, else None; malformed fields are errors."""
    for name in ("root_hash", "chain_hash"):
        parse_hash(_field(checkpoint, name, what), f"the {what}'s {name}")
    _size(checkpoint, "size", what)
    for name in ("position", "timestamp", "signature"):
        _field(checkpoint, name, what)
    signed = SignedTreeHead.from_dict({"public_key": "", **checkpoint})
    return signed if signed.verify(pinned) else None


def check_inclusion_proof(
    proof: dict[str, Any], checkpoint: dict[str, Any], public_key: str
) -> bool:
    """True when the checkpoint is signed by ``public_key`` and the proof leads to its root."""
    pinned = PinnedKey.parse(public_key, "ledger public key")
    leaf = leaf_hash(parse_hash(_field(proof, "event_hash", "proof"), "the proof's event_hash"))
    index = _size(proof, "leaf_index", "proof")
    size = _size(proof, "tree_size", "proof")
    path = _hashes(proof, "audit_path", "proof")
    signed = _trusted(checkpoint, pinned, "checkpoint")
    if signed is None or signed.head.size != size:
        return False
    return verify_inclusion(leaf, index, size, path, bytes.fromhex(signed.head.root_hash))


def check_consistency_proof(
    proof: dict[str, Any],
    first_checkpoint: dict[str, Any],
    second_checkpoint: dict[str, Any],
    public_key: str,
) -> bool:
    """True when both checkpoints are signed by ``public_key`` and the second tree extends
    the first."""
    pinned = PinnedKey.parse(public_key, "ledger public key")
    path = _hashes(proof, "proof", "proof")
    first = _trusted(first_checkpoint, pinned, "first checkpoint")
    second = _trusted(second_checkpoint, pinned, "second checkpoint")
    if first is None or second is None:
        return False
    return verify_consistency(
        first.head.size,
        second.head.size,
        bytes.fromhex(first.head.root_hash),
        bytes.fromhex(second.head.root_hash),
        path,
    )
