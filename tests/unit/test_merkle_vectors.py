"""The Merkle code against transparency-dev/merkle's vectors (tests/vectors/, Apache-2.0).

Their probes are good proofs and every way of spoiling them (bit flips, wrong sizes,
swapped roots, garbage before or after, wrong-length hashes); our verifiers must accept
exactly the good ones, both the bare functions and the signed-checkpoint checks auditors
run. The reference tree pins our hashing, roots, frontier and proof generation.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from crypto.audit_proofs import check_consistency_proof
from crypto.ledger import TreeHead
from crypto.merkle import (
    EMPTY_ROOT,
    Frontier,
    MalformedHash,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from crypto.signing import Signer

VECTORS = Path(__file__).parent.parent / "vectors" / "transparency-dev-merkle"
SIGNER = Signer(b"\x11" * 32)

#: Probes where this verifier answers otherwise on purpose, and why.
DEVIATIONS = {
    "testdata/consistency/additional/sizes-are-equal-one-and-proof-is-empty.json": (
        "its roots are 12 bytes of text; every hash here must be 32 bytes"
    ),
}


def _load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


def _probes(kind: str) -> list[dict[str, Any]]:
    probes: list[dict[str, Any]] = _load(f"{kind}.json")["probes"]
    return probes


def _bytes(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _expected(probe: dict[str, Any]) -> bool:
    accepted = not probe["wantErr"]
    return not accepted if probe["file"] in DEVIATIONS else accepted


REFERENCE = _load("reference.json")
INPUTS = [bytes.fromhex(h) for h in REFERENCE["leaf_inputs"]]
LEAVES = [leaf_hash(data) for data in INPUTS]


@pytest.mark.parametrize("probe", _probes("inclusion"), ids=lambda p: p["file"])
def test_inclusion_probes_are_accepted_exactly_when_upstream_accepts(
    probe: dict[str, Any],
) -> None:
    accepted = verify_inclusion(
        _bytes(probe["leafHash"]),
        probe["leafIdx"],
        probe["treeSize"],
        [_bytes(h) for h in probe["proof"] or []],
        _bytes(probe["root"]),
    )
    assert accepted is _expected(probe), probe["desc"]


@pytest.mark.parametrize("probe", _probes("consistency"), ids=lambda p: p["file"])
def test_consistency_probes_are_accepted_exactly_when_upstream_accepts(
    probe: dict[str, Any],
) -> None:
    accepted = verify_consistency(
        probe["size1"],
        probe["size2"],
        _bytes(probe["root1"]),
        _bytes(probe["root2"]),
        [_bytes(h) for h in probe["proof"] or []],
    )
    assert accepted is _expected(probe), probe["desc"]


def _signed_checkpoint(size: int, root: bytes) -> dict[str, Any]:
    head = TreeHead(size, root.hex(), "00" * 32, size, "2026-01-01T00:00:00+00:00")
    return head.sign(SIGNER).as_dict()


def _checked_offline(probe: dict[str, Any]) -> bool:
    """The probe as an auditor meets it: two checkpoints signed by the pinned key, the
    proof as JSON hex. A hash of the wrong length is an error, so never an acceptance."""
    roots = [_bytes(probe["root1"]), _bytes(probe["root2"])]
    try:
        return check_consistency_proof(
            {"proof": [_bytes(h).hex() for h in probe["proof"] or []]},
            _signed_checkpoint(probe["size1"], roots[0]),
            _signed_checkpoint(probe["size2"], roots[1]),
            SIGNER.public_key,
        )
    except MalformedHash:
        return False


@pytest.mark.parametrize("probe", _probes("consistency"), ids=lambda p: p["file"])
def test_consistency_probes_checked_against_signed_checkpoints(probe: dict[str, Any]) -> None:
    assert _checked_offline(probe) is _expected(probe), probe["desc"]


def test_the_deviations_are_still_upstream_probes() -> None:
    files = {p["file"] for kind in ("inclusion", "consistency") for p in _probes(kind)}
    assert set(DEVIATIONS) <= files


def test_the_empty_tree_has_the_empty_root_and_is_consistent_with_itself() -> None:
    probe = REFERENCE["empty_tree_consistency"]
    root = _bytes(probe["root1"])
    assert root == EMPTY_ROOT == bytes.fromhex(REFERENCE["root_hashes"][0]) == root_of([])
    assert verify_consistency(0, 0, root, _bytes(probe["root2"]), probe["proof"])
    assert _checked_offline({**probe, "size1": 0, "size2": 0})
    assert not verify_consistency(0, 1, root, LEAVES[0], [])  # it proves nothing beyond


def test_the_rfc6962_hasher_vectors() -> None:
    hasher = REFERENCE["hasher"]
    assert EMPTY_ROOT.hex() == hasher["empty_root"]
    assert leaf_hash(b"").hex() == hasher["empty_leaf"]
    assert leaf_hash(hasher["leaf"]["input"].encode()).hex() == hasher["leaf"]["hash"]
    node = hasher["node"]
    assert node_hash(node["left"].encode(), node["right"].encode()).hex() == node["hash"]


@pytest.mark.parametrize("size", range(9))
def test_reference_roots_and_frontiers_of_every_size(size: int) -> None:
    frontier = Frontier()
    for leaf in LEAVES[:size]:
        frontier.append(leaf)
    nodes = REFERENCE["node_hashes"]
    compact = [nodes[level][index] for level, index in REFERENCE["compact_trees"][size]]
    assert root_of(LEAVES[:size]).hex() == REFERENCE["root_hashes"][size]
    assert frontier.root().hex() == REFERENCE["root_hashes"][size]
    assert [n.hex() for n in frontier.nodes] == compact


def _reference_root(size: int) -> bytes:
    return bytes.fromhex(REFERENCE["root_hashes"][size])


def _happy(kind: str) -> list[dict[str, Any]]:
    return [p for p in _probes(kind) if not p["wantErr"] and p["file"].endswith("happy-path.json")]


@pytest.mark.parametrize("probe", _happy("inclusion"), ids=lambda p: p["file"])
def test_our_inclusion_proofs_are_upstreams(probe: dict[str, Any]) -> None:
    size = probe["treeSize"]
    assert _bytes(probe["root"]) == _reference_root(size)
    path = inclusion_proof(LEAVES[:size], probe["leafIdx"])
    assert path == [_bytes(h) for h in probe["proof"] or []]


@pytest.mark.parametrize("probe", _happy("consistency"), ids=lambda p: p["file"])
def test_our_consistency_proofs_are_upstreams(probe: dict[str, Any]) -> None:
    first, second = probe["size1"], probe["size2"]
    assert _bytes(probe["root2"]) == _reference_root(second)
    proof = consistency_proof(LEAVES[:second], first)
    assert proof == [_bytes(h) for h in probe["proof"] or []]
