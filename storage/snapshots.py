"""Snapshots of long streams, trusted only while they are bound to the ledger.

A snapshot (the library's: an aggregate's state at one version) lets a contact with 10,000
events load in the time of one with 10: the repository starts from it and replays only
the events after it. A snapshot is not an event: it lives in its own table, outside the
ledger, is written after the command that made it due has committed, and is never needed,
since the full replay gives the same aggregate. So it must never change what a read or a
command sees. Each one is stored signed with the ledger's key, over its bytes and the
chain hash of the ledger entry of the event at its version; it is used only when, in the
same read that fetches it, that entry still has that chain hash and the stored event
still hashes to the entry's event hash. Anything else (a changed byte, a moved version,
an event or entry rewritten, another signing key) is logged, counted in ``rejected``, and
the aggregate is replayed from its first event instead; ``verify`` never reads snapshots.

A snapshot holds what the events hold: sealed tokens, each with the version of the event
that sealed it, so they still open where they belong and nowhere else, and are as
unreadable as the events once the subject's key is destroyed.
"""

from __future__ import annotations

import base64
import logging
import struct
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import (
    AggregateRecorder,
    EventStore,
    Mapper,
    Recording,
    StoredEvent,
)

from crypto.ledger import event_hash
from crypto.signing import PinnedKey, Signer
from storage.recorders import LedgerRecorder

log = logging.getLogger("crm.snapshots")
SIGNATURE_BYTES = 64  # Ed25519, stored raw before the snapshot's own bytes
_DOMAIN = b"crm.snapshot.v1"


class SnapshotUnbound(LookupError):
    """The event a snapshot would summarise has no ledger entry (it is not stored)."""


def snapshot_payload(
    originator_id: UUID, version: int, topic: str, state: bytes, chain_hash: bytes
) -> bytes:
    """What a snapshot's signature covers, length-prefixed so nothing can shift: which
    aggregate, which version, its bytes, and the ledger's chain hash at that event."""
    topic_bytes = topic.encode()
    return (
        _DOMAIN
        + struct.pack(">Q", version)
        + originator_id.bytes
        + struct.pack(">I", len(topic_bytes))
        + topic_bytes
        + struct.pack(">Q", len(state))
        + state
        + chain_hash
    )


def due(versions: Sequence[int], every: int) -> bool:
    """Whether a commit of events at ``versions`` reached a multiple of ``every``."""
    return every > 0 and any(v % every == 0 for v in versions)


