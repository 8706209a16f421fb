"""Signed erasure certificates: proof that a subject's key was destroyed, checkable offline."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson

from crypto.signing import PinnedKey, Signer


@dataclass(frozen=True)
class ErasureCertificate:
    """What was destroyed, when, by whom, why, and where the erasure sits in the log."""

    erasure_id: str
    tenant_id: str
    subject_id: str
    key_id: str
    destroyed_at: str
    erased_by: str
    request_id: str | None
    ledger_position: int

    def payload(self) -> bytes:
        """The exact bytes signed: canonical JSON with sorted keys, prefixed with its purpose."""
        return b"crm.erasure-certificate.v1\n" + orjson.dumps(
            asdict(self), option=orjson.OPT_SORT_KEYS
        )

    def signed(self, signer: Signer) -> dict[str, Any]:
        return {
            **asdict(self),
            "id": self.erasure_id,
            "signature": signer.sign(self.payload()),
            "public_key": signer.public_key,
            "algorithm": "Ed25519",
        }


def verify_certificate(document: dict[str, Any], public_key: str) -> bool:
    """Check a certificate as served by the API under ``public_key``, the certificate key the
    verifier trusts (base64). The key the document carries is never used: anyone can sign a
    certificate of their own making with a key of their own."""
    pinned = PinnedKey.parse(public_key, "certificate public key")
    request_id = document.get("request_id")
    certificate = ErasureCertificate(
        erasure_id=str(document.get("erasure_id")),
        tenant_id=str(document.get("tenant_id")),
        subject_id=str(document.get("subject_id")),
        key_id=str(document.get("key_id")),
        destroyed_at=str(document.get("destroyed_at")),
        erased_by=str(document.get("erased_by")),
        request_id=None if request_id is None else str(request_id),
        ledger_position=int(document.get("ledger_position", -1)),
    )
    return pinned.verifies(certificate.payload(), str(document["signature"]))
