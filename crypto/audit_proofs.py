"""Check the ledger's proofs offline: only a proof, a signed checkpoint and a pinned key.

Usable without the server or the database (``crm audit verify-proof`` wraps it). An auditor
who holds an event can also recompute its hash with :func:`crypto.ledger.event_hash` and
compare it with the proof's ``event_hash``.
"""

from __future__ import annotations

from typing import Any

from crypto.ledger import SignedTreeHead
from crypto.merkle import leaf_hash, verify_consistency, verify_inclusion


def _trusted(checkpoint: dict[str, Any], public_key: str) -> SignedTreeHead | None:
    signed = SignedTreeHead.from_dict(checkpoint)
    return signed if signed.verify(public_key) else None


def check_inclusion_proof(
    proof: dict[str, Any], checkpoint: dict[str, Any], public_key: str
) -> bool:
    """True when the checkpoint is signed by ``public_key`` and the proof leads to its root."""
    signed = _trusted(checkpoint, public_key)
    if signed is None or signed.head.size != int(proof["tree_size"]):
        return False
    return verify_inclusion(
        leaf_hash(bytes.fromhex(proof["event_hash"])),
        int(proof["leaf_index"]),
        signed.head.size,
        [bytes.fromhex(h) for h in proof["audit_path"]],
        bytes.fromhex(signed.head.root_hash),
    )


def check_consistency_proof(
    proof: dict[str, Any],
    first_checkpoint: dict[str, Any],
    second_checkpoint: dict[str, Any],
    public_key: str,
) -> bool:
    """True when both checkpoints are signed and the second tree extends the first."""
    first = _trusted(first_checkpoint, public_key)
    second = _trusted(second_checkpoint, public_key)
    if first is None or second is None:
        return False
    return verify_consistency(
        first.head.size,
        second.head.size,
        bytes.fromhex(first.head.root_hash),
        bytes.fromhex(second.head.root_hash),
        [bytes.fromhex(h) for h in proof["proof"]],
    )
