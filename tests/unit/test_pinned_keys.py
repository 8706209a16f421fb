"""Signatures verify only under a key the verifier pinned, never the key a document carries.

A checkpoint or certificate carries its signer's public key; anyone can sign with a key of
their own, so trusting that key proves nothing. These are the offline checks auditors run.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.audit_proofs import MalformedProof, check_consistency_proof, check_inclusion_proof
from crypto.certificates import ErasureCertificate, verify_certificate
from crypto.ledger import TreeHead
from crypto.merkle import MalformedHash, consistency_proof, inclusion_proof, leaf_hash, root_of
from crypto.signing import KeyNotPinned, MalformedPublicKey, PinnedKey, Signer

LEDGER = Signer(b"\x01" * 32)
IMPOSTOR = Signer(b"\x02" * 32)


def event_hashes(n: int) -> list[bytes]:
    return [bytes([i % 256]) * 32 for i in range(n)]


def checkpoint(hashes: list[bytes], signer: Signer = LEDGER) -> dict[str, Any]:
    leaves = [leaf_hash(h) for h in hashes]
    head = TreeHead(len(hashes), root_of(leaves).hex(), "ab" * 32, len(hashes), "2026-01-01")
    return head.sign(signer).as_dict()


def inclusion(hashes: list[bytes], index: int) -> dict[str, Any]:
    leaves = [leaf_hash(h) for h in hashes]
    return {
        "event_hash": hashes[index].hex(),
        "leaf_index": index,
        "tree_size": len(hashes),
        "audit_path": [h.hex() for h in inclusion_proof(leaves, index)],
    }


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (None, KeyNotPinned),
        ("", KeyNotPinned),
        ("   ", KeyNotPinned),
        ("not base64!", MalformedPublicKey),
        (base64.b64encode(b"\x01" * 16).decode(), MalformedPublicKey),
        (base64.b64encode(b"\x01" * 33).decode(), MalformedPublicKey),
    ],
)
def test_a_missing_or_malformed_key_is_an_error_not_a_verdict(
    text: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        PinnedKey.parse(text)
    proof, signed = inclusion(event_hashes(3), 1), checkpoint(event_hashes(3))
    with pytest.raises(error):
        check_inclusion_proof(proof, signed, text)  # type: ignore[arg-type]


def test_a_checkpoint_signed_by_anyone_else_does_not_verify_under_the_pinned_key() -> None:
    hashes = event_hashes(5)
    forged = checkpoint(hashes, IMPOSTOR)  # carries the impostor's own public key
    assert forged["public_key"] == IMPOSTOR.public_key
    assert not check_inclusion_proof(inclusion(hashes, 2), forged, LEDGER.public_key)
    assert check_inclusion_proof(inclusion(hashes, 2), checkpoint(hashes), LEDGER.public_key)
    good = checkpoint(hashes[:2])
    proof = {"proof": [h.hex() for h in consistency_proof([leaf_hash(h) for h in hashes], 2)]}
    assert not check_consistency_proof(proof, good, forged, LEDGER.public_key)
    assert check_consistency_proof(proof, good, checkpoint(hashes), LEDGER.public_key)


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"event_hash": "ab" * 31}, "event_hash"),
        ({"event_hash": "zz" * 32}, "event_hash"),
        ({"audit_path": ["cd" * 33]}, "audit_path[0]"),
        ({"audit_path": "cd" * 32}, "audit_path"),
        ({"leaf_index": "1"}, "leaf_index"),
    ],
)
def test_proof_fields_of_the_wrong_shape_are_refused(change: dict[str, Any], names: str) -> None:
    hashes = event_hashes(4)
    proof = {**inclusion(hashes, 1), **change}
    with pytest.raises((MalformedHash, MalformedProof), match=names.replace("[", r"\[")):
        check_inclusion_proof(proof, checkpoint(hashes), LEDGER.public_key)


def test_a_checkpoint_root_of_the_wrong_length_is_refused() -> None:
    hashes = event_hashes(4)
    short = {**checkpoint(hashes), "root_hash": "ab" * 16}
    with pytest.raises(MalformedHash, match="root_hash"):
        check_inclusion_proof(inclusion(hashes, 0), short, LEDGER.public_key)


@given(st.integers(min_value=1, max_value=40), st.data())
def test_offline_checks_accept_real_proofs_under_the_pinned_key(n: int, data: Any) -> None:
    hashes = event_hashes(n)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    first = data.draw(st.integers(min_value=1, max_value=n))
    assert check_inclusion_proof(inclusion(hashes, index), checkpoint(hashes), LEDGER.public_key)
    proof = {"proof": [h.hex() for h in consistency_proof([leaf_hash(h) for h in hashes], first)]}
    assert check_consistency_proof(
        proof, checkpoint(hashes[:first]), checkpoint(hashes), LEDGER.public_key
    )


def certificate(signer: Signer) -> dict[str, Any]:
    return ErasureCertificate(
        erasure_id="e1",
        tenant_id="t1",
        subject_id="s1",
        key_id="k1",
        destroyed_at="2026-01-01T00:00:00+00:00",
        erased_by="po",
        request_id=None,
        ledger_position=7,
    ).signed(signer)


def test_a_certificate_verifies_only_under_the_pinned_key() -> None:
    assert verify_certificate(certificate(LEDGER), LEDGER.public_key)
    forged = certificate(IMPOSTOR)
    assert not verify_certificate(forged, LEDGER.public_key)
    with pytest.raises(KeyNotPinned):
        verify_certificate(forged, "")
    with pytest.raises(MalformedPublicKey):
        verify_certificate(forged, "AAAA")


def test_a_tree_head_signs_every_one_of_its_fields() -> None:
    head = TreeHead(7, "cd" * 32, "ab" * 32, 9, "2026-01-01T00:00:00+00:00")
    assert head.as_dict() == dataclasses.asdict(head)
    assert orjson.loads(head.payload().split(b"\n", 1)[1]) == dataclasses.asdict(head)