class BoundSnapshotStore(EventStore[UUID]):
    """The repository's snapshot store: signs what it stores, and returns only snapshots
    whose signature and ledger binding still hold (anything else reads as no snapshot).

    ``kinds`` and ``every``: which aggregates are snapshotted, every how many events.
    """

    def __init__(
        self,
        mapper: Mapper[UUID],
        recorder: AggregateRecorder,
        ledger: LedgerRecorder,
        signer: Signer,
        kinds: tuple[type[Aggregate], ...],
        every: int,
    ) -> None:
        super().__init__(mapper, recorder)
        self.ledger = ledger
        self.signer = signer
        self.key = PinnedKey.parse(signer.public_key, "ledger public key")
        self.kinds = kinds
        self.every = every
        self.table: str = getattr(recorder, "events_table_name", "stored_snapshots")
        self.taken = 0
        self.rejected = 0

    def take_due(self, aggregates: Sequence[Aggregate], events: Sequence[Any]) -> None:
        """After a commit: snapshot each aggregate of ``kinds`` whose new ``events`` reached
        a multiple of ``every``. It never fails the command, which is stored already: a
        snapshot not taken only makes the next loads replay more."""
        for aggregate in aggregates:
            versions = [e.originator_version for e in events if e.originator_id == aggregate.id]
            if isinstance(aggregate, self.kinds) and due(versions, self.every):
                try:
                    self.put([type(aggregate).Snapshot.take(aggregate)])
                except Exception as exc:  # the database or the signer: the command stands
                    log.warning(
                        "snapshot not taken",
                        extra={
                            "aggregate_id": str(aggregate.id),
                            "version": aggregate.version,
                            "error_type": type(exc).__name__,
                        },
                    )

    def put(
        self, domain_events: Sequence[DomainEventProtocol[UUID]], **kwargs: Any
    ) -> list[Recording[UUID]]:
        """Store snapshots, each signed over its bytes and its event's chain hash."""
        signed = [self._signed(self.mapper.to_stored_event(s)) for s in domain_events]
        self.recorder.insert_events(signed, **kwargs)
        self.taken += len(signed)
        return []

    def get(
        self,
        originator_id: UUID,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Iterator[DomainEventProtocol[UUID]]:
        """Snapshots of ``originator_id`` as the library's store selects them, each fetched
        with its ledger binding in one read, and only those whose binding holds."""
        for row in self._select(originator_id, gt, lte, desc, limit):
            body = self._trusted(originator_id, row)
            if body is not None:
                stored = StoredEvent(originator_id, int(row["version"]), row["topic"], body)
                yield self.mapper.to_domain_event(stored)

    def _signed(self, stored: StoredEvent) -> StoredEvent:
        originator_id = UUID(str(stored.originator_id))
        chain = self._chain_hash(originator_id, stored.originator_version)
        state = bytes(stored.state)
        payload = snapshot_payload(
            originator_id, stored.originator_version, stored.topic, state, chain
        )
        signature = base64.b64decode(self.signer.sign(payload))
        return StoredEvent(
            stored.originator_id, stored.originator_version, stored.topic, signature + state
        )

    def _chain_hash(self, originator_id: UUID, version: int) -> bytes:
        """The chain hash of the ledger entry of the stored event at ``version``."""
        rows = self.ledger.query(
            f"SELECT l.chain_hash FROM {self.ledger.events_table} e"
            f" JOIN ledger_entries l ON l.position = e.{self.ledger.position_column}"
            " WHERE e.originator_id = :id AND e.originator_version = :version",
            {"id": self.ledger._stored_id(originator_id), "version": version},
        )
        if not rows:
            raise SnapshotUnbound("no ledger entry for the event a snapshot would summarise")
        return bytes.fromhex(rows[0]["chain_hash"])

    def _select(
        self, originator_id: UUID, gt: int | None, lte: int | None, desc: bool, limit: int | None
    ) -> list[dict[str, Any]]:
        """Snapshot rows, each with its event and that event's ledger entry (NULL if gone)."""
        params: dict[str, Any] = {"id": self.ledger._stored_id(originator_id)}
        where = "s.originator_id = :id"
        for name, operator, value in (("gt", ">", gt), ("lte", "<=", lte)):
            if value is not None:
                where += f" AND s.originator_version {operator} :{name}"
                params[name] = value
        tail = f" ORDER BY s.originator_version {'DESC' if desc else 'ASC'}"
        if limit is not None:
            tail += " LIMIT :limit"
            params["limit"] = limit
        position = f"e.{self.ledger.position_column}"
        return self.ledger.query(
            "SELECT s.originator_version AS version, s.topic AS topic, s.state AS state,"
            f" {position} AS position, e.topic AS event_topic, e.state AS event_state,"
            f" l.event_hash AS event_hash, l.chain_hash AS chain_hash FROM {self.table} s"
            f" LEFT JOIN {self.ledger.events_table} e ON e.originator_id = s.originator_id"
            " AND e.originator_version = s.originator_version"
            f" LEFT JOIN ledger_entries l ON l.position = {position}"
            f" WHERE {where}{tail}",
            params,
        )

    def _trusted(self, originator_id: UUID, row: dict[str, Any]) -> bytes | None:
        """The snapshot's own bytes if its binding holds; otherwise ``None``, logged and
        counted, so the repository replays the aggregate from its first event."""
        reason = self._broken_binding(originator_id, row)
        if reason is None:
            return bytes(row["state"])[SIGNATURE_BYTES:]
        self.rejected += 1
        log.warning(
            "snapshot ignored, replaying from the first event",
            extra={
                "aggregate_id": str(originator_id),
                "version": int(row["version"]),
                "reason": reason,
            },
        )
        return None

    def _broken_binding(self, originator_id: UUID, row: dict[str, Any]) -> str | None:
        """Why the snapshot in ``row`` cannot be trusted, or ``None`` when it can."""
        version = int(row["version"])
        if row["chain_hash"] is None:
            return "no stored event with a ledger entry at its version"
        stored_hash = event_hash(
            int(row["position"]),
            originator_id,
            version,
            str(row["event_topic"]),
            bytes(row["event_state"]),
        )
        if stored_hash.hex() != row["event_hash"]:
            return "the event at its version does not match its ledger entry"
        state = bytes(row["state"])
        signature, body = state[:SIGNATURE_BYTES], state[SIGNATURE_BYTES:]
        try:
            chain = bytes.fromhex(str(row["chain_hash"]))
        except ValueError:
            return "its ledger entry's chain hash is not hex"
        payload = snapshot_payload(originator_id, version, str(row["topic"]), body, chain)
        if not self.key.verifies(payload, base64.b64encode(signature).decode()):
            return "its signature does not match its bytes and ledger entry"
        return None
