"""The public keys auditors and privacy officers pin: no token, nothing secret.

The same keys ``crm keys public`` prints (the ledger's and the erasure certificates'
Ed25519 public keys), each with a fingerprint to compare with the one handed over out of
band. Fetching a key from the service being checked proves only that the service agrees
with itself; the fingerprint is what makes the out-of-band comparison short enough to do.
"""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import ServiceDep
from api.routing import OneHopRoute
from crypto.signing import public_key_fingerprint

router = APIRouter(prefix="/v1", tags=["keys"], route_class=OneHopRoute)

ALGORITHM = "Ed25519"


class PublicKeyOut(BaseModel):
    algorithm: str = Field(description="always Ed25519")
    public_key: str = Field(description="base64 of the raw 32-byte public key")
    fingerprint: str = Field(
        description="SHA-256 of the raw 32 key bytes, 64 lower-case hex characters",
        pattern=r"^[0-9a-f]{64}$",
    )


class PublicKeysOut(BaseModel):
    ledger: PublicKeyOut = Field(description="signs the ledger's tree heads and checkpoints")
    certificates: PublicKeyOut = Field(
        description="signs erasure certificates and portability packages"
    )


def published(public_key: str) -> PublicKeyOut:
    return PublicKeyOut(
        algorithm=ALGORITHM, public_key=public_key, fingerprint=public_key_fingerprint(public_key)
    )


@router.get("/keys", response_model=PublicKeysOut)
def public_keys(response: Response, service: ServiceDep) -> PublicKeysOut:
    """The ledger and certificate public keys with their fingerprints (no authentication).

    The ETag is a tag of the pair of fingerprints: it changes only when a key does (a
    certificate key adopted after a loss)."""
    keys = PublicKeysOut(
        ledger=published(service.ledger_signer.public_key),
        certificates=published(service.signer.public_key),
    )
    pair = f"{keys.ledger.fingerprint}:{keys.certificates.fingerprint}".encode()
    response.headers["ETag"] = f'"{hashlib.sha256(pair).hexdigest()[:16]}"'
    return keys
