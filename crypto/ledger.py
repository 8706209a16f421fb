"""The audit ledger's primitives: how a stored event is hashed, chained and checkpointed.

Hashes cover the stored (sealed) bytes, so destroying a subject's key never changes them.
A checkpoint (a signed tree head, in Certificate Transparency's words) commits to the
first ``size`` entries through both the Merkle root and the last chain hash.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from uuid import UUID

import orjson

from crypto.signing import PinnedKey, Signer

GENESIS = bytes(32)


_EVENT_TAG = b"crm.ledger.event.v1"
_EVENT_HEAD = struct.Struct(">QQ16sI")  # position, version, originator id, topic length
_LENGTH = struct.Struct(">Q")


def event_hash(position: int, originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """SHA-256 over every stored column of one event, length-prefixed so nothing can shift.

    The bytes are the tag, then position and version (8 bytes each), the id's 16 bytes, the
    topic's length (4) and the topic, then the state's length (8) and the state: packed in
    one go, as verification hashes every event of the log.
    """
    topic_bytes = topic.encode()
    head = _EVENT_HEAD.pack(position, version, originator_id.bytes, len(topic_bytes))
    return hashlib.sha256(
        b"".join((_EVENT_TAG, head, topic_bytes, _LENGTH.pack(len(state)), state))
    ).digest()


def chain_hash(previous: bytes, entry: bytes) -> bytes:
    return hashlib.sha256(previous + entry).digest()


@dataclass(frozen=True)
class TreeHead:
    """What a checkpoint commits to. Hashes are hex; the timestamp is RFC 3339 UTC."""

    size: int
    root_hash: str
    chain_hash: str
    position: int
    timestamp: str

    def as_dict(self) -> dict[str, object]:
        """The fields by name (what ``dataclasses.asdict`` gives, without its deep copy:
        every write signs a head)."""
        return {
            "size": self.size,
            "root_hash": self.root_hash,
            "chain_hash": self.chain_hash,
            "position": self.position,
            "timestamp": self.timestamp,
        }

    def payload(self) -> bytes:
        return b"crm.ledger.tree-head.v1\n" + orjson.dumps(
            self.as_dict(), option=orjson.OPT_SORT_KEYS
        )

    def sign(self, signer: Signer) -> SignedTreeHead:
        return SignedTreeHead(self, signer.sign(self.payload()), signer.public_key)


@dataclass(frozen=True)
class SignedTreeHead:
    """A tree head with its signature and the key that made it (which proves nothing alone)."""

    head: TreeHead
    signature: str
    public_key: str

    def verify(self, pinned: PinnedKey) -> bool:
        """Check the signature under the key the verifier trusts. The ``public_key`` carried
        here is only a label: a head signed by anyone carries that signer's key."""
        return pinned.verifies(self.head.payload(), self.signature)

    def as_dict(self) -> dict[str, object]:
        return {**self.head.as_dict(), "signature": self.signature, "public_key": self.public_key}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> SignedTreeHead:
        head = TreeHead(
            size=int(str(data["size"])),
            root_hash=str(data["root_hash"]),
            chain_hash=str(data["chain_hash"]),
            position=int(str(data["position"])),
            timestamp=str(data["timestamp"]),
        )
        return cls(head, str(data["signature"]), str(data["public_key"]))
