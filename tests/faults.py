"""Stand-ins for parts that fail the way real ones do, for fault-injection tests."""

from __future__ import annotations

from crypto.signing import Signer


class TimingOutSigner(Signer):
    """A KMS-backed signer whose service stops answering: every signature times out."""

    def __init__(self, real: Signer) -> None:
        self._real = real

    @property
    def public_key(self) -> str:
        return self._real.public_key

    def sign(self, payload: bytes) -> str:
        raise TimeoutError("the KMS did not answer in time")
